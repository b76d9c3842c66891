"""A member leaves, end to end against the sandbox over HTTP (issue 6's "done when").

The sandbox corp: user1 has 250 customers and owns 4 customer groups, user2 is the corp default
policy's named successor, user3 keeps a few customers for the on-job transfer. Our side is filled
by the real sync. The member resigns through the sandbox's player API (what its console posts);
the sandbox posts ``change_contact`` / ``delete_user`` to our callback endpoint, whose tasks run
eagerly: the departure is recorded, the job planned by the policy and started. Every WeCom call
goes over HTTP to the sandbox, which records it (``SandboxCall``); the checks count those and the
sandbox's own transfer records (``SandboxTransfer``), never our bookkeeping alone.
"""

from __future__ import annotations

import json
import secrets
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from customers.models import (
    Customer,
    CustomerNote,
    Follow,
    FollowPersonalTag,
    PersonalTag,
    PoolEntry,
    TransferBatch,
    TransferItem,
    TransferJob,
    TransferPolicy,
)
from groups.models import GroupChat, GroupTransfer
from scrm.org.models import Staff
from scrm.sandbox.models import (
    SandboxCall,
    SandboxCallback,
    SandboxGroupChat,
    SandboxMember,
    SandboxTransfer,
)
from scrm.sandbox.services import sandbox_contacts_add, sandbox_corp_create
from scrm.wecom.client import wecom_clients_close
from scrm.wecom.models import CallbackInbox
from scrm.wecom.sync import sync_run
from tests.factories import UserFactory
from tests.wecom.conftest import eager_celery  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

CUSTOMERS = 250
GROUPS = 4
RESIGNED_CALL = "externalcontact/resigned/transfer_customer"
ONJOB_CALL = "externalcontact/transfer_customer"
GROUP_CALL = "externalcontact/groupchat/transfer"
FINAL = {TransferItem.Status.DONE, TransferItem.Status.REFUSED, TransferItem.Status.POOLED}


@pytest.fixture
def corp(live_server, settings, eager_celery):  # noqa: F811
    """The sandbox corp described above, its callbacks posted to our live server, our side synced."""
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    settings.WECOM_SANDBOX_CALLBACK_URL = live_server.url + "/wecom/callback/"
    settings.WECOM_SANDBOX_CALLBACKS = "sync"
    settings.TRANSFER_AUTO_START = True
    wecom_clients_close()
    cache.clear()
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID,
        contact_secret=settings.WECOM_SECRET,
        agent_secret=settings.WECOM_AGENT_SECRET,
        agentid=settings.WECOM_AGENT_ID,
        members=3,
        contacts_per_member=0,
    )
    leaver, _successor, colleague = corp.members
    contacts = sandbox_contacts_add(member=leaver, count=CUSTOMERS)
    sandbox_contacts_add(member=colleague, count=3)
    now = int(timezone.now().timestamp())
    for n in range(GROUPS):
        SandboxGroupChat.objects.create(
            corp_id=corp.corp_id,
            chat_id="wr" + secrets.token_hex(12),
            name=f"Leaver's group {n + 1}",
            owner=leaver.userid,
            create_time=now,
            member_version=secrets.token_hex(16),
            admin_list=[],
            member_list=[
                {"userid": leaver.userid, "type": 1, "join_time": now, "join_scene": 1, "name": leaver.name}
            ]
            + [
                {
                    "userid": c.external_userid,
                    "type": 2,
                    "join_time": now,
                    "join_scene": 3,
                    "group_nickname": "",
                    "name": c.name,
                }
                for c in contacts[n * 10 : n * 10 + 10]
            ],
        )
    run = sync_run(mode="full", trigger="command")
    assert run.status == "done", run.error
    yield corp
    wecom_clients_close()


@pytest.fixture
def admin(client):
    client.force_login(UserFactory(username="lifecycle_admin", is_staff=True, is_superuser=True))
    return client


def play(client, action: str, **body) -> dict:
    """A move of the other side, as the sandbox console posts it."""
    response = client.post(f"/sandbox/player/{action}/", json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content.decode()
    return response.json()


def calls(path: str) -> list[SandboxCall]:
    return list(SandboxCall.objects.filter(path=path).order_by("id"))


def transferred_once() -> bool:
    """The sandbox's own record: no customer was handed over twice."""
    ids = list(SandboxTransfer.objects.values_list("external_userid", flat=True))
    return len(ids) == len(set(ids))


def test_a_member_leaves_and_everything_they_held_goes_to_the_successor(corp, admin, settings):
    leaver = Staff.objects.get(userid="user1")
    successor = Staff.objects.get(userid="user2")
    follows = list(Follow.objects.filter(staff=leaver, status=Follow.Status.ACTIVE).order_by("id"))
    assert len(follows) == CUSTOMERS
    assert GroupChat.objects.filter(owner=leaver).count() == GROUPS

    # What WeCom does not keep: the leaver's personal tags on 10 follows, notes on 5 customers.
    vip = PersonalTag.objects.create(staff=leaver, name="VIP follow-up", group_name="Mine")
    FollowPersonalTag.objects.bulk_create(FollowPersonalTag(follow=f, tag=vip) for f in follows[:10])
    noted = [f.customer_id for f in follows[10:15]]
    CustomerNote.objects.bulk_create(
        CustomerNote(customer_id=c, staff=leaver, body=f"Call back about order {c}") for c in noted
    )
    TransferPolicy.objects.create(
        strategy=TransferPolicy.Strategy.SUCCESSOR,
        successor=successor,
        on_refusal=TransferPolicy.OnRefusal.POOL,
    )

    # The member resigns in WeCom: delete_user reaches us and the job runs at once.
    resigned = play(admin, "member_resign", userid="user1")
    assert (resigned["customers"], resigned["groups"]) == (CUSTOMERS, GROUPS)
    assert set(CallbackInbox.objects.values_list("status", flat=True)) == {CallbackInbox.Status.DONE}
    leaver.refresh_from_db()
    assert leaver.status == Staff.Status.DEPARTED and leaver.departed_at is not None

    [job] = TransferJob.objects.filter(handover=leaver)
    assert (job.kind, job.trigger, job.strategy) == ("resigned", "callback", "successor")
    sent = calls(RESIGNED_CALL)
    assert len(sent) == 3 and all(c.errcode == 0 for c in sent)
    assert sorted(len(c.body["external_userid"]) for c in sent) == [50, 100, 100]
    assert {(c.body["handover_userid"], c.body["takeover_userid"]) for c in sent} == {("user1", "user2")}
    assert SandboxTransfer.objects.filter(status=2).count() == CUSTOMERS
    assert TransferItem.objects.filter(job=job, status=TransferItem.Status.WAITING).count() == CUSTOMERS

    # The groups move to the successor (4 groups: one call), in WeCom and in our tables.
    from groups.transfers import group_transfers_send

    group_transfers_send()
    assert 1 <= len(calls(GROUP_CALL)) <= 2  # a second round finds nothing left to send
    assert all(c.errcode == 0 for c in calls(GROUP_CALL))
    assert set(GroupTransfer.objects.values_list("status", flat=True)) == {GroupTransfer.Status.DONE}
    assert GroupTransfer.objects.filter(job=job).count() == GROUPS
    owners = SandboxGroupChat.objects.filter(name__startswith="Leaver's group").values_list(
        "owner", flat=True
    )
    assert list(owners) == ["user2"] * GROUPS
    assert GroupChat.objects.filter(owner=successor).count() == GROUPS
    assert not GroupChat.objects.filter(owner=leaver).exists()

    # Running the job again, planning again, and re-sending batches hand nobody over twice.
    from customers.transfers.dispatch import transfer_batch_send, transfer_job_start
    from customers.transfers.planning import departure_plan

    assert departure_plan(staff_id=leaver.pk, trigger=TransferJob.Trigger.ADMIN) is None
    transfer_job_start(job_id=job.pk)
    for batch_id in TransferBatch.objects.filter(job=job).values_list("pk", flat=True):
        transfer_batch_send(batch_id=batch_id)
    # A worker that died mid-call, after WeCom had started the hand-over: its batch is found
    # "calling" past its lease; WeCom's own results settle it without a second call.
    stuck = TransferBatch.objects.filter(job=job).order_by("id").first()
    TransferBatch.objects.filter(pk=stuck.pk).update(
        status=TransferBatch.Status.CALLING,
        claimed_at=timezone.now() - timedelta(seconds=settings.TRANSFER_CLAIM_LEASE + 60),
    )
    TransferItem.objects.filter(batch=stuck).update(status=TransferItem.Status.SENDING)
    transfer_batch_send(batch_id=stuck.pk)
    assert len(calls(RESIGNED_CALL)) == 3
    assert SandboxTransfer.objects.count() == CUSTOMERS and transferred_once()
    assert TransferItem.objects.filter(batch=stuck, status=TransferItem.Status.WAITING).count() == 100
    assert TransferJob.objects.filter(handover=leaver).count() == 1

    # One customer refuses the successor in WeChat: transfer_fail reaches us, the policy pools them.
    refuser = follows[-1]
    play(admin, "transfer_refuse", external_userid=refuser.customer.external_userid)
    fail = SandboxCallback.objects.get(change_type="transfer_fail")
    assert fail.status == SandboxCallback.Status.DELIVERED
    assert CallbackInbox.objects.filter(
        change_type="transfer_fail", status=CallbackInbox.Status.DONE
    ).exists()
    refused = TransferItem.objects.get(job=job, follow=refuser)
    assert refused.status in {TransferItem.Status.REFUSED, TransferItem.Status.POOLED}
    entry = PoolEntry.objects.get(customer=refuser.customer, claimed_at__isnull=True)
    assert entry.reason == PoolEntry.Reason.REFUSED

    # A day later on the sandbox's clock, WeCom's results make every item final.
    play(admin, "advance_time", seconds=86400 + 60)
    from customers.transfers.results import transfer_job_counts, transfer_results_sync

    transfer_results_sync(job_id=job.pk)
    transfer_results_sync(job_id=job.pk)  # applying the same results twice changes nothing
    statuses = dict(TransferItem.objects.filter(job=job).values_list("follow_id", "status"))
    assert set(statuses.values()) <= FINAL
    assert sum(s == TransferItem.Status.DONE for s in statuses.values()) == CUSTOMERS - 1
    job.refresh_from_db()
    assert job.status == TransferJob.Status.DONE and job.finished_at is not None
    counts = transfer_job_counts(job)
    assert counts  # the admin's progress bar reads these
    assert SandboxTransfer.objects.filter(status=1).count() == CUSTOMERS - 1
    assert SandboxTransfer.objects.filter(status=3).count() == 1
    assert len(calls(RESIGNED_CALL)) == 3 and transferred_once()

    # History kept: the leaver's follows closed as transferred, the successor's opened.
    moved = [f.customer_id for f in follows[:-1]]
    assert (
        Follow.objects.filter(staff=leaver, customer_id__in=moved, status=Follow.Status.TRANSFERRED).count()
        == CUSTOMERS - 1
    )
    assert (
        Follow.objects.filter(staff=successor, customer_id__in=moved, status=Follow.Status.ACTIVE).count()
        == CUSTOMERS - 1
    )
    assert not Follow.objects.filter(staff=successor, customer=refuser.customer_id).exists()

    # What WeCom drops, we keep: the personal tags and the notes are the successor's now.
    tagged = FollowPersonalTag.objects.filter(
        follow__staff=successor, follow__customer_id__in=[f.customer_id for f in follows[:10]]
    ).select_related("tag")
    assert len(tagged) == 10
    assert {(t.tag.staff_id, t.tag.group_name, t.tag.name) for t in tagged} == {
        (successor.pk, "Mine", "VIP follow-up")
    }
    assert CustomerNote.objects.filter(customer_id__in=noted, staff=successor).count() == len(noted)

    # The successor hears about it once, by app message.
    summaries = SandboxCall.objects.filter(path="message/send", errcode=0, body__touser="user2")
    assert summaries.count() == 1
    assert SandboxMember.objects.get(corp_id=corp.corp_id, userid="user1").status == 5


def test_an_onjob_transfer_of_a_customer_moved_twice_is_refused_before_wecom_is_called(corp):
    from customers.models import TransferItem as Item
    from customers.transfers.dispatch import transfer_job_start
    from customers.transfers.onjob import onjob_transfer_create

    colleague = Staff.objects.get(userid="user3")
    successor = Staff.objects.get(userid="user2")
    kept, twice, _other = Follow.objects.filter(staff=colleague).order_by("id")

    # ``twice`` went user3 → user2 30 days ago and back 10 days ago (on-job, both taken over).
    back = Follow.objects.create(
        customer=twice.customer,
        staff=successor,
        added_at=timezone.now() - timedelta(days=30),
        status=Follow.Status.TRANSFERRED,
        status_changed_at=timezone.now() - timedelta(days=10),
    )
    for days, follow, takeover in ((30, twice, successor), (10, back, colleague)):
        at = timezone.now() - timedelta(days=days)
        past = TransferJob.objects.create(
            kind=TransferJob.Kind.ONJOB,
            status=TransferJob.Status.DONE,
            trigger=TransferJob.Trigger.ADMIN,
            handover=follow.staff,
            takeover=takeover,
            started_at=at,
            finished_at=at,
        )
        item = Item.objects.create(
            job=past,
            customer=twice.customer,
            follow=follow,
            takeover=takeover,
            status=Item.Status.DONE,
            takeover_at=at,
        )
        Item.objects.filter(pk=item.pk).update(created_at=at - timedelta(days=1), updated_at=at)

    job = onjob_transfer_create(
        handover=colleague,
        takeover=successor,
        customer_ids=[kept.customer_id, twice.customer_id],
        message="Your new adviser will be in touch.",
        actor=None,
        trigger=TransferJob.Trigger.ADMIN,
    )
    job.refresh_from_db()
    if job.status == TransferJob.Status.PLANNED:  # not started after the plan's commit
        transfer_job_start(job_id=job.pk)

    # WeCom heard of the allowed customer only.
    [call] = calls(ONJOB_CALL)
    assert call.body["external_userid"] == [kept.customer.external_userid]
    assert call.body["transfer_success_msg"] == "Your new adviser will be in touch."
    assert list(SandboxTransfer.objects.values_list("external_userid", flat=True)) == [
        kept.customer.external_userid
    ]
    # The other is listed on the job with the reason, not dropped.
    blocked = Item.objects.get(job=job, customer=twice.customer)
    assert blocked.status == Item.Status.BLOCKED
    assert blocked.reason in {Item.Reason.MAX_TRANSFERS, Item.Reason.PROTECTED}
    assert blocked.get_reason_display()
    assert Item.objects.get(job=job, customer=kept.customer).status == Item.Status.WAITING
    assert Customer.objects.get(pk=twice.customer_id).follows.get(staff=colleague).status == "active"
