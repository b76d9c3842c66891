"""WeCom's transfer results applied, against the sandbox over HTTP: completions after the
simulated 24 hours, refusals by callback and by poll (handled once), a takeover at WeCom's
customer limit, the successor's notice.

``transfer_fail`` callbacks are the sandbox's own (its outbox row, encrypted and posted to our
``/wecom/callback/`` as WeCom posts them).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from customers.models import (
    Customer,
    CustomerEvent,
    CustomerNote,
    Follow,
    FollowPersonalTag,
    FollowTag,
    PersonalTag,
    PoolEntry,
    TransferItem,
    TransferJob,
    TransferNotice,
    TransferPolicy,
)
from customers.signals import follows_transferred
from customers.transfers.dispatch import transfer_job_start
from customers.transfers.notices import transfer_notices_send
from customers.transfers.results import (
    RESULTS_TASK_NAME,
    transfer_job_counts,
    transfer_results_schedule_ensure,
    transfer_results_sync,
)
from groups.models import GroupTransfer
from scrm.sandbox.clock import clock_advance, clock_reset
from scrm.sandbox.models import SandboxCall, SandboxCallback, SandboxTransfer
from scrm.sandbox.outreach import outreach_rules_set, transfer_refuse
from scrm.wecom.client import wecom_clients_close
from tests.customers.test_transfer_dispatch import job_plan, statuses, world_build
from tests.factories import GroupChatFactory, TagFactory
from tests.wecom.conftest import deliver, eager_celery  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

DAY = 24 * 3600 + 60


@pytest.fixture
def small(settings, live_server):
    """Three members, ``user1`` gone with 3 customers; refusals go to the next colleague."""
    world = world_build(settings, live_server, customers=3)
    TransferPolicy.objects.create(strategy="round_robin", on_refusal="next")
    clock_reset()
    yield world
    clock_reset()
    wecom_clients_close()


def failed_events(customer_id: int) -> int:
    return CustomerEvent.objects.filter(
        customer_id=customer_id, type=CustomerEvent.Type.TRANSFER_FAILED
    ).count()


def transfer_fail_xml(external_userid: str) -> str:
    [row] = SandboxCallback.objects.filter(change_type="transfer_fail", xml__contains=external_userid)
    return row.xml


def notices() -> list[SandboxCall]:
    return list(SandboxCall.objects.filter(path="message/send", errcode=0).order_by("id"))


def test_after_24_hours_every_customer_is_with_the_successor(settings, live_server, eager_celery):  # noqa: F811
    world = world_build(settings, live_server, customers=250)
    clock_reset()
    gold = TagFactory(name="gold")
    FollowTag.objects.create(follow=world.follows[0], tag=gold)
    job = job_plan(world)
    chat = GroupChatFactory(owner=world.staff["user1"])
    GroupTransfer.objects.create(
        job=job,
        group=chat,
        old_owner=world.staff["user1"],
        new_owner=world.staff["user2"],
        due_on=timezone.now(),
    )
    moved = []

    def receiver(sender, moves, **kwargs):
        moved.extend(moves)

    follows_transferred.connect(receiver)
    try:
        transfer_job_start(job_id=job.pk)
        assert statuses(job) == {"waiting": 250}
        assert transfer_results_sync() == 0  # WeCom still waits
        clock_advance(DAY)

        assert transfer_results_sync() == 250
    finally:
        follows_transferred.disconnect(receiver)

    assert statuses(job) == {"done": 250}
    counts = transfer_job_counts(job)
    assert counts["done"] == 250 and sum(counts.values()) == 250
    job.refresh_from_db()
    assert job.status == TransferJob.Status.DONE and job.finished_at is not None
    old = Follow.objects.filter(staff=world.staff["user1"])
    assert set(old.values_list("status", flat=True)) == {"transferred"}
    new = Follow.objects.filter(staff=world.staff["user2"])
    assert new.count() == 250
    assert set(new.values_list("status", "add_way", "oper_userid", "description")) == {
        ("active", 202, "user1", "added in the sandbox")
    }
    first = new.get(customer_id=world.follows[0].customer_id)
    assert first.remark == world.follows[0].remark and first.remark_mobiles == ["13800000000"]
    taken_at = TransferItem.objects.get(job=job, customer_id=first.customer_id).takeover_at
    assert first.added_at == taken_at
    # Corp tags as WeCom copies them; personal tags and notes kept (WeCom loses those).
    assert list(FollowTag.objects.filter(follow=first).values_list("tag_id", flat=True)) == [gold.pk]
    assert Customer.objects.get(pk=first.customer_id).tag_ids == [gold.pk]
    vip = PersonalTag.objects.get(staff=world.staff["user2"], group_name="Mine", name="VIP")
    assert FollowPersonalTag.objects.filter(tag=vip, follow__in=new).count() == 250
    assert set(CustomerNote.objects.values_list("staff__userid", flat=True)) == {"user2"}
    # One timeline event per customer, and the moves for the campaigns app.
    events = CustomerEvent.objects.filter(type=CustomerEvent.Type.TRANSFERRED)
    assert events.count() == 250
    assert events.first().payload == {
        "userid": "user1",
        "from": world.staff["user1"].pk,
        "to": world.staff["user2"].pk,
        "job": job.pk,
    }
    assert len(moved) == 250 and {m.new_staff_id for m in moved} == {world.staff["user2"].pk}
    assert {m.new_follow_id for m in moved} == set(new.values_list("pk", flat=True))

    # The successor heard once, when the customers were handed over.
    [notice] = notices()
    assert notice.body["touser"] == "user2" and notice.body["msgtype"] == "text"
    assert notice.body["text"]["content"] == (
        "250 customers of Member 1 will join you within 24 hours. "
        "You also become the owner of 1 group of Member 1."
    )
    assert transfer_notices_send(job_id=job.pk) == 0
    row = TransferNotice.objects.get(job=job)
    assert (row.staff.userid, row.customers, row.groups) == ("user2", 250, 1) and row.sent_at

    # A second poll changes nothing.
    assert transfer_results_sync() == 0
    assert CustomerEvent.objects.filter(type=CustomerEvent.Type.TRANSFERRED).count() == 250
    assert Follow.objects.count() == 500


def test_a_refusal_by_callback_goes_to_the_next_colleague_once(small, deliver, eager_celery):  # noqa: F811
    job = job_plan(small, on_refusal="next", strategy="round_robin")
    transfer_job_start(job_id=job.pk)
    refusing = small.follows[0].customer

    transfer_refuse(corp_id=small.corp.corp_id, external_userid=refusing.external_userid)
    xml = transfer_fail_xml(refusing.external_userid)
    assert deliver(xml).status_code == 200

    first, again = TransferItem.objects.filter(customer=refusing).order_by("id")
    assert (first.status, first.reason, first.takeover.userid) == ("refused", "customer_refused", "user2")
    assert (again.status, again.attempt, again.takeover.userid) == ("waiting", 2, "user3")
    assert (
        SandboxTransfer.objects.filter(
            external_userid=refusing.external_userid, takeover_userid="user3"
        ).count()
        == 1
    )
    assert failed_events(refusing.pk) == 1
    event = CustomerEvent.objects.get(type=CustomerEvent.Type.TRANSFER_FAILED)
    assert event.staff.userid == "user2" and event.payload["fail_reason"] == "customer_refused"

    # The same callback again, and the poll seeing status 3: nothing more.
    assert deliver(xml).status_code == 200
    transfer_results_sync()
    assert TransferItem.objects.filter(customer=refusing).count() == 2
    assert failed_events(refusing.pk) == 1
    assert SandboxTransfer.objects.filter(external_userid=refusing.external_userid).count() == 2
    assert PoolEntry.objects.count() == 0


def test_a_refusal_seen_by_the_poll_first_is_not_handled_again_by_the_callback(
    small,
    deliver,  # noqa: F811
    eager_celery,  # noqa: F811
):
    job = job_plan(small, on_refusal="pool", strategy="round_robin")
    transfer_job_start(job_id=job.pk)
    refusing = small.follows[1].customer
    transfer_refuse(corp_id=small.corp.corp_id, external_userid=refusing.external_userid)

    assert transfer_results_sync() == 1

    item = TransferItem.objects.get(customer=refusing)
    assert item.status == "refused"
    entry = PoolEntry.objects.get()
    assert (entry.customer_id, entry.reason, entry.source_item_id) == (refusing.pk, "refused", item.pk)
    assert failed_events(refusing.pk) == 1

    assert deliver(transfer_fail_xml(refusing.external_userid)).status_code == 200
    assert failed_events(refusing.pk) == 1
    assert PoolEntry.objects.count() == 1 and TransferItem.objects.filter(customer=refusing).count() == 1
    job.refresh_from_db()
    assert job.status == TransferJob.Status.WAITING  # the other two still wait


def test_a_takeover_at_its_limit_passes_the_customer_to_the_next_colleague(small, eager_celery):  # noqa: F811
    outreach_rules_set(member_customer_limit=2)
    try:
        job = job_plan(small, on_refusal="pool", strategy="round_robin")
        transfer_job_start(job_id=job.pk)
        clock_advance(DAY)  # user2 takes two customers, then is at WeCom's limit

        assert transfer_results_sync() == 3
    finally:
        outreach_rules_set(member_customer_limit=50_000)

    assert statuses(job) == {"done": 2, "takeover_full": 1, "waiting": 1}
    full = TransferItem.objects.get(job=job, status="takeover_full")
    again = TransferItem.objects.get(job=job, status="waiting")
    assert (full.takeover.userid, full.reason) == ("user2", "customer_limit_exceed")
    assert (again.customer_id, again.takeover.userid, again.attempt) == (full.customer_id, "user3", 2)
    assert SandboxTransfer.objects.filter(takeover_userid="user3", status=2).count() == 1
    assert PoolEntry.objects.count() == 0
    assert failed_events(full.customer_id) == 1


def test_an_onjob_refusal_leaves_the_customer_with_the_colleague(settings, live_server, eager_celery):  # noqa: F811
    world = world_build(settings, live_server, customers=2, resigned=False)
    clock_reset()
    job = job_plan(world, kind=TransferJob.Kind.ONJOB)
    transfer_job_start(job_id=job.pk)
    refusing = world.follows[0]
    transfer_refuse(corp_id=world.corp.corp_id, external_userid=refusing.customer.external_userid)

    assert transfer_results_sync() == 1

    assert statuses(job) == {"refused": 1, "waiting": 1}
    assert TransferItem.objects.filter(customer_id=refusing.customer_id).count() == 1
    assert PoolEntry.objects.count() == 0
    refusing.refresh_from_db()
    assert refusing.status == "active"
    wecom_clients_close()


def test_a_customer_wecom_never_lists_ends_without_a_record(small, eager_celery):  # noqa: F811
    job = job_plan(small, follows=small.follows[:1])
    TransferJob.objects.filter(pk=job.pk).update(status=TransferJob.Status.RUNNING)
    # In progress elsewhere (40129) and never listed for this pair, two days on.
    TransferItem.objects.filter(job=job).update(
        status="waiting", takeover_at=timezone.now() - timedelta(hours=25)
    )

    assert transfer_results_sync() == 1

    assert statuses(job) == {"no_record": 1}
    job.refresh_from_db()
    assert job.status == TransferJob.Status.DONE


def test_the_results_poll_has_its_schedule():
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.filter(name=RESULTS_TASK_NAME).delete()
    assert transfer_results_schedule_ensure() is True
    task = PeriodicTask.objects.get(name=RESULTS_TASK_NAME)
    assert task.task == "customers.tasks.transfer_results_sync_task"
    assert task.interval.every == 30 * 60
    assert transfer_results_schedule_ensure() is False


def test_a_refused_or_missed_notice_is_sent_by_the_sweep_once(small, eager_celery):  # noqa: F811
    from customers.transfers.dispatch import transfer_dispatch_sweep
    from scrm.sandbox.services import sandbox_faults_set

    sandbox_faults_set(fail_next=1, fail_errcode=-1, fail_paths=["message/send"])
    job = job_plan(small)
    transfer_job_start(job_id=job.pk)
    notice = TransferNotice.objects.get(job=job)
    assert notice.claimed_at is None and notice.sent_at is None and "-1" in notice.error
    assert notices() == []

    transfer_dispatch_sweep()
    transfer_dispatch_sweep()

    [sent] = notices()
    assert sent.body["text"]["content"] == "3 customers of Member 1 will join you within 24 hours."

    # A job whose last two batches finished together, each seeing the other still open: no row.
    other = job_plan(small, follows=[], takeover="user3")
    TransferItem.objects.create(
        job=other, customer_id=small.follows[0].customer_id, takeover=small.staff["user3"], status="done"
    )
    TransferJob.objects.filter(pk=other.pk).update(status=TransferJob.Status.DONE)
    transfer_dispatch_sweep()
    transfer_dispatch_sweep()
    assert [n.body["touser"] for n in notices()] == ["user2", "user3"]


def test_a_departure_planned_by_the_policy_ends_with_every_customer_at_the_successor(
    settings,
    live_server,
    eager_celery,  # noqa: F811
):
    from customers.transfers.planning import departure_plan

    world = world_build(settings, live_server, customers=250)
    clock_reset()
    settings.TRANSFER_AUTO_START = True
    TransferPolicy.objects.create(strategy="successor", successor=world.staff["user3"])

    job = departure_plan(staff_id=world.staff["user1"].pk, trigger=TransferJob.Trigger.CALLBACK)

    made = SandboxCall.objects.filter(path="externalcontact/resigned/transfer_customer")
    assert made.count() == 3
    assert {c.body["takeover_userid"] for c in made} == {"user3"}
    assert statuses(job) == {"waiting": 250}
    clock_advance(DAY)
    assert transfer_results_sync() == 250
    assert Follow.objects.filter(staff=world.staff["user3"], status="active").count() == 250
    assert FollowPersonalTag.objects.filter(follow__staff=world.staff["user3"]).count() == 250
    assert CustomerNote.objects.filter(staff=world.staff["user3"]).count() == 5
    job.refresh_from_db()
    assert job.status == TransferJob.Status.DONE
    assert [n.body["touser"] for n in notices()] == ["user3"]


def test_the_dispatch_sweep_has_its_schedule():
    from django_celery_beat.models import PeriodicTask

    from customers.transfers.dispatch import SWEEP_TASK_NAME, transfer_dispatch_schedule_ensure

    PeriodicTask.objects.filter(name=SWEEP_TASK_NAME).delete()
    assert transfer_dispatch_schedule_ensure() is True
    task = PeriodicTask.objects.get(name=SWEEP_TASK_NAME)
    assert (task.task, task.interval.every) == ("customers.tasks.transfer_dispatch_sweep_task", 300)
