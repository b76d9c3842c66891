"""``/transfer-jobs/`` and ``/pool/`` through the API, with API keys per role: lists scoped to the
caller, counts and progress, on-job transfers created with the blocked customers listed, claims
within the daily limit, and 4xx with messages for bad input."""

from __future__ import annotations

import pytest
from django.utils import timezone

from customers.models import PoolEntry, Segment, TransferItem, TransferJob
from groups.models import GroupTransfer
from scrm.org.models import Staff
from tests.factories import FollowFactory, StaffFactory

from .conftest import ids

pytestmark = pytest.mark.django_db

JOBS = "/api/v1/transfer-jobs/"
ONJOB = "/api/v1/transfer-jobs/onjob/"
POOL = "/api/v1/pool/"
CLAIM = "/api/v1/pool/claim/"


def nonzero(counts: dict) -> dict:
    return {status: n for status, n in counts.items() if n}


@pytest.fixture
def sc(company):
    return StaffFactory(userid="sc", name="Guide C", main_department=company.store_b)


@pytest.fixture
def jobs(company, sc):
    """sa → sc (on-job, one planned, one done, one blocked), sb → sc (claim), sc → sb (on-job)."""
    a = TransferJob.objects.create(
        kind="onjob", trigger="api", handover=company.sa, takeover=sc, status="running"
    )
    TransferItem.objects.create(job=a, customer=company.ca1, follow=company.ca1.follows.get(), takeover=sc)
    TransferItem.objects.create(
        job=a, customer=company.ca2, follow=company.ca2.follows.get(), takeover=sc, status="done"
    )
    TransferItem.objects.create(
        job=a, customer=company.cb1, takeover=sc, status="blocked", reason="not_followed"
    )
    b = TransferJob.objects.create(kind="claim", trigger="admin", handover=company.sb, takeover=sc)
    c = TransferJob.objects.create(
        kind="onjob", trigger="admin", handover=sc, takeover=company.sb, status="done"
    )
    return a, b, c


def test_jobs_are_listed_newest_first_and_filtered(api, jobs, company):
    a, b, c = jobs
    client = api("admin")
    body = client.get(JOBS).json()
    assert [row["id"] for row in body["results"]] == [c.pk, b.pk, a.pk]
    assert ids(client.get(JOBS, {"kind": "claim"})) == [b.pk]
    assert ids(client.get(JOBS, {"status": "done"})) == [c.pk]
    assert ids(client.get(JOBS, {"handover": f"{company.sa.pk},{company.sb.pk}"})) == sorted([a.pk, b.pk])
    row = next(r for r in body["results"] if r["id"] == a.pk)
    assert nonzero(row["customers"]) == {"planned": 1, "done": 1, "blocked": 1}
    assert set(row["customers"]) == set(TransferItem.Status.values)
    assert (row["total"], row["progress_percent"]) == (3, 66)
    assert row["handover"]["userid"] == "sa" and row["takeover"]["userid"] == "sc"
    assert client.get(JOBS, {"kind": "nope"}).status_code == 400


def test_jobs_are_scoped_to_the_caller(api, jobs):
    a, b, c = jobs
    assert ids(api("marketing").get(JOBS)) == sorted(j.pk for j in jobs)
    assert ids(api("guide_a").get(JOBS)) == [a.pk]  # from sa
    assert ids(api("guide_b").get(JOBS)) == sorted([b.pk, c.pk])  # from and to sb
    assert ids(api("store_manager").get(JOBS)) == [a.pk]  # East region: sa
    assert api("nobody").get(JOBS).status_code == 403
    assert api("guide_a").get(f"{JOBS}{b.pk}/").status_code == 404


def test_the_list_costs_the_same_for_any_page(api, company, sc, django_assert_max_num_queries):
    for _ in range(30):
        job = TransferJob.objects.create(kind="onjob", trigger="api", handover=company.sa, takeover=sc)
        TransferItem.objects.create(job=job, customer=company.ca1, takeover=sc, status="blocked")
    client = api("admin")
    with django_assert_max_num_queries(8):
        assert len(client.get(JOBS).json()["results"]) == 30


def test_the_detail_counts_customers_and_groups(api, jobs, company, sc):
    a = jobs[0]
    GroupTransfer.objects.create(
        job=a, group=company.ga, old_owner=company.sa, new_owner=sc, due_on=timezone.localdate()
    )
    GroupTransfer.objects.create(
        job=a,
        group=company.gb,
        old_owner=company.sa,
        new_owner=sc,
        status="done",
        due_on=timezone.localdate(),
    )
    body = api("admin").get(f"{JOBS}{a.pk}/").json()
    assert nonzero(body["customers"]) == {"planned": 1, "done": 1, "blocked": 1}
    assert body["groups"] == dict.fromkeys(GroupTransfer.Status.values, 0) | {"planned": 1, "done": 1}
    assert (body["kind"], body["status"], body["strategy"]) == ("onjob", "running", "")
    empty = api("admin").get(f"{JOBS}{jobs[2].pk}/").json()
    assert (empty["total"], empty["progress_percent"]) == (0, 100)
    assert not any(empty["groups"].values()) and not any(empty["customers"].values())


def test_items_are_paged_and_filtered(api, jobs, company):
    a = jobs[0]
    client = api("admin")
    body = client.get(f"{JOBS}{a.pk}/items/", {"page_size": 2}).json()
    assert [r["customer"]["id"] for r in body["results"]] == [company.ca1.pk, company.ca2.pk]
    rest = client.get(body["next"]).json()
    [blocked] = rest["results"]
    assert (blocked["status"], blocked["reason"], blocked["follow"]) == ("blocked", "not_followed", None)
    assert blocked["reason_text"]
    assert [
        r["status"] for r in client.get(f"{JOBS}{a.pk}/items/", {"status": "done"}).json()["results"]
    ] == ["done"]
    filtered = client.get(f"{JOBS}{a.pk}/items/", {"reason": "not_followed"}).json()["results"]
    assert [r["customer"]["id"] for r in filtered] == [company.cb1.pk]
    response = client.get(f"{JOBS}{a.pk}/items/", {"status": "lost"})
    assert response.status_code == 400 and "status" in response.json()


# --- On-job transfers -------------------------------------------------------------------------------


def test_an_onjob_transfer_is_created_with_the_blocked_customers_listed(api, company, sc):
    response = api("marketing").post(
        ONJOB,
        {
            "handover": company.sa.pk,
            "takeover": sc.pk,
            "customer_ids": [company.ca1.pk, company.ca2.pk, company.cb1.pk],
            "message": "Hello from Guide C",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    job = TransferJob.objects.get(pk=body["id"])
    assert (job.kind, job.trigger, job.transfer_message) == ("onjob", "api", "Hello from Guide C")
    assert job.created_by == company.users.marketing
    assert nonzero(body["customers"]) == {"planned": 2, "blocked": 1}
    [blocked] = body["blocked"]
    assert blocked["customer"]["id"] == company.cb1.pk
    assert (blocked["reason"], blocked["errcode"]) == ("not_followed", None)
    assert blocked["reason_text"]


def test_a_segment_can_be_transferred(api, company, sc):
    segment = Segment.objects.create(name="Gold", rules={"tags_any": [company.gold.id]})
    response = api("admin").post(
        ONJOB, {"handover": company.sa.pk, "takeover": sc.pk, "segment": segment.pk}, format="json"
    )
    assert response.status_code == 201, response.content
    assert response.json()["segment"] == segment.pk
    assert nonzero(response.json()["customers"]) == {"planned": 1}


@pytest.mark.parametrize(
    "body, field",
    [
        ({"takeover": "sa"}, "takeover"),
        ({"takeover": 99999}, "takeover"),
        ({"customer_ids": []}, "customer_ids"),
        ({"customer_ids": ["x"]}, "customer_ids"),
        ({"customer_ids": [123456789]}, "customer_ids"),
        ({"message": "x" * 201}, "message"),
        ({"segment": 4242}, "segment"),
    ],
)
def test_bad_onjob_requests_are_400_with_a_message(api, company, sc, body, field):
    request = {"handover": company.sa.pk, "takeover": sc.pk, "customer_ids": [company.ca1.pk], **body}
    if body.get("takeover") == "sa":
        request["takeover"] = company.sa.pk
    response = api("admin").post(ONJOB, request, format="json")
    assert response.status_code == 400, response.content
    assert response.json()[field]
    assert not TransferJob.objects.exists()


def test_a_departed_handover_is_400(api, company, sc):
    Staff.objects.filter(pk=company.sa.pk).update(status="departed", departed_at=timezone.now())
    response = api("admin").post(
        ONJOB, {"handover": company.sa.pk, "takeover": sc.pk, "customer_ids": [company.ca1.pk]}, format="json"
    )
    assert response.status_code == 400 and response.json()["handover"]


@pytest.mark.parametrize("who", ["guide_a", "store_manager", "nobody"])
def test_only_admins_and_marketing_create_onjob_transfers(api, company, sc, who):
    response = api(who).post(
        ONJOB, {"handover": company.sa.pk, "takeover": sc.pk, "customer_ids": [company.ca1.pk]}, format="json"
    )
    assert response.status_code == 403
    assert not TransferJob.objects.exists()


# --- The pool ---------------------------------------------------------------------------------------


@pytest.fixture
def entries(company):
    """Three customers of a departed member waiting in the pool."""
    leaver = StaffFactory(
        userid="leaver", main_department=company.store_a, status="departed", departed_at=timezone.now()
    )
    follows = [FollowFactory(staff=leaver) for _ in range(3)]
    return [
        PoolEntry.objects.create(customer=f.customer, follow=f, reason="policy", entered_at=timezone.now())
        for f in follows
    ]


def test_the_pool_is_listed_for_every_role(api, entries):
    for who in ("admin", "guide_a", "store_manager"):
        assert ids(api(who).get(POOL)) == sorted(e.pk for e in entries), who
    body = api("guide_a").get(POOL).json()
    first = body["results"][0]
    assert first["holder"]["userid"] == "leaver" and first["reason"] == "policy"
    assert api("nobody").get(POOL).status_code == 403


def test_a_guide_claims_for_themself(api, entries, company):
    response = api("guide_a").post(CLAIM, {"entry_ids": [entries[0].pk, 999999]}, format="json")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["claimed"] == [entries[0].pk]
    assert body["refused"] == [{"id": 999999, "reason": "not_found", "message": "not in the pool"}]
    [job_id] = body["jobs"]
    job = TransferJob.objects.get(pk=job_id)
    assert (job.kind, job.takeover, job.trigger) == ("claim", company.sa, "api")
    assert PoolEntry.objects.get(pk=entries[0].pk).claimed_by == company.sa
    assert ids(api("guide_a").get(POOL)) == sorted(e.pk for e in entries[1:])


def test_a_guide_cannot_claim_for_somebody_else(api, entries, company):
    response = api("guide_a").post(
        CLAIM, {"staff": company.sb.pk, "entry_ids": [entries[0].pk]}, format="json"
    )
    assert response.status_code == 403
    assert not PoolEntry.objects.filter(claimed_at__isnull=False).exists()
    # Naming themself is fine.
    response = api("guide_a").post(
        CLAIM, {"staff": company.sa.pk, "entry_ids": [entries[0].pk]}, format="json"
    )
    assert response.status_code == 200 and response.json()["claimed"] == [entries[0].pk]


def test_an_admin_claims_for_a_member_within_their_daily_limit(api, entries, company, settings):
    settings.POOL_DAILY_CLAIM_LIMIT = 2
    response = api("admin").post(
        CLAIM, {"staff": company.sb.pk, "entry_ids": [e.pk for e in entries]}, format="json"
    )
    body = response.json()
    assert body["claimed"] == [entries[0].pk, entries[1].pk]
    assert body["refused"] == [
        {"id": entries[2].pk, "reason": "daily_claim_limit", "message": "today's claim limit is reached"}
    ]
    again = api("admin").post(CLAIM, {"staff": company.sb.pk, "entry_ids": [entries[0].pk]}, format="json")
    assert again.json()["refused"][0]["reason"] == "already_claimed"


@pytest.mark.parametrize(
    "body, field",
    [
        ({}, "entry_ids"),
        ({"entry_ids": []}, "entry_ids"),
        ({"entry_ids": ["a"]}, "entry_ids"),
        ({"entry_ids": [1], "staff": 99999}, "staff"),
    ],
)
def test_bad_claims_are_400(api, entries, body, field):
    response = api("admin").post(CLAIM, body, format="json")
    assert response.status_code == 400 and response.json()[field]


def test_a_login_without_staff_must_name_the_claimer(api, entries):
    response = api("marketing").post(CLAIM, {"entry_ids": [entries[0].pk]}, format="json")
    assert response.status_code == 400 and response.json()["staff"]


def test_a_claimer_who_cannot_take_customers_is_400(api, entries, company):
    Staff.objects.filter(pk=company.sb.pk).update(contact_enabled=False)
    response = api("admin").post(CLAIM, {"staff": company.sb.pk, "entry_ids": [entries[0].pk]}, format="json")
    assert response.status_code == 400 and response.json()["staff"]


def test_the_pool_list_costs_the_same_for_any_page(api, company, django_assert_max_num_queries):
    leaver = StaffFactory(userid="leaver2", status="departed", departed_at=timezone.now())
    for follow in [FollowFactory(staff=leaver) for _ in range(30)]:
        PoolEntry.objects.create(
            customer=follow.customer, follow=follow, reason="policy", entered_at=timezone.now()
        )
    client = api("guide_b")
    with django_assert_max_num_queries(6):
        assert len(client.get(POOL).json()["results"]) == 30
