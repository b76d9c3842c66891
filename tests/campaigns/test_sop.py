"""Customer SOPs on a fixed clock: triggers, due times, the run, missed occurrences, quiet hours,
exits and re-enrolment. Every service is given ``now``; nothing here reads the wall clock."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError

from campaigns.handlers.sop import sop_contact_added
from campaigns.models import (
    Broadcast,
    Channel,
    LiveCode,
    SopCursor,
    SopEnrolment,
    SopOccurrence,
    SopRule,
    SopStep,
    StaffTask,
)
from campaigns.services.sop import (
    SopEntrant,
    sop_enrol,
    sop_exits_run,
    sop_occurrences_run,
    sop_rule_save,
    sop_schedule_ensure,
    sop_segments_run,
    sop_tagged_enrol,
    sop_tick,
)
from customers.models import Follow, FollowTag, Segment
from customers.services import customer_tag_ids_refresh, customers_tag
from scrm.wecom.events import CallbackEvent
from tests.factories import CustomerFactory, FollowFactory, FollowTagFactory, StaffFactory, TagFactory

pytestmark = pytest.mark.django_db

SH = ZoneInfo("Asia/Shanghai")


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """A moment of November 2026 in Shanghai."""
    return datetime(2026, 11, day, hour, minute, tzinfo=SH)


def step(*, day=None, at_time=None, hours=None, action=SopStep.Action.STAFF_TASK, text="Hello"):
    return (SopStep(day=day, at_time=at_time, hours=hours, action=action, text=text), [])


WELCOME_SERIES = [
    lambda: step(day=0, at_time=time(10), text="Welcome! Here is our catalogue."),
    lambda: step(day=1, at_time=time(10), text="Did you find something you like?"),
    lambda: step(day=3, at_time=time(10), text="A coupon for your first order."),
]


@pytest.fixture
def live_code(db):
    return LiveCode.objects.create(
        name="Spring fair", channel=Channel.objects.create(state="fair", name="Fair")
    )


def welcome_rule(live_code, **fields) -> SopRule:
    fields.setdefault("name", "Welcome series")
    return sop_rule_save(
        rule=SopRule(trigger=SopRule.Trigger.LIVE_CODE, live_code=live_code, **fields),
        steps=[make() for make in WELCOME_SERIES],
    )


def add_event(follow: Follow, when: datetime, state: str = "fair") -> CallbackEvent:
    return CallbackEvent(
        event="change_external_contact",
        change_type="add_external_contact",
        create_time=int(when.timestamp()),
        user_id=follow.staff.userid,
        external_user_id=follow.customer.external_userid,
        state=state,
    )


def tasks_at(now: datetime) -> list[tuple[datetime, str]]:
    sop_occurrences_run(now=now)
    return [(t.due_at.astimezone(SH), t.content["text"]) for t in StaffTask.objects.order_by("due_at")]


def test_a_welcome_series_enrols_live_code_adds_and_creates_tasks_at_their_times(live_code):
    rule = welcome_rule(live_code)
    follow = FollowFactory(state="fair", added_at=at(23, 9, 30))
    sop_contact_added(add_event(follow, at(23, 9, 30)))
    sop_contact_added(add_event(follow, at(23, 9, 30)))  # WeCom's retry of the same callback

    enrolment = SopEnrolment.objects.get()
    assert (enrolment.rule, enrolment.customer, enrolment.staff) == (rule, follow.customer, follow.staff)
    assert enrolment.anchor_at == at(23, 9, 30)
    due = sorted(SopOccurrence.objects.values_list("due_at", flat=True))
    assert due == [at(23, 10), at(24, 10), at(26, 10)]

    assert tasks_at(at(23, 9, 59)) == []
    assert tasks_at(at(23, 10)) == [(at(23, 10), "Welcome! Here is our catalogue.")]
    assert len(tasks_at(at(24, 9, 59))) == 1
    assert len(tasks_at(at(24, 10, 1))) == 2
    assert len(tasks_at(at(25, 18))) == 2
    assert tasks_at(at(26, 10))[-1] == (at(26, 10), "A coupon for your first order.")
    assert len(tasks_at(at(26, 10))) == 3  # a rerun creates nothing

    task = StaffTask.objects.get(due_at=at(23, 10))
    occurrence = SopOccurrence.objects.get(due_at=at(23, 10))
    assert task.staff == follow.staff and task.customer == follow.customer
    assert task.kind == StaffTask.Kind.CUSTOMER_SOP and task.source_key == f"sop:{occurrence.pk}"
    assert task.content == {"text": "Welcome! Here is our catalogue.", "attachments": [], "material_ids": []}
    assert set(SopOccurrence.objects.values_list("status", flat=True)) == {"done"}
    enrolment.refresh_from_db()
    assert enrolment.status == SopEnrolment.Status.COMPLETED and enrolment.exited_at == at(26, 10)


def test_adds_through_other_states_and_inactive_rules_enrol_no_one(live_code):
    welcome_rule(live_code, active=False)
    follow = FollowFactory(state="fair")
    sop_contact_added(add_event(follow, at(23, 9, 30)))
    other = FollowFactory(state="poster")
    sop_contact_added(add_event(other, at(23, 9, 30), state="poster"))
    assert not SopEnrolment.objects.exists()


def test_a_channel_rule_enrols_by_the_follows_state(db):
    channel = Channel.objects.create(state="poster_1", name="Poster")
    sop_rule_save(
        rule=SopRule(name="Poster", trigger=SopRule.Trigger.CHANNEL, channel=channel), steps=[step(hours=2)]
    )
    follow = FollowFactory(state="poster_1")
    sop_contact_added(add_event(follow, at(23, 11), state=""))  # no State: the follow's is used
    assert SopOccurrence.objects.get().due_at == at(23, 13)


def test_day_zero_at_a_time_already_past_runs_at_the_enrolment(live_code):
    """Added at 15:00: the 10:00 step of day 0 is due at once, not skipped and not tomorrow."""
    welcome_rule(live_code)
    follow = FollowFactory(state="fair")
    sop_contact_added(add_event(follow, at(23, 15)))
    due = sorted(SopOccurrence.objects.values_list("due_at", flat=True))
    assert due == [at(23, 15), at(24, 10), at(26, 10)]
    assert len(tasks_at(at(23, 15, 1))) == 1


def test_hours_after_count_from_the_anchor_and_quiet_hours_push_them(settings, live_code):
    settings.OUTREACH_QUIET_HOURS = "21:30-08:00"
    sop_rule_save(
        rule=SopRule(name="Follow-up", trigger=SopRule.Trigger.LIVE_CODE, live_code=live_code),
        steps=[step(hours=1), step(hours=26)],
    )
    follow = FollowFactory(state="fair")
    sop_contact_added(add_event(follow, at(23, 21)))
    due = sorted(SopOccurrence.objects.values_list("due_at", flat=True))
    # 22:00 is inside the quiet hours: 08:00 the next morning; 26 h after is 23:00 the next day.
    assert due == [at(24, 8), at(25, 8)]


def test_the_time_zone_is_the_rules(live_code):
    welcome_rule(live_code, time_zone="Europe/Paris")
    follow = FollowFactory(state="fair")
    sop_contact_added(add_event(follow, at(23, 9, 30)))  # 02:30 in Paris
    paris = ZoneInfo("Europe/Paris")
    due = sorted(SopOccurrence.objects.values_list("due_at", flat=True))
    assert due[1] == datetime(2026, 11, 24, 10, tzinfo=paris)


def test_occurrences_found_in_the_quiet_hours_wait_for_their_end(settings, live_code):
    settings.OUTREACH_QUIET_HOURS = "21:30-08:00"
    welcome_rule(live_code)
    follow = FollowFactory(state="fair")
    sop_contact_added(add_event(follow, at(23, 9, 30)))
    result = sop_occurrences_run(now=at(23, 23))  # the beat was down from 10:00 to 23:00 (13 h)
    assert result.skipped == 1  # 13 h late: missed
    settings.OUTREACH_QUIET_HOURS = "21:30-08:00"
    SopOccurrence.objects.filter(due_at=at(24, 10)).update(due_at=at(23, 21, 40))
    result = sop_occurrences_run(now=at(23, 23))
    assert (result.done, result.postponed) == (0, 1)
    assert SopOccurrence.objects.filter(due_at=at(24, 8), status="pending").exists()
    assert not StaffTask.objects.exists()
    assert sop_occurrences_run(now=at(24, 8)).done == 1


def test_missed_occurrences_beyond_the_grace_are_skipped_with_the_reason(settings, live_code):
    settings.SOP_MISSED_GRACE_HOURS = 6
    welcome_rule(live_code)
    follow = FollowFactory(state="fair")
    sop_contact_added(add_event(follow, at(23, 9, 30)))
    # Down from before 10:00 on the 23rd until 17:00 on the 24th: day 0 is 31 h late, day 1 7 h.
    result = sop_occurrences_run(now=at(24, 17))
    assert (result.done, result.skipped) == (0, 2)
    reasons = dict(SopOccurrence.objects.filter(status="skipped").values_list("due_at", "skipped_reason"))
    assert reasons == {at(23, 10): "missed: 31 h late", at(24, 10): "missed: 7 h late"}
    # Late by less than the grace: run.
    assert sop_occurrences_run(now=at(26, 15, 59)).done == 1
    assert StaffTask.objects.get().due_at == at(26, 10)


def test_broadcast_steps_group_their_customers_into_one_broadcast(live_code):
    rule = sop_rule_save(
        rule=SopRule(name="Offer", trigger=SopRule.Trigger.LIVE_CODE, live_code=live_code),
        steps=[step(day=1, at_time=time(11), action=SopStep.Action.BROADCAST, text="Our offer")],
    )
    follows = [FollowFactory(state="fair") for _ in range(3)]
    for follow in follows:
        sop_contact_added(add_event(follow, at(23, 9, 30)))
    result = sop_occurrences_run(now=at(24, 11))
    assert (result.done, result.broadcasts, result.tasks) == (3, 1, 0)
    broadcast = Broadcast.objects.get()
    assert (broadcast.origin, broadcast.kind, broadcast.text) == ("sop", "customers", "Our offer")
    assert broadcast.origin_key.startswith(f"sop:{rule.steps.get().pk}:202611240300:")
    assert sorted(broadcast.customer_ids) == sorted(f.customer_id for f in follows)
    assert sop_occurrences_run(now=at(24, 11)).broadcasts == 0
    assert Broadcast.objects.count() == 1


def test_exit_when_the_follow_is_deleted_cancels_the_open_tasks(live_code):
    welcome_rule(live_code)
    follow = FollowFactory(state="fair")
    sop_contact_added(add_event(follow, at(23, 9, 30)))
    sop_occurrences_run(now=at(23, 10))
    assert StaffTask.objects.get().status == StaffTask.Status.OPEN

    Follow.objects.filter(pk=follow.pk).update(
        status=Follow.Status.DELETED_BY_CUSTOMER, status_changed_at=at(23, 12)
    )
    assert sop_exits_run(now=at(23, 12, 1)) == 1
    enrolment = SopEnrolment.objects.get()
    assert (enrolment.status, enrolment.exit_reason, enrolment.exited_at) == (
        "exited",
        "follow deleted",
        at(23, 12, 1),
    )
    skipped = SopOccurrence.objects.filter(status="skipped")
    assert (
        set(skipped.values_list("skipped_reason", flat=True)) == {"follow deleted"} and skipped.count() == 2
    )
    assert StaffTask.objects.get().status == StaffTask.Status.CANCELED
    assert sop_occurrences_run(now=at(27, 10)).done == 0
    assert sop_exits_run(now=at(27, 10)) == 0


def test_exit_on_the_goal_tag_and_on_a_removed_tag(live_code):
    goal, kept = TagFactory(name="Bought"), TagFactory(name="Interested")
    welcome_rule(live_code, goal_tag=goal, exit_tag_removed=kept)
    reaches, drops, stays = (FollowFactory(state="fair") for _ in range(3))
    for follow in (reaches, drops, stays):
        FollowTagFactory(follow=follow, tag=kept)
        sop_contact_added(add_event(follow, at(23, 9, 30)))
    assert sop_exits_run(now=at(23, 9, 31)) == 0

    FollowTagFactory(follow=reaches, tag=goal)
    FollowTag.objects.filter(follow=drops, tag=kept).delete()
    customer_tag_ids_refresh([reaches.customer_id, drops.customer_id])
    assert sop_exits_run(now=at(23, 11)) == 2
    reasons = dict(SopEnrolment.objects.values_list("customer_id", "exit_reason"))
    assert reasons == {
        reaches.customer_id: "goal tag reached",
        drops.customer_id: "tag removed",
        stays.customer_id: "",
    }


def test_one_enrolment_per_customer_unless_re_enrolment_is_allowed(live_code):
    once = welcome_rule(live_code, name="Once")
    again = welcome_rule(live_code, name="Again", allow_reenrol=True)
    staff = StaffFactory()
    customer = CustomerFactory()
    entrant = SopEntrant(customer.pk, staff.pk, at(23, 9))
    for rule in (once, again):
        assert sop_enrol(rule=rule, entrants=[entrant], now=at(23, 9)) == 1
        assert sop_enrol(rule=rule, entrants=[entrant], now=at(23, 9)) == 0  # active: no second

    SopEnrolment.objects.update(status=SopEnrolment.Status.EXITED, exited_at=at(23, 12))
    later = SopEntrant(customer.pk, staff.pk, at(30, 9))
    assert sop_enrol(rule=once, entrants=[later], now=at(30, 9)) == 0
    assert sop_enrol(rule=again, entrants=[later], now=at(30, 9)) == 1
    assert sop_enrol(rule=again, entrants=[later], now=at(30, 9)) == 0
    assert list(again.enrolments.order_by("sequence").values_list("sequence", "status")) == [
        (1, "exited"),
        (2, "active"),
    ]
    assert again.enrolments.get(sequence=2).occurrences.count() == 3
    assert SopOccurrence.objects.count() == 9


def test_the_tagged_trigger_reads_the_timeline_once(db):
    gold = TagFactory(name="Gold")
    rule = sop_rule_save(
        rule=SopRule(name="Gold care", trigger=SopRule.Trigger.TAGGED, trigger_tag=gold),
        steps=[step(hours=0), step(day=2, at_time=time(9))],
    )
    before = FollowFactory()
    customers_tag(customer_ids=[before.customer_id], tags=[gold])  # before the engine ran
    assert sop_tagged_enrol(now=at(23, 9)) == 0
    assert SopCursor.objects.get().position > 0

    follow = FollowFactory()
    customers_tag(customer_ids=[follow.customer_id], tags=[gold, TagFactory()])
    customers_tag(customer_ids=[FollowFactory().customer_id], tags=[TagFactory()])  # another tag
    assert sop_tagged_enrol(now=at(23, 10)) == 1
    assert sop_tagged_enrol(now=at(23, 10)) == 0
    enrolment = SopEnrolment.objects.get()
    assert (enrolment.rule, enrolment.customer_id, enrolment.staff_id) == (
        rule,
        follow.customer_id,
        follow.staff_id,
    )
    assert enrolment.occurrences.count() == 2


def test_the_segment_trigger_enrols_new_matches_periodically(settings, db):
    settings.SOP_SEGMENT_EVERY_MINUTES = 15
    gold = TagFactory(name="Gold")
    segment = Segment.objects.create(name="Gold", rules={"tags_any": [gold.pk]})
    sop_rule_save(
        rule=SopRule(name="Gold care", trigger=SopRule.Trigger.SEGMENT, segment=segment),
        steps=[step(day=1, at_time=time(10))],
    )
    first = FollowFactory()
    FollowTagFactory(follow=first, tag=gold)
    FollowFactory()  # not in the segment
    customer_tag_ids_refresh(Follow.objects.values_list("customer_id", flat=True))

    assert sop_segments_run(now=at(23, 9)) == 1
    enrolment = SopEnrolment.objects.get()
    assert (enrolment.customer_id, enrolment.staff_id, enrolment.anchor_at) == (
        first.customer_id,
        first.staff_id,
        at(23, 9),
    )
    assert enrolment.occurrences.get().due_at == at(24, 10)

    second = FollowFactory()
    FollowTagFactory(follow=second, tag=gold)
    customer_tag_ids_refresh([second.customer_id])
    assert sop_segments_run(now=at(23, 9, 10)) == 0  # evaluated 10 minutes ago
    assert sop_segments_run(now=at(23, 9, 15)) == 1
    assert sop_segments_run(now=at(23, 9, 30)) == 0
    assert SopEnrolment.objects.count() == 2 and SopOccurrence.objects.count() == 2


def test_the_tick_does_everything_and_twice_is_harmless(live_code):
    welcome_rule(live_code)
    follow = FollowFactory(state="fair")
    sop_contact_added(add_event(follow, at(23, 9, 30)))
    first = sop_tick(now=at(23, 10))
    second = sop_tick(now=at(23, 10))
    assert (first.run.done, second.run.done) == (1, 0)
    assert StaffTask.objects.count() == 1


def test_a_rule_is_validated(live_code):
    tag = TagFactory()
    cases = [
        (SopRule(name="x", trigger=SopRule.Trigger.LIVE_CODE), [], "live_code"),
        (
            SopRule(name="x", trigger=SopRule.Trigger.TAGGED, trigger_tag=tag, live_code=live_code),
            [],
            "live_code",
        ),
        (
            SopRule(name="x", trigger=SopRule.Trigger.LIVE_CODE, live_code=live_code, time_zone="Mars/Base"),
            [],
            "time_zone",
        ),
        (
            SopRule(
                name="x",
                trigger=SopRule.Trigger.SEGMENT,
                segment=Segment.objects.create(name="s"),
                allow_reenrol=True,
            ),
            [],
            "allow_reenrol",
        ),
        (SopRule(name="x", trigger=SopRule.Trigger.LIVE_CODE, live_code=live_code), [step(day=1)], "steps"),
        (
            SopRule(name="x", trigger=SopRule.Trigger.LIVE_CODE, live_code=live_code),
            [step(day=1, at_time=time(9), hours=3)],
            "steps",
        ),
        (
            SopRule(name="x", trigger=SopRule.Trigger.LIVE_CODE, live_code=live_code),
            [step(hours=3, text=" ")],
            "steps",
        ),
    ]
    for rule, steps, field in cases:
        with pytest.raises(ValidationError) as error:
            sop_rule_save(rule=rule, steps=steps)
        assert field in error.value.message_dict, (field, error.value.message_dict)
    assert not SopRule.objects.exists()
    with pytest.raises(ValidationError, match="Step 1"):
        sop_rule_save(
            rule=SopRule(name="x", trigger="live_code", live_code=live_code), steps=[step(hours=None)]
        )


def test_the_tick_schedule_is_created_once_and_never_overwritten(db):
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.filter(name="campaigns.sop_tick").delete()
    assert sop_schedule_ensure() is True
    task = PeriodicTask.objects.get(name="campaigns.sop_tick")
    assert (task.task, task.interval.every, task.queue) == (
        "campaigns.tasks.sop.sop_tick_task",
        60,
        "default",
    )
    PeriodicTask.objects.filter(pk=task.pk).update(enabled=False)
    mine = PeriodicTask.objects.create(
        name="My own SOP run", task="campaigns.tasks.sop.sop_tick_task", interval=task.interval
    )
    assert sop_schedule_ensure() is False
    assert PeriodicTask.objects.get(pk=task.pk).enabled is False
    assert PeriodicTask.objects.filter(pk=mine.pk).exists()


def test_the_tick_task_runs_the_engine_on_the_wall_clock(live_code):
    from campaigns.tasks.sop import sop_tick_task

    welcome_rule(live_code)
    follow = FollowFactory(state="fair")
    sop_enrol(
        rule=SopRule.objects.get(),
        entrants=[SopEntrant(follow.customer_id, follow.staff_id, at(1, 9))],
        now=at(1, 9),
    )
    result = sop_tick_task()  # weeks after every step: all missed
    assert (result["done"], result["skipped"]) == (0, 3)
