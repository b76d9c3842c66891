"""Broadcast dispatch against the sandbox over HTTP: batches by sender in WeCom's largest calls,
the exactly-once protocol (claim, call, record; unknown outcomes reconciled), results, remind and
cancel. Celery runs eagerly; every WeCom call goes to the sandbox on the live server, whose call
record (``SandboxCall``) and mass-message tables are what "exactly once" is checked against.
"""

from __future__ import annotations

import time
from collections import Counter
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone
from rest_framework.test import APIClient

from campaigns.models import Broadcast, BroadcastBatch, BroadcastRecipient
from campaigns.services import broadcast_dispatch as dispatch
from campaigns.services.broadcast_dispatch import (
    broadcast_cancel,
    broadcast_dispatch,
    broadcast_dispatch_sweep,
    broadcast_remind,
    broadcast_results_due,
    broadcast_results_sync,
)
from customers.models import Customer, Follow, Segment
from scrm.org.models import Staff
from scrm.sandbox.models import (
    SandboxCall,
    SandboxFollow,
    SandboxGroupChat,
    SandboxMassMessage,
    SandboxMassRecipient,
)
from scrm.sandbox.outreach import mass_message_send, outreach_rules_set
from scrm.sandbox.player import PlayerError
from scrm.sandbox.services import sandbox_contacts_add, sandbox_corp_create, sandbox_faults_set
from scrm.wecom.client import wecom_client, wecom_clients_close
from scrm.wecom.sync import sync_run
from tests.wecom.conftest import eager_celery  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

Status = BroadcastRecipient.Status
BatchStatus = BroadcastBatch.Status


@pytest.fixture
def wecom(live_server, settings, eager_celery):  # noqa: F811
    """Our client pointed at the sandbox on the live server; no quiet hours unless a test sets them."""
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    settings.OUTREACH_QUIET_HOURS = ""
    wecom_clients_close()
    cache.clear()
    yield settings
    wecom_clients_close()


def corp_create(settings, *, members=2, contacts=3, **kwargs):
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID,
        contact_secret=settings.WECOM_SECRET,
        members=members,
        contacts_per_member=contacts,
        **kwargs,
    )
    sync_run(mode="full", trigger="command", retry_delay=0)
    return corp


def broadcast_for(follows, *, text="Spring sale: 20% off", kind=Broadcast.Kind.CUSTOMERS):
    """A planned broadcast: one pending recipient per (target, sender), as planning leaves them."""
    broadcast = Broadcast.objects.create(
        name="Spring", kind=kind, text=text, status=Broadcast.Status.PLANNING
    )
    BroadcastRecipient.objects.bulk_create(
        BroadcastRecipient(broadcast=broadcast, target=target, sender=sender, customer_id=customer_id)
        for target, sender, customer_id in follows
    )
    return broadcast


def all_follows():
    return [
        (f.customer.external_userid, f.staff, f.customer_id)
        for f in Follow.objects.select_related("customer", "staff").order_by("id")
    ]


def calls(path, **filters):
    return SandboxCall.objects.filter(path=f"externalcontact/{path}", **filters)


def confirm_all(settings, broadcast):
    for batch in BroadcastBatch.objects.filter(broadcast=broadcast, status=BatchStatus.HANDED):
        mass_message_send(corp_id=settings.WECOM_CORP_ID, msgid=batch.msgid, userid=batch.sender.userid)


def statuses(broadcast):
    return Counter(BroadcastRecipient.objects.filter(broadcast=broadcast).values_list("status", flat=True))


def test_5000_customers_over_20_staff_go_in_20_calls_and_each_gets_one_message(wecom):
    corp_create(wecom, members=20, contacts=250)
    broadcast = broadcast_for(all_follows())
    assert BroadcastRecipient.objects.filter(broadcast=broadcast).count() == 5000

    assert broadcast_dispatch(broadcast_id=broadcast.pk) == 20

    made = list(calls("add_msg_template", errcode=0))
    assert len(made) == 20
    assert sorted(len(c.body["external_userid"]) for c in made) == [250] * 20
    assert {c.body["sender"] for c in made} == {f"user{i}" for i in range(1, 21)}
    assert all(c.body["text"] == {"content": "Spring sale: 20% off"} for c in made)
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.handed) == (Broadcast.Status.SENT, 5000)
    assert statuses(broadcast) == {Status.HANDED: 5000}
    assert not BroadcastRecipient.objects.filter(broadcast=broadcast, handed_at__isnull=True).exists()

    # A second dispatch (a redelivered task) batches nothing and calls nothing.
    assert broadcast_dispatch(broadcast_id=broadcast.pk) == 0
    assert calls("add_msg_template").count() == 20

    assert broadcast.pk in broadcast_results_due()
    confirm_all(wecom, broadcast)
    broadcast_results_sync(broadcast_id=broadcast.pk)

    delivered = Counter(SandboxMassRecipient.objects.filter(status=1).values_list("target", flat=True))
    assert len(delivered) == 5000 and set(delivered.values()) == {1}
    assert set(delivered) == set(BroadcastRecipient.objects.values_list("target", flat=True))
    assert statuses(broadcast) == {Status.SENT: 5000}
    assert not BroadcastRecipient.objects.filter(sent_at__isnull=True).exists()
    broadcast.refresh_from_db()
    assert (broadcast.handed, broadcast.confirmed, broadcast.delivered) == (5000, 5000, 5000)
    assert not BroadcastBatch.objects.filter(confirmed_at__isnull=True).exists()
    # Final results are not asked for again.
    assert broadcast_results_due() == []
    before = calls("get_groupmsg_send_result").count()
    broadcast_results_sync(broadcast_id=broadcast.pk)
    assert calls("get_groupmsg_send_result").count() == before


def test_a_sender_with_10001_recipients_takes_two_calls(wecom):
    corp = corp_create(wecom, members=1, contacts=0)
    sandbox_contacts_add(member=corp.members[0], count=10_001)
    sender = Staff.objects.get(userid="user1")
    ids = SandboxFollow.objects.order_by("id").values_list("contact__external_userid", flat=True)
    broadcast = broadcast_for([(e, sender, None) for e in ids])

    assert broadcast_dispatch(broadcast_id=broadcast.pk) == 2

    sizes = sorted(len(c.body["external_userid"]) for c in calls("add_msg_template", errcode=0))
    assert sizes == [1, 10_000]
    assert sorted(BroadcastBatch.objects.values_list("seq", "size")) == [(0, 10_000), (1, 1)]
    assert SandboxMassRecipient.objects.count() == 10_001
    assert statuses(broadcast) == {Status.HANDED: 10_001}


def test_groups_go_at_most_2000_per_call(wecom):
    corp_create(wecom, members=2, contacts=0)
    now = int(timezone.now().timestamp())
    SandboxGroupChat.objects.bulk_create(
        SandboxGroupChat(corp_id=wecom.WECOM_CORP_ID, chat_id=f"wr{i:05d}", owner="user1", create_time=now)
        for i in range(2_001)
    )
    SandboxGroupChat.objects.create(
        corp_id=wecom.WECOM_CORP_ID, chat_id="wrB", owner="user2", create_time=now
    )
    user1, user2 = Staff.objects.get(userid="user1"), Staff.objects.get(userid="user2")
    broadcast = broadcast_for(
        [(f"wr{i:05d}", user1, None) for i in range(2_001)] + [("wrB", user2, None)],
        kind=Broadcast.Kind.GROUPS,
    )

    assert broadcast_dispatch(broadcast_id=broadcast.pk) == 3

    made = list(calls("add_msg_template", errcode=0))
    assert sorted(len(c.body["chat_id_list"]) for c in made) == [1, 1, 2_000]
    assert {c.body["chat_type"] for c in made} == {"group"}
    confirm_all(wecom, broadcast)
    broadcast_results_sync(broadcast_id=broadcast.pk)
    assert statuses(broadcast) == {Status.SENT: 2_002}


def _quiet(settings):
    """Quiet hours around now: sends wait, so a test can play a worker that died mid-call."""
    now = timezone.localtime()
    start, end = (now - timedelta(hours=1)).strftime("%H:%M"), (now + timedelta(hours=1)).strftime("%H:%M")
    settings.OUTREACH_QUIET_HOURS = f"{start}-{end}"


def _dead_worker_claims(batch, *, call):
    """What a worker killed mid-call leaves: the claim, and (when it got that far) the message at
    WeCom but no msgid on our side; its lease then runs out."""
    token = dispatch._claim(batch)
    assert token
    batch = BroadcastBatch.objects.select_related("broadcast", "sender").get(pk=batch.pk)
    if call:
        dispatch._call(batch, dispatch._targets(batch), [])
    BroadcastBatch.objects.filter(pk=batch.pk).update(
        claimed_at=timezone.now() - dispatch.claim_lease() - timedelta(seconds=1)
    )


def test_inside_quiet_hours_nothing_is_handed_and_the_sweep_sends_after(wecom):
    corp_create(wecom, members=2, contacts=2)
    broadcast = broadcast_for(all_follows())
    _quiet(wecom)
    broadcast_dispatch(broadcast_id=broadcast.pk)
    assert calls("add_msg_template").count() == 0
    assert all(b.not_before and b.not_before > timezone.now() for b in BroadcastBatch.objects.all())
    assert broadcast_dispatch_sweep() == 0  # still quiet
    # Run twice before any send: the recipients past each sender's last batch are none.
    assert broadcast_dispatch(broadcast_id=broadcast.pk) == 0
    assert BroadcastBatch.objects.count() == 2

    wecom.OUTREACH_QUIET_HOURS = ""
    BroadcastBatch.objects.update(not_before=timezone.now() - timedelta(seconds=1))
    assert broadcast_dispatch_sweep() == 2
    assert calls("add_msg_template", errcode=0).count() == 2
    assert statuses(broadcast) == {Status.HANDED: 4}


def test_an_unknown_outcome_found_at_wecom_is_recorded_without_a_second_call(wecom):
    corp_create(wecom, members=2, contacts=3)
    broadcast = broadcast_for(all_follows())
    _quiet(wecom)
    broadcast_dispatch(broadcast_id=broadcast.pk)
    wecom.OUTREACH_QUIET_HOURS = ""
    first, second = BroadcastBatch.objects.order_by("id")
    _dead_worker_claims(first, call=True)
    [landed] = SandboxMassMessage.objects.all()
    BroadcastBatch.objects.filter(pk=second.pk).update(not_before=timezone.now())

    assert broadcast_dispatch_sweep() == 2

    assert calls("get_groupmsg_list_v2", errcode=0).exists()
    first.refresh_from_db()
    assert (first.status, first.msgid, first.attempts) == (BatchStatus.HANDED, landed.msgid, 1)
    assert calls("add_msg_template").count() == 2  # the dead worker's, and the second batch's
    delivered = Counter(SandboxMassRecipient.objects.values_list("target", flat=True))
    assert len(delivered) == 6 and set(delivered.values()) == {1}
    assert statuses(broadcast) == {Status.HANDED: 6}
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.handed) == (Broadcast.Status.SENT, 6)


def test_an_unknown_outcome_not_at_wecom_is_sent_once_and_a_lookalike_is_not_taken(wecom):
    corp_create(wecom, members=1, contacts=4)
    user1 = Staff.objects.get(userid="user1")
    follows = all_follows()
    # A message of the same sender and text to another customer, moments before: not ours.
    decoy = wecom_client().add_msg_template(
        sender="user1", external_userids=[follows[3][0]], text="Spring sale: 20% off"
    )
    broadcast = broadcast_for(follows[:3])
    _quiet(wecom)
    broadcast_dispatch(broadcast_id=broadcast.pk)
    wecom.OUTREACH_QUIET_HOURS = ""
    [batch] = BroadcastBatch.objects.all()
    _dead_worker_claims(batch, call=False)

    assert broadcast_dispatch_sweep() == 1

    batch.refresh_from_db()
    assert batch.status == BatchStatus.HANDED and batch.msgid not in ("", decoy["msgid"])
    assert batch.attempts == 2
    assert calls("get_groupmsg_task", errcode=0, body__msgid=decoy["msgid"]).exists()
    assert calls("add_msg_template", errcode=0).count() == 2  # the decoy and one send
    ours = SandboxMassRecipient.objects.filter(message__msgid=batch.msgid)
    assert sorted(ours.values_list("target", flat=True)) == sorted(f[0] for f in follows[:3])
    assert batch.sender == user1


def test_a_timed_out_call_is_reconciled_not_repeated(wecom):
    corp_create(wecom, members=1, contacts=2)
    broadcast = broadcast_for(all_follows())
    # The sandbox answers after the client gave up; the message is created all the same.
    wecom.WECOM_HTTP_TIMEOUT = 0.5
    wecom_clients_close()
    sandbox_faults_set(timeout_rate=1.0, timeout_ms=1500, fail_paths=["externalcontact/add_msg_template"])
    broadcast_dispatch(broadcast_id=broadcast.pk)
    sandbox_faults_set()
    [batch] = BroadcastBatch.objects.all()
    assert batch.status == BatchStatus.UNKNOWN and batch.msgid == ""

    for _ in range(100):  # the sandbox finishes the call after its delay
        if SandboxMassMessage.objects.exists():
            break
        time.sleep(0.05)
    BroadcastBatch.objects.update(claimed_at=timezone.now() - dispatch.claim_lease() - timedelta(seconds=1))
    assert broadcast_dispatch_sweep() == 1

    batch.refresh_from_db()
    assert batch.status == BatchStatus.HANDED
    assert batch.msgid == SandboxMassMessage.objects.get().msgid
    assert calls("add_msg_template").count() == 1
    assert statuses(broadcast) == {Status.HANDED: 2}


def test_a_transient_error_is_retried_after_a_pause(wecom):
    corp_create(wecom, members=1, contacts=2)
    broadcast = broadcast_for(all_follows())
    sandbox_faults_set(fail_next=1, fail_errcode=-1, fail_paths=["externalcontact/add_msg_template"])
    broadcast_dispatch(broadcast_id=broadcast.pk)
    [batch] = BroadcastBatch.objects.all()
    assert (batch.status, batch.attempts) == (BatchStatus.PENDING, 1)
    assert batch.not_before > timezone.now() and "system busy" in batch.error
    assert broadcast_dispatch_sweep() == 0  # the pause is not over

    BroadcastBatch.objects.update(not_before=timezone.now() - timedelta(seconds=1))
    assert broadcast_dispatch_sweep() == 1
    batch.refresh_from_db()
    assert (batch.status, batch.attempts) == (BatchStatus.HANDED, 2)
    assert list(calls("add_msg_template").values_list("errcode", flat=True)) == [-1, 0]


def test_no_sendable_customer_fails_the_batch_with_the_reason(wecom):
    corp_create(wecom, members=2, contacts=2)
    user1 = Staff.objects.get(userid="user1")
    # user2's customers, sent by user1: WeCom has nobody to send to (41048).
    others = [(e, user1, c) for e, s, c in all_follows() if s.userid == "user2"]
    broadcast = broadcast_for(others)
    broadcast_dispatch(broadcast_id=broadcast.pk)

    [batch] = BroadcastBatch.objects.all()
    assert batch.status == BatchStatus.FAILED and "41048" in batch.error
    assert statuses(broadcast) == {Status.FAILED: 2}
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.FAILED and "41048" in broadcast.error
    assert broadcast_dispatch_sweep() == 0


def test_fail_list_recipients_fail_and_the_rest_are_handed(wecom):
    corp_create(wecom, members=2, contacts=2)
    user1 = Staff.objects.get(userid="user1")
    follows = all_follows()
    mine = [f for f in follows if f[1] == user1]
    stranger = next(f for f in follows if f[1] != user1)
    broadcast = broadcast_for([*mine, (stranger[0], user1, stranger[2])])
    broadcast_dispatch(broadcast_id=broadcast.pk)

    [batch] = BroadcastBatch.objects.all()
    assert (batch.status, batch.fail_count) == (BatchStatus.HANDED, 1)
    assert BroadcastRecipient.objects.get(target=stranger[0]).status == Status.FAILED
    assert statuses(broadcast) == {Status.HANDED: 2, Status.FAILED: 1}
    broadcast.refresh_from_db()
    assert broadcast.handed == 2


def test_over_the_receive_cap_and_unsent_are_synced(wecom):
    corp_create(wecom, members=1, contacts=3)
    outreach_rules_set(receive_cap="day_1")
    first = broadcast_for(all_follows(), text="First")
    broadcast_dispatch(broadcast_id=first.pk)
    confirm_all(wecom, first)
    second = broadcast_for(all_follows(), text="Second")
    broadcast_dispatch(broadcast_id=second.pk)
    [batch] = BroadcastBatch.objects.filter(broadcast=second)
    targets = list(BroadcastRecipient.objects.filter(broadcast=second).values_list("target", flat=True))
    # The sender sends to two of the three; the third is left unsent.
    mass_message_send(corp_id=wecom.WECOM_CORP_ID, msgid=batch.msgid, userid="user1", targets=targets[:2])

    broadcast_results_sync(broadcast_id=first.pk)
    broadcast_results_sync(broadcast_id=second.pk)

    assert statuses(first) == {Status.SENT: 3}
    assert statuses(second) == {Status.OVER_CAP: 2, Status.UNSENT: 1}
    second.refresh_from_db()
    assert (second.handed, second.confirmed, second.delivered) == (3, 3, 0)


def test_remind_at_most_three_times_in_24_hours(wecom):
    corp_create(wecom, members=2, contacts=1)
    broadcast = broadcast_for(all_follows())
    broadcast_dispatch(broadcast_id=broadcast.pk)

    for _ in range(3):
        assert broadcast_remind(broadcast=broadcast) == 2
    with pytest.raises(ValidationError, match="already reminded 3 times"):
        broadcast_remind(broadcast=broadcast)
    assert calls("remind_groupmsg_send", errcode=0).count() == 6

    # A day later the senders may be reminded again; once they confirm, nobody is waiting.
    old = (timezone.now() - timedelta(hours=25)).isoformat()
    BroadcastBatch.objects.update(reminded_at=[old, old, old])
    confirm_all(wecom, broadcast)
    broadcast_results_sync(broadcast_id=broadcast.pk)
    with pytest.raises(ValidationError, match="No sender is waiting"):
        broadcast_remind(broadcast=broadcast)


def test_cancel_stops_handed_messages_and_pending_batches(wecom):
    corp_create(wecom, members=2, contacts=2)
    broadcast = broadcast_for(all_follows())
    broadcast_dispatch(broadcast_id=broadcast.pk)
    b1, b2 = BroadcastBatch.objects.order_by("sender__userid")
    mass_message_send(corp_id=wecom.WECOM_CORP_ID, msgid=b1.msgid, userid="user1")

    broadcast_cancel(broadcast=broadcast)

    assert set(calls("cancel_groupmsg_send", errcode=0).values_list("body__msgid", flat=True)) == {
        b1.msgid,
        b2.msgid,
    }
    with pytest.raises(PlayerError):
        mass_message_send(corp_id=wecom.WECOM_CORP_ID, msgid=b2.msgid, userid="user2")
    broadcast.refresh_from_db()
    assert broadcast.status == Broadcast.Status.CANCELED and broadcast.canceled_at
    assert statuses(broadcast) == {Status.CANCELED: 4}
    # What user1 sent before the cancel is still synced as sent.
    broadcast_results_sync(broadcast_id=broadcast.pk)
    assert statuses(broadcast) == {Status.SENT: 2, Status.CANCELED: 2}
    with pytest.raises(ValidationError):
        broadcast_remind(broadcast=broadcast)


def test_cancel_before_the_hand_over_calls_nothing(wecom):
    corp_create(wecom, members=2, contacts=2)
    broadcast = broadcast_for(all_follows())
    _quiet(wecom)
    broadcast_dispatch(broadcast_id=broadcast.pk)
    broadcast_cancel(broadcast=broadcast)
    wecom.OUTREACH_QUIET_HOURS = ""
    BroadcastBatch.objects.update(not_before=None, queued_at=None)
    broadcast_dispatch_sweep()
    broadcast_dispatch(broadcast_id=broadcast.pk)

    assert calls("add_msg_template").count() == 0
    assert set(BroadcastBatch.objects.values_list("status", flat=True)) == {BatchStatus.CANCELED}
    assert statuses(broadcast) == {Status.CANCELED: 4}


def test_the_schedules_exist_and_the_due_task_syncs_open_results(wecom):
    from django_celery_beat.models import PeriodicTask

    from campaigns.services.broadcast_dispatch import (
        RESULTS_TASK_NAME,
        SWEEP_TASK_NAME,
        broadcast_dispatch_schedule_ensure,
    )
    from campaigns.tasks.broadcast_dispatch import broadcast_results_sync_due_task

    broadcast_dispatch_schedule_ensure()
    tasks = dict(
        PeriodicTask.objects.filter(name__in=[SWEEP_TASK_NAME, RESULTS_TASK_NAME]).values_list(
            "name", "queue"
        )
    )
    assert tasks == {SWEEP_TASK_NAME: "default", RESULTS_TASK_NAME: "default"}
    assert broadcast_dispatch_schedule_ensure() is False  # created once, never changed

    corp_create(wecom, members=1, contacts=2)
    broadcast = broadcast_for(all_follows())
    broadcast_dispatch(broadcast_id=broadcast.pk)
    confirm_all(wecom, broadcast)
    assert broadcast_results_sync_due_task.delay().get() == 1
    assert statuses(broadcast) == {Status.SENT: 2}
    assert broadcast_results_sync_due_task.delay().get() == 0


def test_attachments_go_with_fresh_media_and_are_matched_when_reconciling(wecom):
    from campaigns.models import BroadcastAttachment

    corp_create(wecom, members=1, contacts=2)
    broadcast = broadcast_for(all_follows())
    image = BroadcastAttachment.objects.create(
        broadcast=broadcast, kind="image", file_name="sale.png", file_content=b"\x89PNG fake", file_size=9
    )
    BroadcastAttachment.objects.create(
        broadcast=broadcast, kind="link", title="Sale", link_url="https://example.com/sale", position=1
    )
    _quiet(wecom)
    broadcast_dispatch(broadcast_id=broadcast.pk)
    wecom.OUTREACH_QUIET_HOURS = ""
    [batch] = BroadcastBatch.objects.all()
    # The dead worker's call carried only the text: another message, not this batch's.
    _dead_worker_claims(batch, call=True)

    assert broadcast_dispatch_sweep() == 1

    image.refresh_from_db()
    assert image.media_id and image.media_uploaded_at
    [first, second] = calls("add_msg_template", errcode=0).order_by("id")
    assert first.body["attachments"] == []
    assert second.body["attachments"] == [
        {"msgtype": "image", "image": {"media_id": image.media_id}},
        {"msgtype": "link", "link": {"title": "Sale", "url": "https://example.com/sale"}},
    ]
    batch.refresh_from_db()
    assert batch.status == BatchStatus.HANDED
    decoy, sent = SandboxMassMessage.objects.order_by("id").values_list("msgid", flat=True)
    assert batch.msgid == sent
    assert SandboxCall.objects.filter(path="media/upload", errcode=0).count() == 1


# --- The done-when, end to end through the API ---------------------------------------------


# A segment of 5,000 customers followed by 20 staff; one already received a broadcast today under
# the "1 a day" rule. HQ previews and launches through the API; eager Celery plans, batches and
# hands over; the staff confirm in the sandbox; the results sync back.
def test_a_5000_customer_segment_over_20_staff_in_20_calls_each_gets_one_message(wecom, django_user_model):
    wecom.OUTREACH_RECEIVE_CAP = "day_1"
    corp_create(wecom, members=20, contacts=250)
    outreach_rules_set(receive_cap="day_1")
    customers = Customer.objects.filter(external_userid__startswith="wm")
    assert customers.count() == 5000
    segment = Segment.objects.create(
        name="All sandbox customers",
        rules={"staff": list(customers.values_list("follows__staff_id", flat=True).distinct())},
    )
    # One customer already got a broadcast today: the "1 a day" cap leaves them out.
    capped = customers.order_by("id").first()
    earlier = Broadcast.objects.create(name="Earlier", status=Broadcast.Status.SENT)
    BroadcastRecipient.objects.create(
        broadcast=earlier,
        customer=capped,
        target=capped.external_userid,
        status=BroadcastRecipient.Status.SENT,
        handed_at=timezone.now(),
        sent_at=timezone.now(),
    )

    api = APIClient()
    api.force_authenticate(django_user_model.objects.create_superuser("hq", "hq@example.com", "x"))
    created = api.post(
        "/api/v1/broadcasts/", {"name": "Spring", "segment": segment.pk, "text": "Spring sale"}, format="json"
    )
    assert created.status_code == 201, created.content
    pk = created.json()["id"]
    preview = api.get(f"/api/v1/broadcasts/{pk}/preview/").json()
    assert (preview["targeted"], preview["eligible"]) == (5000, 4999)
    assert preview["suppressed"]["receive_cap"] == 1

    assert api.post(f"/api/v1/broadcasts/{pk}/launch/").status_code == 202

    made = list(SandboxCall.objects.filter(path="externalcontact/add_msg_template", errcode=0))
    assert len(made) == 20  # one call per sender: each has 250 (one 249), far under 10,000
    assert sum(len(c.body["external_userid"]) for c in made) == 4999
    left_out = BroadcastRecipient.objects.get(broadcast_id=pk, target=capped.external_userid)
    assert (left_out.status, left_out.reason) == ("suppressed", "receive_cap")

    # Each sender confirms the task the senders list names (its msgid) in the WeCom client.
    senders = api.get(f"/api/v1/broadcasts/{pk}/senders/", {"page_size": 100}).json()["results"]
    assert len(senders) == 20 and all(s["msgid"] and not s["confirmed"] for s in senders)
    for sender in senders:
        mass_message_send(corp_id=wecom.WECOM_CORP_ID, msgid=sender["msgid"], userid=sender["userid"])
    broadcast_results_sync(broadcast_id=pk)

    delivered = Counter(SandboxMassRecipient.objects.filter(status=1).values_list("target", flat=True))
    assert len(delivered) == 4999 and set(delivered.values()) == {1}
    assert capped.external_userid not in delivered
    detail = api.get(f"/api/v1/broadcasts/{pk}/").json()
    assert detail["funnel"] == {
        "targeted": 5000,
        "eligible": 4999,
        "handed": 4999,
        "confirmed": 4999,
        "delivered": 4999,
    }
    statuses = Counter(BroadcastRecipient.objects.filter(broadcast_id=pk).values_list("status", flat=True))
    assert statuses == {"sent": 4999, "suppressed": 1}
