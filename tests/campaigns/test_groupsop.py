"""Group SOP on a fixed clock: occurrences become unique runs, each acted on once whatever the
number of ticks or schedulers; missed runs follow SOP_MISSED_GRACE_HOURS; quiet hours hold runs.

Every tick is given its ``now`` explicitly. 2030-03-10 is a Sunday, 2030-03-11 a Monday.
"""

from __future__ import annotations

import threading
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection

from campaigns.models import Broadcast, GroupSopRule, GroupSopRun, StaffTask
from campaigns.services.groupsop import group_sop_occurrences, group_sop_rule_save, group_sop_tick
from groups.models import GroupChat
from tests.factories import GroupChatFactory, StaffFactory

TZ = ZoneInfo("Asia/Shanghai")
SUNDAY = datetime(2030, 3, 10, 0, 0, tzinfo=TZ)
MONDAY_10 = datetime(2030, 3, 11, 10, 0, tzinfo=TZ)


@pytest.fixture
def owners(db):
    """Three owners of five groups (2 + 2 + 1), and a group of a fourth owner nobody chose."""
    owners = [StaffFactory(userid=f"owner{i}") for i in range(3)]
    groups = [GroupChatFactory(owner=owners[i], name=f"G{n}") for n, i in enumerate((0, 0, 1, 1, 2))]
    GroupChatFactory(name="Not chosen")
    return owners, groups


def make_rule(groups, *, since=SUNDAY, **fields) -> GroupSopRule:
    fields = {"name": "Monday post", "weekdays": [0], "time_of_day": time(10), "text": "本周新品", **fields}
    rule = group_sop_rule_save(rule=GroupSopRule(**fields), groups=groups)
    # The rule counts occurrences from its save; on this fixed clock it was saved on Sunday.
    GroupSopRule.objects.filter(pk=rule.pk).update(active_since=since)
    rule.refresh_from_db()
    return rule


def ticks(start: datetime, end: datetime, every: timedelta):
    moment = start
    while moment <= end:
        yield moment
        moment += every


def tasks_by_owner(rule) -> dict[str, int]:
    counts: dict[str, int] = {}
    for task in StaffTask.objects.filter(source_key__startswith="gsop:").select_related("staff"):
        counts[task.staff.userid] = counts.get(task.staff.userid, 0) + 1
    return counts


def test_weekly_post_makes_one_task_per_owner_per_week_across_many_ticks(owners):
    staff, groups = owners
    rule = make_rule(groups)
    # Every minute, twice (a second scheduler), from Sunday 00:00 to Tuesday 00:00…
    for now in ticks(SUNDAY, SUNDAY + timedelta(days=2), timedelta(minutes=1)):
        group_sop_tick(now=now)
        group_sop_tick(now=now)
    assert tasks_by_owner(rule) == {"owner0": 1, "owner1": 1, "owner2": 1}
    # …then every seven minutes to the next Tuesday.
    for now in ticks(SUNDAY + timedelta(days=2), SUNDAY + timedelta(days=9), timedelta(minutes=7)):
        group_sop_tick(now=now)
    assert tasks_by_owner(rule) == {"owner0": 2, "owner1": 2, "owner2": 2}

    runs = list(GroupSopRun.objects.filter(rule=rule).order_by("scheduled_for"))
    assert [(r.scheduled_for, r.status, r.groups_count, r.tasks_count) for r in runs] == [
        (MONDAY_10, "done", 5, 3),
        (MONDAY_10 + timedelta(days=7), "done", 5, 3),
    ]
    first = StaffTask.objects.filter(source_key=f"gsop:{runs[0].pk}:{staff[0].pk}").get()
    assert (first.kind, first.title, first.due_at, first.status) == (
        "group_sop",
        "Monday post",
        MONDAY_10,
        "open",
    )
    # Two groups: listed in the content, no single group on the task; one group: the task names it.
    assert first.group_id is None
    assert [g["name"] for g in first.content["groups"]] == ["G0", "G1"]
    assert first.content["text"] == "本周新品"
    single = StaffTask.objects.get(source_key=f"gsop:{runs[0].pk}:{staff[2].pk}")
    assert single.group == groups[4]


def test_nothing_before_monday_ten_and_nothing_for_times_before_the_rule_existed(owners):
    _, groups = owners
    rule = make_rule(groups, since=MONDAY_10 + timedelta(minutes=1))
    for now in ticks(MONDAY_10 - timedelta(minutes=5), MONDAY_10 + timedelta(hours=2), timedelta(minutes=1)):
        group_sop_tick(now=now)
    assert not GroupSopRun.objects.filter(rule=rule).exists()
    assert not StaffTask.objects.exists()


def test_dismissed_groups_and_departed_owners_get_nothing(owners):
    staff, groups = owners
    rule = make_rule(groups)
    GroupChat.objects.filter(pk=groups[4].pk).update(status=GroupChat.Status.DISMISSED)
    staff[1].status, staff[1].departed_at = "departed", MONDAY_10 - timedelta(days=1)
    staff[1].save()
    group_sop_tick(now=MONDAY_10)
    assert tasks_by_owner(rule) == {"owner0": 1}
    assert GroupSopRun.objects.get().groups_count == 2


@pytest.mark.parametrize(
    ("down_for", "status", "tasks"),
    [(timedelta(hours=2), "done", 3), (timedelta(hours=10), "skipped", 0)],
)
def test_missed_occurrence_runs_within_the_grace_window_else_skipped_with_reason(
    owners, settings, down_for, status, tasks
):
    settings.SOP_MISSED_GRACE_HOURS = 6
    _, groups = owners
    rule = make_rule(groups)
    group_sop_tick(now=MONDAY_10 - timedelta(minutes=1))  # the last tick before the outage
    group_sop_tick(now=MONDAY_10 + down_for)  # the scheduler is back
    run = GroupSopRun.objects.get(rule=rule)
    assert (run.status, StaffTask.objects.count()) == (status, tasks)
    if status == "skipped":
        assert "10.0 h" in run.reason and "SOP_MISSED_GRACE_HOURS" in run.reason
    # Later ticks change nothing.
    group_sop_tick(now=MONDAY_10 + down_for + timedelta(minutes=1))
    assert StaffTask.objects.count() == tasks


def test_cron_rule_on_weekdays_at_half_past_nine(owners):
    _, groups = owners
    rule = make_rule(groups, schedule_kind="cron", cron="30 9 * * 1-5", weekdays=[], time_of_day=None)
    for now in ticks(SUNDAY, SUNDAY + timedelta(days=7), timedelta(minutes=15)):
        group_sop_tick(now=now)
    runs = GroupSopRun.objects.filter(rule=rule).order_by("scheduled_for")
    assert [timezone_local(r.scheduled_for) for r in runs] == [
        datetime(2030, 3, day, 9, 30) for day in range(11, 16)
    ]
    assert tasks_by_owner(rule) == {"owner0": 5, "owner1": 5, "owner2": 5}


def timezone_local(moment: datetime) -> datetime:
    return moment.astimezone(TZ).replace(tzinfo=None)


def test_occurrences_of_weekly_and_cron_schedules():
    rule = GroupSopRule(weekdays=[0, 3], time_of_day=time(10, 15), time_zone="Asia/Shanghai")
    found = group_sop_occurrences(rule=rule, after=SUNDAY, until=SUNDAY + timedelta(days=7))
    assert [timezone_local(m) for m in found] == [
        datetime(2030, 3, 11, 10, 15),
        datetime(2030, 3, 14, 10, 15),
    ]
    rule = GroupSopRule(schedule_kind="cron", cron="0 8,20 1 * *", time_zone="Asia/Shanghai")
    found = group_sop_occurrences(rule=rule, after=SUNDAY, until=SUNDAY + timedelta(days=40))
    assert [timezone_local(m) for m in found] == [datetime(2030, 4, 1, 8), datetime(2030, 4, 1, 20)]


def test_a_run_due_in_quiet_hours_waits_for_their_end(owners, settings):
    settings.OUTREACH_QUIET_HOURS = "21:30-08:00"
    _, groups = owners
    rule = make_rule(groups, weekdays=[6], time_of_day=time(22))  # Sunday 22:00
    at_22 = SUNDAY + timedelta(hours=22)
    group_sop_tick(now=at_22)
    run = GroupSopRun.objects.get(rule=rule)
    assert (run.status, run.due_at) == ("pending", MONDAY_10 - timedelta(hours=2))
    assert not StaffTask.objects.exists()
    group_sop_tick(now=MONDAY_10 - timedelta(hours=2))
    assert StaffTask.objects.count() == 3
    assert set(StaffTask.objects.values_list("due_at", flat=True)) == {MONDAY_10 - timedelta(hours=2)}


def test_broadcast_action_creates_one_broadcast_per_run(owners):
    _, groups = owners
    rule = make_rule(groups, action="broadcast")
    for now in ticks(
        MONDAY_10 - timedelta(minutes=2), MONDAY_10 + timedelta(minutes=5), timedelta(minutes=1)
    ):
        group_sop_tick(now=now)
        group_sop_tick(now=now)
    run = GroupSopRun.objects.get(rule=rule)
    broadcast = Broadcast.objects.get()
    assert (run.status, run.broadcast_id) == ("done", broadcast.pk)
    assert (broadcast.kind, broadcast.origin, broadcast.origin_key) == ("groups", "sop", f"gsop:{run.pk}")
    assert sorted(broadcast.rules["groups"]) == sorted(g.pk for g in groups)
    assert broadcast.text == "本周新品"
    assert not StaffTask.objects.exists()


def test_inactive_rules_do_nothing(owners):
    _, groups = owners
    rule = make_rule(groups)
    GroupSopRule.objects.filter(pk=rule.pk).update(active=False)
    group_sop_tick(now=MONDAY_10)
    assert not GroupSopRun.objects.exists()


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"weekdays": []}, "weekdays"),
        ({"weekdays": [7]}, "weekdays"),
        ({"time_of_day": None}, "time_of_day"),
        ({"schedule_kind": "cron", "cron": "61 10 * * 1"}, "cron"),
        ({"schedule_kind": "cron", "cron": "0 10 * *"}, "cron"),
        ({"time_zone": "Mars/Olympus"}, "time_zone"),
        ({"text": ""}, "text"),
        ({"text": "字" * 1400}, "text"),
    ],
)
def test_rule_save_refuses_bad_schedules_and_content(owners, fields, field):
    _, groups = owners
    values = {"name": "x", "weekdays": [0], "time_of_day": time(10), "text": "hi", **fields}
    with pytest.raises(ValidationError) as error:
        group_sop_rule_save(rule=GroupSopRule(**values), groups=groups, attachments=[])
    assert field in error.value.message_dict
    assert not GroupSopRule.objects.exists()


def test_rule_save_needs_a_target(db):
    with pytest.raises(ValidationError) as error:
        group_sop_rule_save(rule=GroupSopRule(name="x", weekdays=[0], time_of_day=time(10), text="hi"))
    assert "groups" in error.value.message_dict
    assert not GroupSopRule.objects.exists()


def test_targets_by_owner_tag_and_store(owners):
    staff, groups = owners
    from groups.models import GroupTag

    tag = GroupTag.objects.create(name="VIP")
    tagged = GroupChatFactory(name="Tagged")
    tagged.tags.add(tag)
    store_group = GroupChatFactory(name="Store")
    store = store_group.owner.main_department
    GroupChat.objects.filter(pk=store_group.pk).update(store=store)
    rule = group_sop_rule_save(
        rule=GroupSopRule(name="t", weekdays=[0], time_of_day=time(10), text="hi"),
        owners=[staff[2]],
        group_tags=[tag],
        stores=[store],
    )
    GroupSopRule.objects.filter(pk=rule.pk).update(active_since=SUNDAY)
    group_sop_tick(now=MONDAY_10)
    names = sorted(g["name"] for t in StaffTask.objects.all() for g in t.content["groups"])
    assert names == ["G4", "Store", "Tagged"]


@pytest.mark.django_db(transaction=True)
def test_two_schedulers_at_once_make_one_task_per_owner(owners):
    if connection.vendor != "postgresql":
        pytest.skip("row locks with SKIP LOCKED need PostgreSQL")
    _, groups = owners
    rule = make_rule(groups)
    moments = list(
        ticks(MONDAY_10 - timedelta(minutes=3), MONDAY_10 + timedelta(minutes=3), timedelta(minutes=1))
    )
    errors: list[BaseException] = []
    barrier = threading.Barrier(2)

    def scheduler():
        try:
            for now in moments:
                barrier.wait(timeout=30)
                group_sop_tick(now=now)
        except BaseException as error:  # surfaced in the main thread
            errors.append(error)
        finally:
            connection.close()

    threads = [threading.Thread(target=scheduler) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not errors, errors
    assert GroupSopRun.objects.filter(rule=rule).count() == 1
    assert tasks_by_owner(rule) == {"owner0": 1, "owner1": 1, "owner2": 1}


def test_the_beat_schedules_exist_after_migrate_and_are_left_alone(db):
    from django_celery_beat.models import PeriodicTask

    from campaigns.services.groupsop import TICK_TASK_NAME, group_sop_schedule_ensure
    from campaigns.services.stafftasks import NOTICE_TASK_NAME, staff_tasks_notice_schedule_ensure

    tick = PeriodicTask.objects.get(name=TICK_TASK_NAME)
    assert (tick.task, tick.interval.every, tick.queue) == (
        "campaigns.tasks.groupsop.group_sop_tick_run",
        60,
        "default",
    )
    notice = PeriodicTask.objects.get(name=NOTICE_TASK_NAME)
    assert notice.task == "campaigns.tasks.stafftasks.staff_tasks_notify_run"
    # What an administrator changed stays as they left it.
    PeriodicTask.objects.filter(name=TICK_TASK_NAME).update(enabled=False)
    assert group_sop_schedule_ensure() is False and staff_tasks_notice_schedule_ensure() is False
    assert PeriodicTask.objects.get(name=TICK_TASK_NAME).enabled is False
