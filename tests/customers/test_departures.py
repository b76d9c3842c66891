"""Departed staff: the departure recorded once, the preview, the plan, and the nightly run.

WeCom is the sandbox over HTTP (live_server) wherever it is involved: the unassigned list, and a
member resigning through the sandbox's player with its delete_user callback posted to us.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from celery.signals import before_task_publish
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from customers.models import (
    Customer,
    CustomerEvent,
    Follow,
    PoolEntry,
    TransferBatch,
    TransferItem,
    TransferJob,
    TransferPolicy,
)
from customers.signals import transfer_job_planned
from customers.transfers.departures import (
    NIGHTLY_TASK_NAME,
    departures_nightly,
    unassigned_detect,
)
from customers.transfers.planning import departure_plan, departure_preview, preview_extras
from scrm.org.models import AuditEntry, Staff
from scrm.org.signals import staff_departed
from scrm.org.sync import staff_apply, staff_depart
from scrm.sandbox.models import SandboxMember
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom.client import wecom_client, wecom_clients_close
from scrm.wecom.sync import sync_run
from tests.factories import DepartmentFactory, StaffFactory, UserFactory
from tests.wecom.conftest import eager_celery  # noqa: F401  (fixture)

Strategy = TransferPolicy.Strategy


@pytest.fixture(autouse=True)
def _no_auto_start(settings):
    """Starting a job hands it to WeCom: these tests stop at the plan unless they say otherwise."""
    settings.TRANSFER_AUTO_START = False


@pytest.fixture
def store(db):
    hq = DepartmentFactory(wecom_id=1, name="HQ")
    return DepartmentFactory(wecom_id=100, name="Store A", parent=hq, is_store=True)


def departed(department, **fields) -> Staff:
    return StaffFactory(
        main_department=department, status=Staff.Status.DEPARTED, departed_at=timezone.now(), **fields
    )


def give_follows(staff: Staff, n: int) -> list[Follow]:
    now = timezone.now()
    start = Customer.objects.count()
    customers = Customer.objects.bulk_create(
        [
            Customer(external_userid=f"wmdep{staff.pk}x{start + i}", name=f"c{i}", first_added_at=now)
            for i in range(n)
        ]
    )
    return Follow.objects.bulk_create([Follow(customer=c, staff=staff, added_at=now) for c in customers])


def audit_of(staff: Staff, action: str = "staff.departed"):
    return AuditEntry.objects.filter(action=action, target_type="org.staff", target_id=str(staff.pk))


@pytest.fixture
def published():
    """Names of the Celery tasks queued (not run) during the test."""
    names: list[str] = []

    def record(sender=None, **kwargs):
        names.append(sender)

    before_task_publish.connect(record, weak=False)
    yield names
    before_task_publish.disconnect(record)


@pytest.fixture
def signals_seen():
    seen: list[tuple[str, object]] = []

    def on_departed(sender, *, staff_ids, trigger, **kwargs):
        seen.append(("departed", (tuple(staff_ids), trigger)))

    def on_planned(sender, *, job, **kwargs):
        seen.append(("planned", job.pk))

    staff_departed.connect(on_departed, weak=False)
    transfer_job_planned.connect(on_planned, weak=False)
    yield seen
    staff_departed.disconnect(on_departed)
    transfer_job_planned.disconnect(on_planned)


# --- preview and plan -----------------------------------------------------------------------------


def test_the_preview_shows_what_the_plan_then_does(store, django_capture_on_commit_callbacks):
    policy = TransferPolicy.objects.create(department=store, strategy=Strategy.ROUND_ROBIN, capacity=4)
    a, b, c = (StaffFactory(main_department=store) for _ in range(3))
    give_follows(b, 3)
    give_follows(c, 4)  # full
    handover = departed(store)
    follows = give_follows(handover, 9)
    # One customer already in flight in another job, one already waiting in the pool: left alone.
    other = TransferJob.objects.create(kind=TransferJob.Kind.RESIGNED, trigger="admin", handover=handover)
    TransferItem.objects.create(job=other, customer=follows[0].customer, follow=follows[0], takeover=a)
    PoolEntry.objects.create(customer=follows[1].customer, reason="policy", entered_at=timezone.now())
    preview_extras.append(lambda staff: {"groups": 4, "moments": 1})
    try:
        preview = departure_preview(handover)
    finally:
        preview_extras.pop()

    # Round-robin within capacity 4 (a holds 1 in flight, b 3 follows, c is full): a, b, a, a;
    # then no one has room.
    assert [(row.takeover, row.customers) for row in preview.rows] == [(a, 3), (b, 1)]
    assert (preview.pooled, preview.in_flight, preview.customers) == (3, 2, 7)
    assert (preview.strategy, preview.groups, preview.extras) == (Strategy.ROUND_ROBIN, 4, {"moments": 1})
    # Nothing written: no job, no pool entry, the cursor where it was.
    assert TransferJob.objects.count() == 1 and PoolEntry.objects.count() == 1
    policy.refresh_from_db()
    assert policy.round_robin_last_id is None

    with django_capture_on_commit_callbacks(execute=True):
        job = departure_plan(staff_id=handover.pk, trigger="callback")
    items = TransferItem.objects.filter(job=job)
    planned = Counter(items.filter(status="planned").values_list("takeover_id", flat=True))
    assert planned == {row.takeover.pk: row.customers for row in preview.rows}
    pooled = items.filter(status="pooled")
    assert pooled.count() == preview.pooled
    assert set(pooled.values_list("reason", flat=True)) == {TransferItem.Reason.NO_TAKEOVER}
    assert (job.kind, job.status, job.trigger, job.strategy, job.takeover_id) == (
        "resigned",
        "planned",
        "callback",
        Strategy.ROUND_ROBIN,
        None,  # spread over two colleagues
    )
    entries = PoolEntry.objects.filter(source_item__job=job)
    assert sorted(entries.values_list("follow_id", "reason")) == sorted(
        (follow_id, "no_takeover") for follow_id in pooled.values_list("follow_id", flat=True)
    )
    assert CustomerEvent.objects.filter(type=CustomerEvent.Type.POOLED, staff=handover).count() == 3
    policy.refresh_from_db()
    assert policy.round_robin_last_id == a.pk
    assert audit_job(job).get().details["customers"] == 7


def audit_job(job):
    return AuditEntry.objects.filter(target_type="customers.transferjob", target_id=str(job.pk))


def test_batches_hold_at_most_100_customers_of_one_takeover(store):
    successor = StaffFactory(main_department=store)
    TransferPolicy.objects.create(strategy=Strategy.SUCCESSOR, successor=successor)
    handover = departed(store)
    give_follows(handover, 250)
    actor = UserFactory()
    job = departure_plan(staff_id=handover.pk, trigger="admin", actor=actor)
    assert (job.takeover_id, job.created_by, job.status) == (successor.pk, actor, "planned")
    batches = list(TransferBatch.objects.filter(job=job).order_by("id"))
    assert [b.items.count() for b in batches] == [100, 100, 50]
    assert {b.takeover_id for b in batches} == {successor.pk}
    assert not TransferItem.objects.filter(job=job, batch__isnull=True).exists()
    assert not TransferItem.objects.filter(job=job).exclude(takeover=successor).exists()
    entry = audit_job(job).get()
    assert (entry.action, entry.actor, entry.details["takeovers"]) == (
        "transfer_job.planned",
        actor,
        {str(successor.pk): 250},
    )


def test_a_second_plan_while_the_first_is_in_flight_plans_nothing(store):
    successor = StaffFactory(main_department=store)
    TransferPolicy.objects.create(strategy=Strategy.SUCCESSOR, successor=successor)
    handover = departed(store)
    give_follows(handover, 3)
    first = departure_plan(staff_id=handover.pk, trigger="callback")
    assert first is not None
    assert departure_plan(staff_id=handover.pk, trigger="sync") is None
    assert TransferJob.objects.count() == 1 and TransferItem.objects.count() == 3
    # A member still employed has nothing to plan.
    employed = StaffFactory(main_department=store)
    give_follows(employed, 2)
    assert departure_plan(staff_id=employed.pk, trigger="admin") is None


def test_the_pool_policy_pools_everyone_and_the_job_is_over_at_once(store):
    TransferPolicy.objects.create(strategy=Strategy.POOL)
    StaffFactory(main_department=store)
    handover = departed(store)
    give_follows(handover, 3)
    job = departure_plan(staff_id=handover.pk, trigger="sync")
    assert (job.status, job.takeover_id, job.finished_at is not None) == ("done", None, True)
    assert not TransferBatch.objects.filter(job=job).exists()
    assert set(TransferItem.objects.filter(job=job).values_list("status", "reason")) == {
        ("pooled", "policy_pool")
    }
    assert set(PoolEntry.objects.values_list("reason", flat=True)) == {"policy"}
    assert PoolEntry.objects.filter(claimed_at__isnull=True).count() == 3
    assert departure_plan(staff_id=handover.pk, trigger="nightly") is None


def test_the_plan_is_announced_after_commit_then_started(
    store, settings, django_capture_on_commit_callbacks, signals_seen, published
):
    settings.TRANSFER_AUTO_START = True
    successor = StaffFactory(main_department=store)
    TransferPolicy.objects.create(strategy=Strategy.SUCCESSOR, successor=successor)
    handover = departed(store)
    give_follows(handover, 2)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        job = departure_plan(staff_id=handover.pk, trigger="callback")
    assert signals_seen == [] and published == []  # nothing before the commit
    for callback in callbacks:
        callback()
    assert signals_seen == [("planned", job.pk)]
    assert published == ["customers.tasks.transfer_job_start_task"]


def test_without_auto_start_the_plan_waits(
    store, django_capture_on_commit_callbacks, signals_seen, published
):
    TransferPolicy.objects.create(strategy=Strategy.SUCCESSOR, successor=StaffFactory(main_department=store))
    handover = departed(store)
    give_follows(handover, 2)
    with django_capture_on_commit_callbacks(execute=True):
        job = departure_plan(staff_id=handover.pk, trigger="callback")
    assert signals_seen == [("planned", job.pk)] and published == []


def test_planning_5000_customers_takes_a_bounded_number_of_queries(store, django_assert_max_num_queries):
    TransferPolicy.objects.create(department=store, strategy=Strategy.LEAST_LOADED, capacity=1100)
    colleagues = [StaffFactory(main_department=store) for _ in range(5)]
    handover = departed(store)
    give_follows(handover, 5000)
    # The same few queries for 5 customers or 5,000 (one INSERT statement per 5,000 items).
    with django_assert_max_num_queries(20):
        job = departure_plan(staff_id=handover.pk, trigger="nightly")
    counts = Counter(TransferItem.objects.filter(job=job).values_list("takeover_id", flat=True))
    assert counts == {s.pk: 1000 for s in colleagues}
    assert TransferBatch.objects.filter(job=job).count() == 50


# --- departures recorded once ---------------------------------------------------------------------


def member(userid: str, status: int) -> dict:
    return {"userid": userid, "name": userid, "status": status, "department": [100], "main_department": 100}


def test_a_departure_is_recorded_once_whoever_reports_it(
    store,
    django_capture_on_commit_callbacks,
    signals_seen,
    eager_celery,  # noqa: F811
):
    TransferPolicy.objects.create(strategy=Strategy.POOL)
    staff = StaffFactory(userid="leaver", main_department=store)
    give_follows(staff, 2)
    left = datetime(2026, 3, 1, 9, 30, tzinfo=UTC)
    with django_capture_on_commit_callbacks(execute=True):
        assert staff_depart(userids=["leaver"], at=left, trigger="callback") == 1
        # WeCom's retry of the callback, a sync that sees status 5, the member gone from the list.
        assert staff_depart(userids=["leaver"], at=left + timedelta(hours=1), trigger="callback") == 0
        staff_apply(members=[member("leaver", 5)], trigger="sync")
        assert staff_depart(userids=["leaver"], trigger="sync") == 0
    staff.refresh_from_db()
    assert (staff.status, staff.departed_at) == (Staff.Status.DEPARTED, left)
    entry = audit_of(staff).get()
    assert (entry.occurred_at, entry.details["trigger"], entry.actor) == (left, "callback", None)
    assert [s for s in signals_seen if s[0] == "departed"] == [("departed", ((staff.pk,), "callback"))]
    # The receiver planned the member's customers (eager Celery), once.
    job = TransferJob.objects.get(handover=staff)
    assert (job.trigger, job.items.count()) == ("callback", 2)


def test_user_get_status_5_departs_through_the_same_record(
    store, django_capture_on_commit_callbacks, signals_seen
):
    StaffFactory(userid="quitter", main_department=store)
    with django_capture_on_commit_callbacks(execute=True):
        staff_apply(
            members=[member("quitter", 5), member("newquitter", 5), member("stayer", 1)], trigger="sync"
        )
        staff_apply(members=[member("quitter", 5)], trigger="sync")
    quitter, newcomer, stayer = (Staff.objects.get(userid=u) for u in ("quitter", "newquitter", "stayer"))
    assert (quitter.status, newcomer.status, stayer.status) == ("departed", "departed", "active")
    assert (
        audit_of(quitter).count() == 1 and audit_of(newcomer).count() == 1 and not audit_of(stayer).exists()
    )
    [(_, (ids, trigger))] = [s for s in signals_seen if s[0] == "departed"]
    assert (sorted(ids), trigger) == (sorted([quitter.pk, newcomer.pk]), "sync")


def test_a_member_who_comes_back_and_leaves_again_is_recorded_again(store):
    staff = StaffFactory(userid="boomerang", main_department=store)
    first = datetime(2026, 1, 1, tzinfo=UTC)
    staff_depart(userids=["boomerang"], at=first)
    staff_apply(members=[member("boomerang", 1)])
    staff.refresh_from_db()
    assert (staff.status, staff.departed_at) == ("active", None)
    staff_depart(userids=["boomerang"], at=first + timedelta(days=30), trigger="callback")
    assert audit_of(staff).count() == 2


# --- the unassigned list and the nightly run (sandbox over HTTP) ----------------------------------


@pytest.fixture
def corp(live_server, settings):
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    wecom_clients_close()
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID, contact_secret=settings.WECOM_SECRET, members=3, contacts_per_member=2
    )
    yield corp
    wecom_clients_close()


def test_the_unassigned_list_departs_the_members_it_names_and_the_night_plans_the_rest(
    corp,
    eager_celery,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    run = sync_run(mode="full", trigger="command", retry_delay=0)
    assert run.status == "done", run.error
    user1 = Staff.objects.get(userid="user1")
    user2 = Staff.objects.get(userid="user2")
    TransferPolicy.objects.create(strategy=Strategy.SUCCESSOR, successor=user2)
    # user1 left, and no callback told us.
    left = int(timezone.now().timestamp()) - 3600
    SandboxMember.objects.filter(corp_id=corp.corp_id, userid="user1").update(status=5, dimission_time=left)

    with django_capture_on_commit_callbacks(execute=True):
        assert unassigned_detect(wecom_client("contact")) == {"user1": 2}
    user1.refresh_from_db()
    assert (user1.status, int(user1.departed_at.timestamp())) == ("departed", left)
    assert audit_of(user1).get().details["trigger"] == "unassigned"
    job = TransferJob.objects.get(handover=user1)
    assert (job.trigger, job.takeover_id, job.items.count()) == ("unassigned", user2.pk, 2)

    # The night finds nothing left, then a customer the plan did not cover (a failed hand-over).
    with django_capture_on_commit_callbacks(execute=True):
        assert departures_nightly() == {"unassigned_customers": 2, "jobs_planned": 0, "failed": 0}
    assert audit_of(user1).count() == 1
    TransferItem.objects.filter(job=job).update(status=TransferItem.Status.FAILED)
    with django_capture_on_commit_callbacks(execute=True):
        assert departures_nightly()["jobs_planned"] == 1
    nightly = TransferJob.objects.exclude(pk=job.pk).get()
    assert (nightly.trigger, nightly.items.count()) == ("nightly", 2)


def test_migrate_created_the_nightly_schedule(db):
    task = PeriodicTask.objects.get(name=NIGHTLY_TASK_NAME)
    assert (task.task, task.queue) == ("customers.tasks.transfers_nightly_task", "bulk")
    assert (task.crontab.hour, task.crontab.minute) == ("2", "30")


# --- a member resigns in the sandbox ---------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_member_resigning_in_the_sandbox_ends_with_a_planned_job(
    live_server,
    settings,
    client,
    eager_celery,  # noqa: F811
):
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    settings.WECOM_SANDBOX_CALLBACK_URL = live_server.url + "/wecom/callback/"
    settings.WECOM_SANDBOX_CALLBACKS = "sync"
    settings.TRANSFER_AUTO_START = False
    wecom_clients_close()
    try:
        sandbox_corp_create(
            corp_id=settings.WECOM_CORP_ID,
            contact_secret=settings.WECOM_SECRET,
            members=2,
            contacts_per_member=3,
        )
        assert sync_run(mode="full", trigger="command", retry_delay=0).status == "done"
        user2 = Staff.objects.get(userid="user2")
        TransferPolicy.objects.create(strategy=Strategy.SUCCESSOR, successor=user2)
        client.force_login(UserFactory(is_superuser=True))

        response = client.post(
            "/sandbox/player/member_resign/", json.dumps({"userid": "user1"}), content_type="application/json"
        )
        assert response.status_code == 200, response.content.decode()
        user1 = Staff.objects.get(userid="user1")
        assert user1.status == Staff.Status.DEPARTED
        assert audit_of(user1).get().details["trigger"] == "callback"
        job = TransferJob.objects.get(handover=user1)
        assert (job.status, job.trigger, job.takeover_id) == ("planned", "callback", user2.pk)
        assert job.items.filter(status="planned").count() == 3 and job.batches.count() == 1

        # The next sync sees status 5: nothing new is recorded or planned.
        assert sync_run(mode="incremental", trigger="command", retry_delay=0).status == "done"
        assert audit_of(user1).count() == 1 and TransferJob.objects.count() == 1
    finally:
        wecom_clients_close()
