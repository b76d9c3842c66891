"""On-job transfers (在职继承): WeCom's rules checked before calling, blocked customers listed with
the reason, batches of 100, a segment as the source, and bad requests refused with a message.

The last tests run against the sandbox over HTTP: a customer already moved twice never reaches
``transfer_customer`` (the sandbox records every call it receives).
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone

from customers.models import (
    Customer,
    Follow,
    Segment,
    TransferBatch,
    TransferItem,
    TransferJob,
)
from customers.transfers import onjob
from customers.transfers.onjob import onjob_history, onjob_transfer_create
from scrm.org.models import AuditEntry, Staff
from tests.factories import CustomerFactory, FollowFactory, StaffFactory, UserFactory

pytestmark = pytest.mark.django_db

Status = TransferItem.Status
Reason = TransferItem.Reason


@pytest.fixture
def sc(company):
    return StaffFactory(userid="sc", name="Guide C", main_department=company.store_a)


def past_transfer(customer, *, days_ago: int, kind="onjob", handover, takeover, status=Status.DONE):
    """A transfer of ``customer`` that finished ``days_ago`` days ago, in a job of ``kind``."""
    at = timezone.now() - timedelta(days=days_ago)
    job = TransferJob.objects.create(
        kind=kind, status="done", trigger="admin", handover=handover, takeover=takeover, finished_at=at
    )
    item = TransferItem.objects.create(job=job, customer=customer, takeover=takeover, status=status)
    TransferItem.objects.filter(pk=item.pk).update(updated_at=at)
    return item


def followed_by(staff, n: int = 1, **follow) -> list[Customer]:
    customers = [CustomerFactory() for _ in range(n)]
    for customer in customers:
        FollowFactory(customer=customer, staff=staff, **follow)
    return customers


def test_each_customer_is_planned_or_blocked_with_the_first_rule_that_refuses_it(
    company, sc, django_capture_on_commit_callbacks
):
    sa, sb = company.sa, company.sb
    [ok] = followed_by(sa)
    [gone] = followed_by(
        sa, status=Follow.Status.DELETED_BY_CUSTOMER, status_changed_at=timezone.now()
    )  # no longer sa's contact
    [flying] = followed_by(sa)
    other_job = TransferJob.objects.create(kind="onjob", trigger="admin", handover=sa, takeover=sb)
    TransferItem.objects.create(
        job=other_job, customer=flying, follow=flying.follows.get(), takeover=sb, status=Status.WAITING
    )
    [shared] = followed_by(sa)
    FollowFactory(customer=shared, staff=sc)
    [twice] = followed_by(sa)
    past_transfer(twice, days_ago=200, handover=sb, takeover=sa)
    past_transfer(twice, days_ago=120, handover=sc, takeover=sa)
    [recent] = followed_by(sa)
    past_transfer(recent, days_ago=10, handover=sb, takeover=sa)
    [long_ago] = followed_by(sa)
    past_transfer(long_ago, days_ago=100, handover=sb, takeover=sa)
    # Resigned transfers do not count towards WeCom's on-job rules, nor do unfinished ones.
    [inherited] = followed_by(sa)
    past_transfer(inherited, days_ago=5, kind="resigned", handover=sb, takeover=sa)
    past_transfer(inherited, days_ago=3, kind="resigned", handover=sb, takeover=sa)
    past_transfer(inherited, days_ago=2, handover=sb, takeover=sa, status=Status.REFUSED)
    # A claim from an employed colleague used the on-job API: it counts.
    [claimed] = followed_by(sa)
    past_transfer(claimed, days_ago=20, kind="claim", handover=sb, takeover=sa)

    chosen = [ok, company.cb1, gone, flying, shared, twice, recent, long_ago, inherited, claimed]
    user = UserFactory(username="boss", is_superuser=True)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = onjob_transfer_create(
            handover=sa,
            takeover=sc,
            customer_ids=[c.pk for c in chosen] + [ok.pk],  # a repeated id counts once
            message=" Your new adviser is Guide C. ",
            actor=user,
            trigger="api",
        )

    items = {i.customer_id: i for i in TransferItem.objects.filter(job=job)}
    assert len(items) == len(chosen)
    outcome = {c.name: (items[c.pk].status, items[c.pk].reason, items[c.pk].errcode) for c in chosen}
    assert outcome == {
        ok.name: (Status.PLANNED, "", None),
        company.cb1.name: (Status.BLOCKED, Reason.NOT_FOLLOWED, None),
        gone.name: (Status.BLOCKED, Reason.NOT_FOLLOWED, None),
        flying.name: (Status.BLOCKED, Reason.IN_PROGRESS, None),
        shared.name: (Status.BLOCKED, Reason.SAME_STAFF, None),
        twice.name: (Status.BLOCKED, Reason.MAX_TRANSFERS, 40128),
        recent.name: (Status.BLOCKED, Reason.PROTECTED, 40128),
        long_ago.name: (Status.PLANNED, "", None),
        inherited.name: (Status.PLANNED, "", None),
        claimed.name: (Status.BLOCKED, Reason.PROTECTED, 40128),
    }
    # Planned items carry the handover's follow and a batch; blocked ones no batch.
    assert items[ok.pk].follow == ok.follows.get(staff=sa)
    assert items[company.cb1.pk].follow is None
    assert all((i.batch_id is not None) == (i.status == Status.PLANNED) for i in items.values())
    assert {i.takeover_id for i in items.values()} == {sc.pk}
    [batch] = TransferBatch.objects.filter(job=job)
    assert (batch.takeover, batch.items.count()) == (sc, 3)

    job.refresh_from_db()
    assert (job.kind, job.status, job.trigger) == ("onjob", "planned", "api")
    assert (job.handover, job.takeover, job.created_by) == (sa, sc, user)
    assert job.transfer_message == "Your new adviser is Guide C."
    entry = AuditEntry.objects.get(action="transfer_job.created", target_id=str(job.pk))
    assert entry.actor == user
    assert entry.details["planned"] == 3 and entry.details["batches"] == 1
    assert entry.details["blocked"] == {
        "not_followed": 2,
        "in_progress": 1,
        "same_staff": 1,
        "max_transfers": 1,
        "protected_90_days": 2,
    }
    # The job starts once the plan is committed.
    assert len(callbacks) == 1


def test_history_reads_our_finished_onjob_transfers(company, sc):
    [customer] = followed_by(company.sa)
    assert onjob_history([customer.pk]) == {}
    past_transfer(customer, days_ago=40, handover=company.sb, takeover=company.sa)
    last = past_transfer(customer, days_ago=30, handover=company.sa, takeover=company.sb)
    last.refresh_from_db()
    assert onjob_history([customer.pk]) == {customer.pk: (2, last.updated_at)}


def test_a_claim_from_a_holder_who_had_departed_does_not_count(company, sc):
    [customer] = followed_by(company.sa)
    Staff.objects.filter(pk=company.sb.pk).update(
        status="departed", departed_at=timezone.now() - timedelta(days=20)
    )
    company.sb.refresh_from_db()
    past_transfer(customer, days_ago=10, kind="claim", handover=company.sb, takeover=company.sa)
    assert onjob_history([customer.pk]) == {}


def test_a_segment_is_the_source(company, sc):
    segment = Segment.objects.create(name="Gold", rules={"tags_any": [company.gold.id]})
    job = onjob_transfer_create(handover=company.sa, takeover=sc, segment=segment)
    assert job.segment == segment
    [item] = TransferItem.objects.filter(job=job)
    assert (item.customer, item.status) == (company.ca1, Status.PLANNED)

    # The segment matches customers of other members too: they are listed, not dropped.
    everyone = Segment.objects.create(name="Everyone", rules={})
    job = onjob_transfer_create(handover=company.sb, takeover=sc, segment=everyone)
    rows = dict(TransferItem.objects.filter(job=job).values_list("customer_id", "reason"))
    assert rows == {company.ca1.pk: "not_followed", company.ca2.pk: "not_followed", company.cb1.pk: ""}


def test_customers_go_in_batches_of_100_filled_across_planning_rounds(company, sc, monkeypatch):
    monkeypatch.setattr(onjob, "PLAN_CHUNK", 70)  # several rounds of queries, batches still full
    customers = followed_by(company.sa, 250)
    job = onjob_transfer_create(handover=company.sa, takeover=sc, customer_ids=[c.pk for c in customers])
    sizes = [b.items.count() for b in TransferBatch.objects.filter(job=job).order_by("id")]
    assert sizes == [100, 100, 50]
    assert TransferItem.objects.filter(job=job, status=Status.PLANNED).count() == 250
    assert set(TransferBatch.objects.filter(job=job).values_list("takeover_id", flat=True)) == {sc.pk}


def test_planning_is_set_based(company, sc, django_assert_max_num_queries):
    customers = followed_by(company.sa, 300)
    with django_assert_max_num_queries(20):
        onjob_transfer_create(handover=company.sa, takeover=sc, customer_ids=[c.pk for c in customers])


def test_a_job_of_blocked_customers_only_is_done_at_once(company, sc, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = onjob_transfer_create(handover=company.sa, takeover=sc, customer_ids=[company.cb1.pk])
    assert job.status == "done" and job.finished_at is not None
    assert TransferItem.objects.get(job=job).reason == Reason.NOT_FOLLOWED
    assert callbacks == []


@pytest.mark.parametrize(
    "case, field",
    [
        ("same", "takeover"),
        ("takeover_departed", "takeover"),
        ("takeover_disabled", "takeover"),
        ("takeover_no_contact", "takeover"),
        ("handover_departed", "handover"),
        ("nothing", "customer_ids"),
        ("both", "customer_ids"),
        ("unknown", "customer_ids"),
        ("message", "message"),
        ("too_many", "customer_ids"),
        ("segment_too_big", "segment"),
        ("segment_empty", "segment"),
    ],
)
def test_requests_that_cannot_run_are_refused_with_a_message(company, sc, monkeypatch, case, field):
    monkeypatch.setattr(onjob, "ONJOB_MAX_CUSTOMERS", 2)
    kwargs = {"handover": company.sa, "takeover": sc, "customer_ids": [company.ca1.pk]}
    if case == "same":
        kwargs["takeover"] = company.sa
    elif case == "takeover_departed":
        Staff.objects.filter(pk=sc.pk).update(status="departed", departed_at=timezone.now())
        sc.refresh_from_db()
    elif case == "takeover_disabled":
        sc.status = "disabled"
    elif case == "takeover_no_contact":
        sc.contact_enabled = False
    elif case == "handover_departed":
        Staff.objects.filter(pk=company.sa.pk).update(status="departed", departed_at=timezone.now())
        company.sa.refresh_from_db()
    elif case == "nothing":
        kwargs["customer_ids"] = []
    elif case == "both":
        kwargs["segment"] = Segment.objects.create(name="All", rules={})
    elif case == "unknown":
        kwargs["customer_ids"] = [company.ca1.pk, 987654]
    elif case == "message":
        kwargs["message"] = "x" * 201
    elif case == "too_many":
        kwargs["customer_ids"] = [company.ca1.pk, company.ca2.pk, company.cb1.pk]
    elif case == "segment_too_big":
        kwargs["customer_ids"] = None
        kwargs["segment"] = Segment.objects.create(name="All", rules={})
    elif case == "segment_empty":
        kwargs["customer_ids"] = None
        kwargs["segment"] = Segment.objects.create(
            name="Nobody", rules={"tags_all": [company.gold.id, company.silver.id]}
        )
    with pytest.raises(ValidationError) as raised:
        onjob_transfer_create(**kwargs)
    assert field in raised.value.message_dict
    assert all(raised.value.message_dict[field])
    assert not TransferJob.objects.exists()


def test_the_departed_flow_is_named_for_a_departed_handover(company, sc):
    Staff.objects.filter(pk=company.sa.pk).update(status="departed", departed_at=timezone.now())
    company.sa.refresh_from_db()
    with pytest.raises(ValidationError) as raised:
        onjob_transfer_create(handover=company.sa, takeover=sc, customer_ids=[company.ca1.pk])
    assert "离职继承" in raised.value.message_dict["handover"][0]


def test_a_second_plan_for_the_same_customers_blocks_them_as_in_progress(company, sc):
    first = onjob_transfer_create(handover=company.sa, takeover=sc, customer_ids=[company.ca1.pk])
    second = onjob_transfer_create(handover=company.sa, takeover=company.sb, customer_ids=[company.ca1.pk])
    assert TransferItem.objects.get(job=first).status == Status.PLANNED
    item = TransferItem.objects.get(job=second)
    assert (item.status, item.reason) == (Status.BLOCKED, Reason.IN_PROGRESS)


# --- Against the sandbox ----------------------------------------------------------------------------


@pytest.fixture
def sandbox_corp(live_server, settings):
    """Two sandbox members with three customers each, our side filled by the real sync; Celery runs
    in-process so the job starts and its batches are sent as soon as the plan commits."""
    from scrm.sandbox.services import sandbox_corp_create
    from scrm.wecom.client import wecom_clients_close
    from scrm.wecom.sync import sync_run
    from tests.wecom.conftest import celery_app

    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    wecom_clients_close()
    cache.clear()
    sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID,
        contact_secret=settings.WECOM_SECRET,
        agent_secret=settings.WECOM_AGENT_SECRET,
        agentid=settings.WECOM_AGENT_ID,
        members=2,
        contacts_per_member=3,
    )
    run = sync_run(mode="full", trigger="command")
    assert run.status == "done", run.error
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = eager
    wecom_clients_close()


@pytest.mark.django_db(transaction=True)
def test_a_customer_moved_twice_is_refused_before_wecom_is_called(sandbox_corp):
    from scrm.sandbox.models import SandboxCall, SandboxTransfer

    user1, user2 = Staff.objects.get(userid="user1"), Staff.objects.get(userid="user2")
    first, twice, recent = (f.customer for f in Follow.objects.filter(staff=user1).order_by("id"))
    past_transfer(twice, days_ago=300, handover=user2, takeover=user1)
    past_transfer(twice, days_ago=200, handover=user2, takeover=user1)
    past_transfer(recent, days_ago=30, handover=user2, takeover=user1)

    job = onjob_transfer_create(
        handover=user1,
        takeover=user2,
        customer_ids=[first.pk, twice.pk, recent.pk],
        message="Meet your new adviser.",
    )

    calls = SandboxCall.objects.filter(path="externalcontact/transfer_customer")
    sent = [e for call in calls for e in call.body["external_userid"]]
    assert sent == [first.external_userid]
    assert calls.get().body["transfer_success_msg"] == "Meet your new adviser."
    assert list(SandboxTransfer.objects.values_list("external_userid", flat=True)) == [first.external_userid]
    rows = {i.customer_id: (i.status, i.reason) for i in TransferItem.objects.filter(job=job)}
    assert rows == {
        first.pk: (Status.WAITING, ""),
        twice.pk: (Status.BLOCKED, Reason.MAX_TRANSFERS),
        recent.pk: (Status.BLOCKED, Reason.PROTECTED),
    }
    # Their follows stay with the handover.
    assert Follow.objects.filter(staff=user1, customer__in=[twice, recent], status="active").count() == 2
