"""The customer pool (公海): one open entry per customer, corp-wide reading, claims within a daily
limit counted in Asia/Shanghai days, one transfer job per holder."""

from __future__ import annotations

import threading
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ValidationError
from django.db import connection, connections
from django.utils import timezone

from customers.models import CustomerEvent, Follow, PoolEntry, TransferBatch, TransferItem, TransferJob
from customers.transfers.pool import (
    claim_day_start,
    pool_add,
    pool_add_many,
    pool_claim,
    pool_claims_today,
    pool_list,
)
from scrm.org.models import AuditEntry, Staff
from tests.factories import CustomerFactory, FollowFactory, StaffFactory

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")


def depart(staff: Staff) -> Staff:
    Staff.objects.filter(pk=staff.pk).update(status="departed", departed_at=timezone.now())
    staff.refresh_from_db()
    return staff


def pooled(holder: Staff, n: int) -> list[PoolEntry]:
    """``n`` customers of ``holder`` put in the pool."""
    follows = [FollowFactory(staff=holder) for _ in range(n)]
    pool_add_many([(f.customer_id, f.pk) for f in follows], reason="policy")
    return list(PoolEntry.objects.filter(follow__in=follows).order_by("id"))


@pytest.fixture
def leaver(company):
    """A departed member of store A whose customers wait in the pool."""
    return depart(StaffFactory(userid="leaver", main_department=company.store_a))


# --- Adding -----------------------------------------------------------------------------------------


def test_a_customer_enters_the_pool_once(company):
    follow = company.ca1.follows.get()
    assert pool_add(customer_id=company.ca1.pk, follow_id=follow.pk, reason="refused") is True
    assert pool_add(customer_id=company.ca1.pk, follow_id=follow.pk, reason="policy") is False
    entry = PoolEntry.objects.get()
    assert (entry.customer, entry.follow, entry.reason, entry.claimed_at) == (
        company.ca1,
        follow,
        "refused",
        None,
    )
    [event] = CustomerEvent.objects.filter(type=CustomerEvent.Type.POOLED)
    assert (event.customer, event.staff, event.payload) == (company.ca1, company.sa, {"reason": "refused"})


def test_a_claimed_customer_may_enter_again(company):
    follow = company.ca1.follows.get()
    pool_add(customer_id=company.ca1.pk, follow_id=follow.pk, reason="policy")
    PoolEntry.objects.update(claimed_at=timezone.now(), claimed_by=company.sb)
    assert pool_add(customer_id=company.ca1.pk, follow_id=follow.pk, reason="returned") is True
    assert PoolEntry.objects.filter(customer=company.ca1).count() == 2


def test_many_enter_at_once_skipping_those_already_there(company, django_assert_max_num_queries):
    fa1, fa2, fb1 = company.ca1.follows.get(), company.ca2.follows.get(), company.cb1.follows.get()
    pool_add(customer_id=company.ca1.pk, follow_id=fa1.pk, reason="refused")
    rows = [
        (company.ca1.pk, fa1.pk),
        (company.ca2.pk, fa2.pk),
        (company.cb1.pk, fb1.pk, None),
        (company.ca2.pk, fa2.pk),
    ]
    with django_assert_max_num_queries(6):
        assert pool_add_many(rows, reason="policy") == 2
    assert pool_add_many(rows, reason="policy") == 0
    reasons = dict(PoolEntry.objects.values_list("customer_id", "reason"))
    assert reasons == {company.ca1.pk: "refused", company.ca2.pk: "policy", company.cb1.pk: "policy"}
    events = CustomerEvent.objects.filter(type=CustomerEvent.Type.POOLED)
    assert sorted(events.values_list("customer_id", "staff_id")) == sorted(
        [(company.ca1.pk, company.sa.pk), (company.ca2.pk, company.sa.pk), (company.cb1.pk, company.sb.pk)]
    )


def test_a_source_item_is_kept(company):
    job = TransferJob.objects.create(kind="resigned", trigger="sync", handover=company.sa)
    item = TransferItem.objects.create(job=job, customer=company.ca1, status="refused")
    pool_add_many([(company.ca1.pk, company.ca1.follows.get().pk, item.pk)], reason="refused")
    assert PoolEntry.objects.get().source_item == item


# --- Reading ----------------------------------------------------------------------------------------


def test_the_pool_is_corp_wide_for_every_role(company, leaver):
    entries = pooled(leaver, 2)
    PoolEntry.objects.filter(pk=entries[1].pk).update(claimed_at=timezone.now(), claimed_by=company.sa)
    for who in ("admin", "marketing", "store_manager", "guide_a", "guide_b"):
        assert list(pool_list(user=getattr(company.users, who))) == [entries[0]], who
    assert list(pool_list(user=company.users.nobody)) == []


# --- Claiming ---------------------------------------------------------------------------------------


def test_a_claim_plans_a_transfer_from_the_holder(company, leaver, django_capture_on_commit_callbacks):
    entries = pooled(leaver, 3)
    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        result = pool_claim(staff=company.sb, entry_ids=[e.pk for e in entries], actor=company.users.admin)
    assert result.claimed == [e.pk for e in entries] and result.refused == []
    [job] = result.jobs
    assert result.job == job
    assert (job.kind, job.status, job.handover, job.takeover) == ("claim", "planned", leaver, company.sb)
    assert job.created_by == company.users.admin
    items = TransferItem.objects.filter(job=job).order_by("id")
    assert [(i.customer_id, i.follow_id, i.takeover_id, i.status) for i in items] == [
        (e.customer_id, e.follow_id, company.sb.pk, "planned") for e in entries
    ]
    [batch] = TransferBatch.objects.filter(job=job)
    assert batch.takeover == company.sb and batch.items.count() == 3
    for entry in PoolEntry.objects.filter(pk__in=result.claimed):
        assert (entry.claimed_by, entry.claim_job) == (company.sb, job) and entry.claimed_at is not None
    claimed_events = CustomerEvent.objects.filter(type=CustomerEvent.Type.CLAIMED)
    assert sorted(claimed_events.values_list("customer_id", "staff_id")) == sorted(
        (e.customer_id, company.sb.pk) for e in entries
    )
    audit = AuditEntry.objects.get(action="pool.claimed")
    assert audit.target_id == str(job.pk) and audit.details["customers"] == 3
    assert len(callbacks) == 1  # the job starts after commit


def test_entries_of_several_holders_make_one_job_each(company, leaver):
    other = depart(StaffFactory(userid="other_leaver"))
    mine, theirs = pooled(leaver, 2), pooled(other, 1)
    result = pool_claim(staff=company.sb, entry_ids=[mine[0].pk, theirs[0].pk, mine[1].pk])
    assert {(job.handover_id, job.items.count()) for job in result.jobs} == {(leaver.pk, 2), (other.pk, 1)}
    assert sorted(result.claimed) == sorted(e.pk for e in mine + theirs)


def test_entries_that_cannot_be_claimed_are_refused_with_the_reason(company, leaver):
    taken, gone, mine, flying, fine = pooled(leaver, 5)
    pool_claim(staff=company.sa, entry_ids=[taken.pk])
    Follow.objects.filter(pk=gone.follow_id).update(
        status=Follow.Status.DELETED_BY_CUSTOMER, status_changed_at=timezone.now()
    )
    FollowFactory(customer=mine.customer, staff=company.sb)  # the claimer follows them already
    job = TransferJob.objects.create(kind="resigned", trigger="sync", handover=leaver, takeover=company.sa)
    TransferItem.objects.create(job=job, customer=flying.customer, follow=flying.follow, status="waiting")

    ids = [taken.pk, gone.pk, mine.pk, flying.pk, 999999, fine.pk]
    result = pool_claim(staff=company.sb, entry_ids=ids)
    assert result.claimed == [fine.pk]
    assert result.refused == [
        (taken.pk, "already_claimed"),
        (gone.pk, "no_holder"),
        (mine.pk, "same_staff"),
        (flying.pk, "in_progress"),
        (999999, "not_found"),
    ]


def test_the_holder_cannot_claim_their_own_customer(company):
    entry = PoolEntry.objects.create(
        customer=company.ca1, follow=company.ca1.follows.get(), reason="returned", entered_at=timezone.now()
    )
    result = pool_claim(staff=company.sa, entry_ids=[entry.pk])
    assert result.refused == [(entry.pk, "same_staff")] and result.jobs == []


def test_the_daily_limit_refuses_the_21st(company, leaver, settings):
    settings.POOL_DAILY_CLAIM_LIMIT = 20
    entries = pooled(leaver, 23)
    first = pool_claim(staff=company.sb, entry_ids=[e.pk for e in entries[:21]])
    assert first.claimed == [e.pk for e in entries[:20]]
    assert first.refused == [(entries[20].pk, "daily_claim_limit")]
    assert pool_claims_today(company.sb) == 20
    again = pool_claim(staff=company.sb, entry_ids=[entries[21].pk])
    assert again.claimed == [] and again.refused == [(entries[21].pk, "daily_claim_limit")]
    # Another member has a limit of their own.
    assert pool_claim(staff=company.sa, entry_ids=[entries[21].pk]).claimed == [entries[21].pk]


def test_yesterdays_claims_do_not_count(company, leaver, settings):
    settings.POOL_DAILY_CLAIM_LIMIT = 2
    entries = pooled(leaver, 4)
    pool_claim(staff=company.sb, entry_ids=[entries[0].pk, entries[1].pk])
    # Claimed one second before midnight in Shanghai (still "today" in UTC for most of the day).
    PoolEntry.objects.filter(claimed_by=company.sb).update(
        claimed_at=claim_day_start() - timedelta(seconds=1)
    )
    assert pool_claim(staff=company.sb, entry_ids=[entries[2].pk, entries[3].pk]).claimed == [
        entries[2].pk,
        entries[3].pk,
    ]


def test_the_claim_day_is_shanghais():
    # 23:30 UTC on the 1st is 07:30 on the 2nd in Shanghai: the day began at 16:00 UTC on the 1st.
    now = datetime(2030, 5, 1, 23, 30, tzinfo=ZoneInfo("UTC"))
    assert claim_day_start(now) == datetime(2030, 5, 2, tzinfo=SHANGHAI)


@pytest.mark.parametrize("change", ["departed", "disabled", "no_contact"])
def test_the_claimer_must_be_able_to_take_customers(company, leaver, change):
    [entry] = pooled(leaver, 1)
    if change == "departed":
        depart(company.sb)
    elif change == "disabled":
        company.sb.status = "disabled"
    else:
        company.sb.contact_enabled = False
    with pytest.raises(ValidationError) as raised:
        pool_claim(staff=company.sb, entry_ids=[entry.pk])
    assert raised.value.message_dict["staff"]
    assert PoolEntry.objects.get().claimed_at is None and not TransferJob.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_two_claims_at_once_stay_within_the_limit(company, leaver, settings):
    if connection.vendor != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite runs one writer at a time")
    settings.POOL_DAILY_CLAIM_LIMIT = 20
    entries = pooled(leaver, 30)
    halves = [[e.pk for e in entries[:15]], [e.pk for e in entries[15:]]]
    start = threading.Barrier(2)
    results, errors = [], []

    def claim(ids):
        try:
            start.wait()
            results.append(pool_claim(staff=Staff.objects.get(pk=company.sb.pk), entry_ids=ids))
        except Exception as error:  # reported below: a thread's exception is otherwise lost
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=claim, args=(ids,)) for ids in halves]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert sum(len(r.claimed) for r in results) == 20
    assert sum(len(r.refused) for r in results) == 10
    assert all(reason == "daily_claim_limit" for r in results for _, reason in r.refused)
    assert PoolEntry.objects.filter(claimed_by=company.sb).count() == 20


def test_customers_of_an_unfollowed_entry_cannot_be_claimed(company):
    customer = CustomerFactory()
    entry = PoolEntry.objects.create(
        customer=customer, follow=None, reason="no_takeover", entered_at=timezone.now()
    )
    assert pool_claim(staff=company.sb, entry_ids=[entry.pk]).refused == [(entry.pk, "no_holder")]


def test_wecoms_onjob_rules_apply_to_customers_an_employed_colleague_holds(company, leaver):
    def moved(customer, days_ago):
        at = timezone.now() - timedelta(days=days_ago)
        job = TransferJob.objects.create(kind="onjob", status="done", trigger="admin", handover=company.sb)
        item = TransferItem.objects.create(job=job, customer=customer, status="done")
        TransferItem.objects.filter(pk=item.pk).update(updated_at=at)

    def returned(follow):
        return PoolEntry.objects.create(
            customer=follow.customer, follow=follow, reason="returned", entered_at=timezone.now()
        )

    twice, recent, fine = (returned(FollowFactory(staff=company.sa)) for _ in range(3))
    moved(twice.customer, 300)
    moved(twice.customer, 200)
    moved(recent.customer, 10)
    moved(fine.customer, 100)
    [departed_holder] = pooled(leaver, 1)
    moved(departed_holder.customer, 10)  # a resigned transfer follows other rules

    ids = [twice.pk, recent.pk, fine.pk, departed_holder.pk]
    result = pool_claim(staff=company.sb, entry_ids=ids)
    assert result.refused == [(twice.pk, "max_transfers"), (recent.pk, "protected_90_days")]
    assert sorted(result.claimed) == sorted([fine.pk, departed_holder.pk])
