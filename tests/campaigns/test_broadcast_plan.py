"""Broadcast planning: the audience into recipient rows with their sender or why they are left out.

The sender rule, every suppression reason (the receive cap under each of WeCom's four rules,
opted-out customers, deleted follows, departed staff, dismissed groups, groups without an active
owner), idempotent planning, the preview agreeing with the rows, the schedule (due, quiet hours,
missed) and the SOP entry point. Planning runs inside the test's transaction: the dispatch,
started after commit, is not run here (it has its own tests).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.models import Broadcast, BroadcastRecipient
from campaigns.services.broadcasts import (
    broadcast_create,
    broadcast_due,
    broadcast_launch,
    broadcast_plan,
    broadcast_preview,
    broadcast_save,
)
from campaigns.services.contact_policy import WECOM_TZ, receive_capped_targets, receive_window
from customers.models import Follow, Segment
from groups.models import GroupChat, GroupTag
from scrm.org.models import Staff
from tests.factories import CustomerFactory, FollowFactory, GroupChatFactory, StaffFactory

pytestmark = pytest.mark.django_db

Status = BroadcastRecipient.Status
Reason = BroadcastRecipient.Reason
# A Tuesday afternoon in Shanghai, outside the default quiet hours (21:30-08:00).
NOON = datetime(2026, 3, 10, 14, 0, tzinfo=WECOM_TZ)


def rows(broadcast) -> dict[str, tuple]:
    return {
        r.target: (r.status, r.reason, r.sender_id)
        for r in BroadcastRecipient.objects.filter(broadcast=broadcast)
    }


def planning(broadcast: Broadcast) -> Broadcast:
    Broadcast.objects.filter(pk=broadcast.pk).update(status=Broadcast.Status.PLANNING)
    return broadcast


def customers_broadcast(customer_ids, **fields) -> Broadcast:
    fields = {"name": "Spring sale", "text": "Hello", **fields}
    broadcast = Broadcast(customer_ids=list(customer_ids), **fields)
    return broadcast_save(broadcast=broadcast)


def handed(target: str, at: datetime, *, status=Status.SENT) -> BroadcastRecipient:
    """A row of an earlier broadcast that reached ``target`` at ``at``."""
    earlier = Broadcast.objects.create(name="earlier", status=Broadcast.Status.SENT)
    return BroadcastRecipient.objects.create(broadcast=earlier, target=target, status=status, handed_at=at)


# --- the receive window -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("rule", "start", "end", "cap"),
    [
        ("month_days", datetime(2026, 3, 1), datetime(2026, 4, 1), 31),
        ("month_4", datetime(2026, 3, 1), datetime(2026, 4, 1), 4),
        ("week_7", datetime(2026, 3, 9), datetime(2026, 3, 16), 7),
        ("day_1", datetime(2026, 3, 10), datetime(2026, 3, 11), 1),
    ],
)
def test_receive_window_is_the_natural_period_in_china(rule, start, end, cap):
    window = receive_window(moment=NOON, rule=rule)
    assert (window.start, window.end, window.cap) == (
        start.replace(tzinfo=WECOM_TZ),
        end.replace(tzinfo=WECOM_TZ),
        cap,
    )
    # 23:30 UTC on 2026-03-31 is already April 1st in Shanghai.
    late = receive_window(moment=datetime(2026, 3, 31, 23, 30, tzinfo=UTC), rule="month_days")
    assert late.start == datetime(2026, 4, 1, tzinfo=WECOM_TZ) and late.cap == 30


def test_receive_window_agrees_with_the_sandbox():
    from scrm.sandbox.outreach import receive_window as sandbox_window

    for rule in ("month_days", "week_7", "day_1", "month_4"):
        for moment in (
            NOON,
            datetime(2026, 2, 28, 23, 59, tzinfo=WECOM_TZ),
            datetime(2026, 1, 4, tzinfo=WECOM_TZ),
        ):
            ours = receive_window(moment=moment, rule=rule)
            start, cap = sandbox_window(rule, int(moment.timestamp()))
            assert (int(ours.start.timestamp()), ours.cap) == (start, cap)


# --- customers ---------------------------------------------------------------------------------------


def test_sender_is_the_most_recent_active_follow_by_an_active_staff_member(company, settings):
    settings.OUTREACH_QUIET_HOURS = ""
    customer = company.ca1  # followed by sa since the fixture
    newer = StaffFactory(userid="newer")
    newest_departed = StaffFactory(userid="gone", status=Staff.Status.DEPARTED, departed_at=timezone.now())
    FollowFactory(customer=customer, staff=newer, added_at=timezone.now() + timedelta(days=1))
    FollowFactory(customer=customer, staff=newest_departed, added_at=timezone.now() + timedelta(days=2))
    deleted = StaffFactory(userid="deleted")
    FollowFactory(
        customer=customer,
        staff=deleted,
        added_at=timezone.now() + timedelta(days=3),
        status=Follow.Status.DELETED_BY_CUSTOMER,
        status_changed_at=timezone.now(),
    )

    broadcast = planning(customers_broadcast([customer.id]))
    broadcast_plan(broadcast_id=broadcast.pk, now=NOON)
    assert rows(broadcast) == {customer.external_userid: (Status.PENDING, "", newer.id)}

    first = planning(customers_broadcast([customer.id], sender_rule="first_added"))
    broadcast_plan(broadcast_id=first.pk, now=NOON)
    assert rows(first) == {customer.external_userid: (Status.PENDING, "", company.sa.id)}


def test_every_reason_to_leave_a_customer_out(company):
    opted = company.ca2
    opted.opted_out_at = timezone.now()
    opted.save()
    no_friend = CustomerFactory()
    FollowFactory(
        customer=no_friend,
        staff=company.sa,
        status=Follow.Status.DELETED_BY_STAFF,
        status_changed_at=timezone.now(),
    )
    handed(company.cb1.external_userid, NOON - timedelta(hours=1))
    broadcast = planning(customers_broadcast([company.ca1.id, opted.id, no_friend.id, company.cb1.id]))

    with override_cap("day_1"):
        preview = broadcast_preview(broadcast=broadcast, now=NOON)
        broadcast_plan(broadcast_id=broadcast.pk, now=NOON)

    assert rows(broadcast) == {
        company.ca1.external_userid: (Status.PENDING, "", company.sa.id),
        opted.external_userid: (Status.SUPPRESSED, Reason.OPTED_OUT, company.sa.id),
        no_friend.external_userid: (Status.SUPPRESSED, Reason.NO_FOLLOW, None),
        company.cb1.external_userid: (Status.SUPPRESSED, Reason.RECEIVE_CAP, company.sb.id),
    }
    broadcast.refresh_from_db()
    assert (broadcast.targeted, broadcast.eligible, broadcast.status) == (4, 1, Broadcast.Status.SENDING)
    assert preview["targeted"] == 4 and preview["eligible"] == 1 and preview["no_longer_friends"] == 1
    assert preview["suppressed"][Reason.OPTED_OUT] == 1 and preview["suppressed"][Reason.RECEIVE_CAP] == 1
    # Once planned, the preview reads the rows and says the same.
    assert broadcast_preview(broadcast=broadcast) == preview


class override_cap:
    def __init__(self, rule):
        from django.test import override_settings

        self.override = override_settings(OUTREACH_RECEIVE_CAP=rule, OUTREACH_QUIET_HOURS="")

    def __enter__(self):
        self.override.enable()

    def __exit__(self, *exc):
        self.override.disable()


@pytest.mark.parametrize(
    ("rule", "earlier", "inside", "outside"),
    [
        # (cap rule, how many earlier, the last one's time in the period, one just before the period)
        ("day_1", 1, NOON - timedelta(hours=5), NOON - timedelta(hours=15)),
        ("week_7", 7, NOON - timedelta(days=1), NOON - timedelta(days=2)),
        ("month_4", 4, NOON - timedelta(days=9), NOON - timedelta(days=10)),
        ("month_days", 31, NOON - timedelta(days=9), NOON - timedelta(days=10)),
    ],
)
def test_a_customer_at_the_receive_cap_is_left_out_under_each_rule(company, rule, earlier, inside, outside):
    at_cap, below = company.ca1, company.ca2
    for _ in range(earlier - 1):
        handed(at_cap.external_userid, NOON - timedelta(minutes=5))
        handed(below.external_userid, NOON - timedelta(minutes=5))
    handed(at_cap.external_userid, inside)
    handed(below.external_userid, outside)  # the period began after it: not counted
    # Rows WeCom refused or staff never sent do not count.
    handed(below.external_userid, NOON - timedelta(minutes=1), status=Status.NOT_FRIEND)
    handed(below.external_userid, NOON - timedelta(minutes=1), status=Status.UNSENT)
    broadcast = planning(customers_broadcast([at_cap.id, below.id]))

    with override_cap(rule):
        assert receive_capped_targets(
            targets=[at_cap.external_userid, below.external_userid], moment=NOON
        ) == {at_cap.external_userid}
        broadcast_plan(broadcast_id=broadcast.pk, now=NOON)

    assert rows(broadcast) == {
        at_cap.external_userid: (Status.SUPPRESSED, Reason.RECEIVE_CAP, company.sa.id),
        below.external_userid: (Status.PENDING, "", company.sa.id),
    }


def test_pending_rows_of_another_broadcast_in_flight_count_against_the_cap(company):
    first = planning(customers_broadcast([company.ca1.id]))
    second = planning(customers_broadcast([company.ca1.id]))
    with override_cap("day_1"):
        broadcast_plan(broadcast_id=first.pk, now=NOON)
        broadcast_plan(broadcast_id=second.pk, now=NOON)
    assert rows(first)[company.ca1.external_userid][0] == Status.PENDING
    assert rows(second)[company.ca1.external_userid][1] == Reason.RECEIVE_CAP


def test_planning_twice_writes_nothing_twice(company, settings):
    settings.OUTREACH_QUIET_HOURS = ""
    broadcast = planning(customers_broadcast([company.ca1.id, company.ca2.id, company.cb1.id]))
    broadcast_plan(broadcast_id=broadcast.pk, now=NOON)
    first = rows(broadcast)
    broadcast_plan(broadcast_id=broadcast.pk, now=NOON)  # a redelivered task
    assert rows(broadcast) == first and len(first) == 3
    broadcast.refresh_from_db()
    assert (broadcast.targeted, broadcast.eligible) == (3, 3)
    # A draft, a canceled or a failed broadcast is not planned.
    draft = customers_broadcast([company.ca1.id])
    broadcast_plan(broadcast_id=draft.pk, now=NOON)
    assert rows(draft) == {}


def test_a_segment_or_rules_name_the_audience(company, settings):
    settings.OUTREACH_QUIET_HOURS = ""
    segment = Segment.objects.create(name="Gold", rules={"tags_any": [company.gold.id, company.silver.id]})
    broadcast = broadcast_save(
        broadcast=Broadcast(name="Gold", text="Hi", segment=segment, rules={"staff": [company.sb.id]})
    )
    planning(broadcast)
    broadcast_plan(broadcast_id=broadcast.pk, now=NOON)
    assert set(rows(broadcast)) == {company.cb1.external_userid}  # gold or silver, and followed by sb


# --- groups ------------------------------------------------------------------------------------------


def test_groups_by_owner_tag_store_or_list_with_their_reasons(company, settings):
    settings.OUTREACH_QUIET_HOURS = ""
    tag = GroupTag.objects.create(name="VIP")
    tagged = GroupChatFactory(owner=company.sb)
    tagged.tags.add(tag)
    dismissed = GroupChatFactory(
        owner=company.sa, status=GroupChat.Status.DISMISSED, dismissed_at=timezone.now()
    )
    orphan = GroupChatFactory(owner=None, owner_userid="left", store=company.store_b)
    departed = StaffFactory(status=Staff.Status.DEPARTED, departed_at=timezone.now())
    inherited = GroupChatFactory(owner=departed)
    capped = GroupChatFactory(owner=company.sb)
    handed(capped.chat_id, NOON - timedelta(hours=1))
    unrelated = GroupChatFactory(owner=StaffFactory())

    broadcast = broadcast_save(
        broadcast=Broadcast(
            name="Groups",
            kind=Broadcast.Kind.GROUPS,
            text="Hello groups",
            rules={
                "owners": [company.sa.id],
                "group_tags": [tag.id],
                "stores": [company.store_b.id],
                "groups": [inherited.id, capped.id],
            },
        )
    )
    planning(broadcast)
    with override_cap("day_1"):
        preview = broadcast_preview(broadcast=broadcast, now=NOON)
        broadcast_plan(broadcast_id=broadcast.pk, now=NOON)

    got = rows(broadcast)
    assert unrelated.chat_id not in got
    assert got == {
        company.ga.chat_id: (Status.PENDING, "", company.sa.id),
        company.gb.chat_id: (Status.PENDING, "", company.sb.id),  # Store B's group
        tagged.chat_id: (Status.PENDING, "", company.sb.id),
        dismissed.chat_id: (Status.SUPPRESSED, Reason.GROUP_DISMISSED, company.sa.id),
        orphan.chat_id: (Status.SUPPRESSED, Reason.NO_OWNER, None),
        inherited.chat_id: (Status.SUPPRESSED, Reason.NO_OWNER, None),
        capped.chat_id: (Status.SUPPRESSED, Reason.RECEIVE_CAP, company.sb.id),
    }
    assert preview["targeted"] == 7 and preview["eligible"] == 3
    assert preview["suppressed"][Reason.NO_OWNER] == 2
    assert BroadcastRecipient.objects.filter(broadcast=broadcast, group=company.ga).exists()


def test_group_rules_are_checked(company):
    with pytest.raises(ValidationError) as error:
        broadcast_save(
            broadcast=Broadcast(name="x", kind=Broadcast.Kind.GROUPS, text="x", rules={"owner": [1]})
        )
    assert "Unknown keys: owner" in str(error.value)
    with pytest.raises(ValidationError, match="Choose the groups"):
        broadcast_save(broadcast=Broadcast(name="x", kind=Broadcast.Kind.GROUPS, text="x", rules={}))


# --- validation ---------------------------------------------------------------------------------------


def test_content_is_checked_against_wecom_limits(company):
    with pytest.raises(ValidationError) as error:
        customers_broadcast([company.ca1.id], text="字" * 1400)
    assert "4000 bytes" in str(error.value)
    with pytest.raises(ValidationError, match="an attachment, or both"):
        broadcast_save(broadcast=Broadcast(name="x", text=" ", customer_ids=[company.ca1.id]))
    with pytest.raises(ValidationError, match="audience is required"):
        broadcast_save(broadcast=Broadcast(name="x", text="x"))
    from campaigns.models import BroadcastAttachment

    links = [BroadcastAttachment(kind="link", title="t", link_url="https://example.com") for _ in range(10)]
    with pytest.raises(ValidationError, match="At most 9"):
        broadcast_save(broadcast=Broadcast(name="x", text="x", customer_ids=[1]), attachments=links)
    with pytest.raises(ValidationError, match="A link needs a title"):
        broadcast_save(
            broadcast=Broadcast(name="x", text="x", customer_ids=[1]),
            attachments=[BroadcastAttachment(kind="link", link_url="https://example.com")],
        )


def test_a_blocked_sensitive_word_stops_saving_and_planning(company, settings):
    from campaigns.models import SensitiveWord
    from campaigns.services.content import SensitiveWordBlocked, sensitive_word_save

    settings.OUTREACH_QUIET_HOURS = ""
    broadcast = planning(customers_broadcast([company.ca1.id], text="最好的价格"))
    sensitive_word_save(word=SensitiveWord(word="最好", action=SensitiveWord.Action.BLOCK))
    with pytest.raises(SensitiveWordBlocked, match="最好"):
        customers_broadcast([company.ca1.id], text="全网最好")
    broadcast_plan(broadcast_id=broadcast.pk, now=NOON)
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.FAILED and "最好" in broadcast.error
    assert rows(broadcast) == {}


def test_launched_broadcasts_cannot_be_changed(company, settings):
    settings.OUTREACH_QUIET_HOURS = ""
    broadcast = customers_broadcast([company.ca1.id])
    broadcast_launch(broadcast=broadcast)
    broadcast.text = "changed"
    with pytest.raises(ValidationError, match="Only drafts"):
        broadcast_save(broadcast=broadcast)
    with pytest.raises(ValidationError, match="launched already"):
        broadcast_launch(broadcast=broadcast)


# --- launch, schedule, quiet hours ------------------------------------------------------------------


def test_launch_now_plans_after_commit(company, settings, django_capture_on_commit_callbacks):
    settings.OUTREACH_QUIET_HOURS = ""
    broadcast = customers_broadcast([company.ca1.id])
    with django_capture_on_commit_callbacks() as callbacks:
        broadcast_launch(broadcast=broadcast, now=NOON)
    assert broadcast.status == Broadcast.Status.PLANNING and broadcast.started_at == NOON
    assert len(callbacks) == 1  # the planning task, enqueued once the launch is committed


def test_launch_inside_quiet_hours_waits_for_their_end(company, settings, django_capture_on_commit_callbacks):
    settings.OUTREACH_QUIET_HOURS = "21:30-08:00"
    broadcast = customers_broadcast([company.ca1.id])
    night = datetime(2026, 3, 10, 23, 0, tzinfo=WECOM_TZ)
    with django_capture_on_commit_callbacks() as callbacks:
        broadcast_launch(broadcast=broadcast, now=night)
    assert callbacks == []
    assert broadcast.status == Broadcast.Status.SCHEDULED
    assert broadcast.scheduled_at == datetime(2026, 3, 11, 8, 0, tzinfo=WECOM_TZ)


def test_due_broadcasts_start_late_ones_fail_quiet_ones_wait(
    company, settings, django_capture_on_commit_callbacks
):
    settings.OUTREACH_QUIET_HOURS = "21:30-08:00"
    settings.SOP_MISSED_GRACE_HOURS = 6
    due = customers_broadcast([company.ca1.id], scheduled_at=NOON + timedelta(hours=2))
    missed = customers_broadcast([company.ca1.id], scheduled_at=NOON - timedelta(hours=1))
    evening = customers_broadcast(
        [company.ca1.id], scheduled_at=datetime(2026, 3, 10, 22, 0, tzinfo=WECOM_TZ)
    )
    later = customers_broadcast([company.ca1.id], scheduled_at=NOON + timedelta(days=3))
    for broadcast in (due, evening, later):
        broadcast_launch(broadcast=broadcast, now=NOON)
        assert broadcast.status == Broadcast.Status.SCHEDULED
    Broadcast.objects.filter(pk=missed.pk).update(status=Broadcast.Status.SCHEDULED)

    with django_capture_on_commit_callbacks() as callbacks:
        started = broadcast_due(now=NOON + timedelta(hours=7, minutes=1))
    assert started == 1 and len(callbacks) == 1
    for broadcast in (due, missed, evening, later):
        broadcast.refresh_from_db()
    assert due.status == Broadcast.Status.PLANNING
    assert missed.status == Broadcast.Status.FAILED and "Missed" in missed.error
    assert later.status == Broadcast.Status.SCHEDULED

    night = datetime(2026, 3, 10, 22, 1, tzinfo=WECOM_TZ)
    assert broadcast_due(now=night) == 0
    evening.refresh_from_db()
    assert evening.status == Broadcast.Status.SCHEDULED
    assert evening.scheduled_at == datetime(2026, 3, 11, 8, 0, tzinfo=WECOM_TZ)
    morning = datetime(2026, 3, 11, 8, 1, tzinfo=WECOM_TZ)
    assert broadcast_due(now=morning) == 1


def test_planning_inside_quiet_hours_goes_back_to_the_schedule(company, settings):
    settings.OUTREACH_QUIET_HOURS = "21:30-08:00"
    broadcast = planning(customers_broadcast([company.ca1.id]))
    broadcast_plan(broadcast_id=broadcast.pk, now=datetime(2026, 3, 10, 23, 0, tzinfo=WECOM_TZ))
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.SCHEDULED and rows(broadcast) == {}


def test_the_due_task_is_scheduled_every_minute(db):
    from django.core.management import call_command
    from django_celery_beat.models import PeriodicTask

    call_command("migrate", "campaigns", verbosity=0)
    task = PeriodicTask.objects.get(name="campaigns: broadcasts due")
    assert task.task == "campaigns.tasks.broadcasts.broadcast_due_task" and task.interval.every == 60


# --- the SOP entry point ------------------------------------------------------------------------------


def test_broadcast_create_is_idempotent_on_its_origin_key(company, settings):
    settings.OUTREACH_QUIET_HOURS = ""
    first = broadcast_create(
        kind="customers",
        name="SOP day 1",
        text="Welcome back",
        attachments=[{"kind": "link", "title": "Shop", "link_url": "https://example.com/shop"}],
        customer_ids=[company.ca1.id, company.cb1.id],
        origin_key="sop:1:step:2:2026-03-10",
    )
    again = broadcast_create(
        kind="customers",
        name="SOP day 1",
        text="Welcome back",
        customer_ids=[company.ca1.id],
        origin_key="sop:1:step:2:2026-03-10",
    )
    assert again.pk == first.pk and Broadcast.objects.count() == 1
    assert first.origin == Broadcast.Origin.SOP and first.status == Broadcast.Status.PLANNING
    assert [a.title for a in first.attachments.all()] == ["Shop"]
    broadcast_plan(broadcast_id=first.pk, now=NOON)
    assert set(rows(first)) == {company.ca1.external_userid, company.cb1.external_userid}

    groups = broadcast_create(
        kind="groups",
        name="Group post",
        text="Hi all",
        rules={"owners": [company.sa.id]},
        origin_key="gsop:1",
    )
    broadcast_plan(broadcast_id=groups.pk, now=NOON)
    assert set(rows(groups)) == {company.ga.chat_id}


def test_an_empty_audience_plans_no_rows(company, settings):
    settings.OUTREACH_QUIET_HOURS = ""
    broadcast = planning(customers_broadcast([]))
    assert broadcast_preview(broadcast=broadcast, now=NOON)["targeted"] == 0
    broadcast_plan(broadcast_id=broadcast.pk, now=NOON)
    broadcast.refresh_from_db()
    assert rows(broadcast) == {} and (broadcast.targeted, broadcast.status) == (0, Broadcast.Status.SENDING)
