"""Transfer batches handed to WeCom exactly once, against the sandbox over HTTP.

The sandbox records every call it receives (``SandboxCall``) and every transfer it started
(``SandboxTransfer``): the checks count those. Jobs, items and batches are written directly, as
the planner would write them; Celery runs eagerly, so what a start queues after commit runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from customers.models import (
    Customer,
    CustomerEvent,
    CustomerNote,
    Follow,
    FollowPersonalTag,
    PersonalTag,
    TransferBatch,
    TransferItem,
    TransferJob,
)
from customers.transfers.dispatch import (
    transfer_batch_send,
    transfer_dispatch_sweep,
    transfer_job_start,
)
from scrm.org.models import Department, Staff
from scrm.sandbox.models import SandboxCall, SandboxMember, SandboxTransfer
from scrm.sandbox.services import sandbox_contacts_add, sandbox_corp_create, sandbox_faults_set
from scrm.wecom.client import wecom_client, wecom_clients_close
from tests.wecom.conftest import eager_celery  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

RESIGNED_CALL = "externalcontact/resigned/transfer_customer"
ONJOB_CALL = "externalcontact/transfer_customer"


@dataclass
class World:
    corp: object
    dept: Department
    staff: dict[str, Staff]
    follows: list[Follow]  # the handover's, in customer order

    def customer_ids(self) -> list[int]:
        return [f.customer_id for f in self.follows]


def world_build(settings, live_server, *, customers: int, members: int = 3, resigned: bool = True) -> World:
    """A sandbox corp whose ``user1`` holds ``customers`` customers (and has left, unless
    ``resigned`` is false), mirrored in our tables: staff in one department, customers and the
    handover's follows with a remark, a personal tag on each and a note on the first few."""
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    wecom_clients_close()
    cache.clear()
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID,
        contact_secret=settings.WECOM_SECRET,
        agent_secret=settings.WECOM_AGENT_SECRET,
        agentid=settings.WECOM_AGENT_ID,
        members=members,
        contacts_per_member=0,
    )
    contacts = sandbox_contacts_add(member=corp.members[0], count=customers)
    now = timezone.now()
    if resigned:
        SandboxMember.objects.filter(corp_id=corp.corp_id, userid="user1").update(
            status=5, dimission_time=int(time.time())
        )
    dept = Department.objects.create(wecom_id=2, name="Sales", path="/1/2/")
    staff = {
        f"user{i}": Staff.objects.create(
            userid=f"user{i}",
            name=f"Member {i}",
            main_department=dept,
            status=Staff.Status.DEPARTED if resigned and i == 1 else Staff.Status.ACTIVE,
            departed_at=now if resigned and i == 1 else None,
        )
        for i in range(1, members + 1)
    }
    Customer.objects.bulk_create(
        Customer(external_userid=c.external_userid, name=c.name, first_added_at=now - timedelta(days=30))
        for c in contacts
    )
    ids = dict(Customer.objects.values_list("external_userid", "id"))
    Follow.objects.bulk_create(
        Follow(
            customer_id=ids[c.external_userid],
            staff=staff["user1"],
            added_at=now - timedelta(days=30),
            add_way=Follow.AddWay.QR_CODE,
            remark=f"remark {c.name}",
            description="added in the sandbox",
            remark_mobiles=["13800000000"],
        )
        for c in contacts
    )
    follows = list(Follow.objects.filter(staff=staff["user1"]).order_by("customer_id"))
    vip = PersonalTag.objects.create(staff=staff["user1"], group_name="Mine", name="VIP")
    FollowPersonalTag.objects.bulk_create(FollowPersonalTag(follow=f, tag=vip) for f in follows)
    CustomerNote.objects.bulk_create(
        CustomerNote(customer_id=f.customer_id, staff=staff["user1"], body=f"note {i}")
        for i, f in enumerate(follows[:5])
    )
    return World(corp=corp, dept=dept, staff=staff, follows=follows)


def job_plan(
    world: World,
    *,
    takeover: str = "user2",
    follows: list[Follow] | None = None,
    kind: str = TransferJob.Kind.RESIGNED,
    on_refusal: str = "pool",
    strategy: str = "successor",
    message: str = "",
) -> TransferJob:
    """What the planner writes: a planned job, one item per follow, batches of 100."""
    follows = world.follows if follows is None else follows
    job = TransferJob.objects.create(
        kind=kind,
        trigger=TransferJob.Trigger.CALLBACK
        if kind == TransferJob.Kind.RESIGNED
        else TransferJob.Trigger.ADMIN,
        handover=world.staff["user1"],
        takeover=world.staff[takeover],
        strategy=strategy,
        on_refusal=on_refusal,
        transfer_message=message,
    )
    for start in range(0, len(follows), 100):
        batch = TransferBatch.objects.create(job=job, takeover=world.staff[takeover])
        TransferItem.objects.bulk_create(
            TransferItem(
                job=job, customer_id=f.customer_id, follow=f, takeover=world.staff[takeover], batch=batch
            )
            for f in follows[start : start + 100]
        )
    return job


def calls(path: str = RESIGNED_CALL) -> list[SandboxCall]:
    return list(SandboxCall.objects.filter(path=path).order_by("id"))


def transferred_once() -> bool:
    counts: dict[str, int] = {}
    for external_userid in SandboxTransfer.objects.values_list("external_userid", flat=True):
        counts[external_userid] = counts.get(external_userid, 0) + 1
    return all(n == 1 for n in counts.values())


def statuses(job: TransferJob) -> dict[str, int]:
    found: dict[str, int] = {}
    for status in TransferItem.objects.filter(job=job).values_list("status", flat=True):
        found[status] = found.get(status, 0) + 1
    return found


@pytest.fixture
def world(settings, live_server):
    yield world_build(settings, live_server, customers=250)
    wecom_clients_close()


def test_250_customers_go_in_3_calls_and_a_second_start_sends_nothing(world, eager_celery):  # noqa: F811
    job = job_plan(world)

    assert transfer_job_start(job_id=job.pk) == 3

    made = calls()
    assert len(made) == 3
    assert sorted(len(c.body["external_userid"]) for c in made) == [50, 100, 100]
    assert {(c.body["handover_userid"], c.body["takeover_userid"]) for c in made} == {("user1", "user2")}
    assert statuses(job) == {"waiting": 250}
    assert SandboxTransfer.objects.filter(status=2).count() == 250
    job.refresh_from_db()
    assert job.status == TransferJob.Status.WAITING and job.started_at is not None
    assert set(TransferBatch.objects.filter(job=job).values_list("status", flat=True)) == {"done"}
    item = TransferItem.objects.filter(job=job).first()
    assert timedelta(hours=23) < item.takeover_at - timezone.now() <= timedelta(hours=24)
    assert CustomerEvent.objects.filter(type=CustomerEvent.Type.TRANSFER_STARTED).count() == 250

    # Running the job again, or a duplicate delivery of a batch's task, calls WeCom no more.
    assert transfer_job_start(job_id=job.pk) == 0
    for batch_id in TransferBatch.objects.filter(job=job).values_list("pk", flat=True):
        assert transfer_batch_send(batch_id=batch_id) is None
    assert len(calls()) == 3
    assert transferred_once()


def test_a_planned_job_is_not_sent_until_started(world):
    job = job_plan(world, follows=world.follows[:3])
    batch = TransferBatch.objects.get(job=job)
    assert transfer_batch_send(batch_id=batch.pk) is None
    assert calls() == []
    assert statuses(job) == {"planned": 3}


def test_per_customer_errcodes_are_recorded(world, eager_celery):  # noqa: F811
    # The second customer already waits for another colleague (WeCom's, or an earlier run's).
    second = world.follows[1].customer.external_userid
    wecom_client().resigned_transfer_customer(
        handover_userid="user1", takeover_userid="user3", external_userids=[second]
    )
    # The third is not the departed member's customer any more at WeCom.
    third = world.follows[2].customer.external_userid
    from scrm.sandbox.models import SandboxFollow

    SandboxFollow.objects.filter(contact__external_userid=third).delete()
    job = job_plan(world, follows=world.follows[:3])

    transfer_job_start(job_id=job.pk)

    items = {i.customer_id: i for i in TransferItem.objects.filter(job=job)}
    first, in_progress, gone = (items[f.customer_id] for f in world.follows[:3])
    assert (first.status, first.errcode) == ("waiting", None)
    assert (in_progress.status, in_progress.errcode, in_progress.reason) == ("waiting", 40129, "in_progress")
    assert (gone.status, gone.errcode, gone.reason) == ("failed", 40131, "not_followed")
    # Only the customer whose hand-over this call started has a "started" event.
    assert list(
        CustomerEvent.objects.filter(type=CustomerEvent.Type.TRANSFER_STARTED).values_list(
            "customer_id", flat=True
        )
    ) == [first.customer_id]


def test_a_transient_error_gives_the_claim_back_and_the_retry_sends_once(world):
    job = job_plan(world, follows=world.follows[:10])
    transfer_job_start(job_id=job.pk)  # not eager: nothing is sent yet
    batch = TransferBatch.objects.get(job=job)
    sandbox_faults_set(fail_next=1, fail_errcode=-1, fail_paths=[RESIGNED_CALL])

    error = transfer_batch_send(batch_id=batch.pk)

    assert error and "-1" in error
    batch.refresh_from_db()
    assert batch.status == "pending" and statuses(job) == {"planned": 10}
    assert SandboxTransfer.objects.count() == 0
    assert transfer_batch_send(batch_id=batch.pk) is None
    assert statuses(job) == {"waiting": 10}
    assert [c.errcode for c in calls()] == [-1, 0]


def test_a_permanent_error_fails_the_items_with_the_errcode(world):
    # WeCom says the member has not left: the resigned call is refused as a whole.
    SandboxMember.objects.filter(userid="user1").update(status=1)
    job = job_plan(world, follows=world.follows[:4])
    transfer_job_start(job_id=job.pk)
    batch = TransferBatch.objects.get(job=job)

    error = transfer_batch_send(batch_id=batch.pk)

    assert "40097" in error
    assert set(TransferItem.objects.filter(job=job).values_list("status", "errcode", "reason")) == {
        ("failed", 40097, "wecom_error")
    }
    batch.refresh_from_db()
    assert batch.status == "done" and "40097" in batch.error
    job.refresh_from_db()
    assert job.status == TransferJob.Status.DONE and job.finished_at is not None


def _killed_after_the_call(world, job: TransferJob, batch: TransferBatch, how_many: int) -> None:
    """The call reached WeCom for the first ``how_many`` customers of ``batch``; the worker died
    before recording anything, and its claim is older than the lease."""
    items = list(TransferItem.objects.filter(batch=batch).order_by("id").select_related("customer"))
    wecom_client().resigned_transfer_customer(
        handover_userid="user1",
        takeover_userid="user2",
        external_userids=[i.customer.external_userid for i in items[:how_many]],
    )
    TransferBatch.objects.filter(pk=batch.pk).update(
        status=TransferBatch.Status.CALLING, claimed_at=timezone.now() - timedelta(hours=1)
    )
    TransferItem.objects.filter(batch=batch).update(status=TransferItem.Status.SENDING)
    TransferJob.objects.filter(pk=job.pk).update(status=TransferJob.Status.RUNNING, started_at=timezone.now())


def test_retry_half_way_transfers_no_customer_twice(world, eager_celery):  # noqa: F811
    job = job_plan(world, follows=world.follows[:150])
    first, second = TransferBatch.objects.filter(job=job).order_by("id")
    _killed_after_the_call(world, job, first, 100)
    assert len(calls()) == 1

    # The second batch goes out with the job's start; the first is the sweep's to reconcile.
    assert transfer_job_start(job_id=job.pk) == 1
    assert len(calls()) == 2
    assert transfer_dispatch_sweep() == 1

    assert len(calls()) == 2  # found at WeCom: not called again
    assert statuses(job) == {"waiting": 150}
    assert SandboxTransfer.objects.count() == 150 and transferred_once()
    first.refresh_from_db()
    assert first.status == "done"
    assert CustomerEvent.objects.filter(type=CustomerEvent.Type.TRANSFER_STARTED).count() == 150
    assert transfer_dispatch_sweep() == 0


def test_a_call_that_reached_wecom_for_some_is_sent_again_for_the_others_only(world, eager_celery):  # noqa: F811
    job = job_plan(world, follows=world.follows[:100])
    batch = TransferBatch.objects.get(job=job)
    _killed_after_the_call(world, job, batch, 60)

    assert transfer_batch_send(batch_id=batch.pk) is None  # reconciles, then queues the rest

    made = calls()
    assert len(made) == 2 and len(made[1].body["external_userid"]) == 40
    assert statuses(job) == {"waiting": 100}
    assert SandboxTransfer.objects.count() == 100 and transferred_once()


def test_a_claim_still_within_its_lease_is_left_alone(world):
    job = job_plan(world, follows=world.follows[:5])
    batch = TransferBatch.objects.get(job=job)
    TransferJob.objects.filter(pk=job.pk).update(status=TransferJob.Status.RUNNING)
    TransferBatch.objects.filter(pk=batch.pk).update(status="calling", claimed_at=timezone.now())
    TransferItem.objects.filter(batch=batch).update(status="sending")

    assert transfer_batch_send(batch_id=batch.pk) is None
    assert transfer_dispatch_sweep() == 0
    assert calls() == [] and statuses(job) == {"sending": 5}


def test_onjob_jobs_use_transfer_customer_with_the_message(settings, live_server, eager_celery):  # noqa: F811
    world = world_build(settings, live_server, customers=3, resigned=False)
    job = job_plan(world, kind=TransferJob.Kind.ONJOB, message="Member 2 takes over from here")

    transfer_job_start(job_id=job.pk)

    [call] = calls(ONJOB_CALL)
    assert call.body["transfer_success_msg"] == "Member 2 takes over from here"
    assert calls() == []
    assert statuses(job) == {"waiting": 3}
    wecom_clients_close()


def test_a_call_without_an_answer_is_reconciled_not_repeated(world, settings):
    settings.WECOM_HTTP_TIMEOUT = 1
    settings.TRANSFER_CLAIM_LEASE = 0  # the lease is then twice the HTTP timeout: two seconds
    wecom_clients_close()
    job = job_plan(world, follows=world.follows[:20])
    transfer_job_start(job_id=job.pk)
    batch = TransferBatch.objects.get(job=job)
    # WeCom starts the transfers but answers after our client has given up.
    sandbox_faults_set(timeout_rate=1.0, timeout_ms=1500, fail_paths=[RESIGNED_CALL])

    error = transfer_batch_send(batch_id=batch.pk)

    assert error and "timed out" in error
    batch.refresh_from_db()
    assert batch.status == "calling" and statuses(job) == {"sending": 20}
    assert transfer_batch_send(batch_id=batch.pk) is None  # within the lease: left alone
    time.sleep(2.5)  # the call has ended at WeCom's side, and the lease is over
    sandbox_faults_set()

    assert transfer_batch_send(batch_id=batch.pk) is None

    assert len(calls()) == 1
    assert statuses(job) == {"waiting": 20}
    assert SandboxTransfer.objects.count() == 20 and transferred_once()
    batch.refresh_from_db()
    assert batch.status == "done"
