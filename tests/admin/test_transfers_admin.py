"""The staff lifecycle admin: policies, the departure preview and "Reassign now", transfer jobs,
on-job transfers (add page and customer action), the pool and its claims, the audit log.

Nothing here reaches WeCom: jobs are planned and started, and their batches are queued after
commit, which the test transaction never reaches (the sandbox tests cover the calls).
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone
from django.utils.html import escape

from customers.admin_transfers import transfer_job_sections
from customers.models import Follow, PoolEntry, Segment, TransferItem, TransferJob, TransferPolicy
from scrm.org.audit import audit_record
from scrm.org.models import AuditEntry, Staff
from tests.factories import CustomerFactory, FollowFactory, StaffFactory

from .helpers import action_data, listed, messages_of, url

pytestmark = pytest.mark.django_db

POLICIES = url("customers.transferpolicy")
POLICY_ADD = url("customers.transferpolicy", "add")
JOBS = url("customers.transferjob")
JOB_ADD = url("customers.transferjob", "add")
POOL = url("customers.poolentry")
AUDIT = url("org.auditentry")
CUSTOMERS = url("customers.customer")


def preview_url(staff) -> str:
    return url("customers.transferjob", "preview", staff.pk)


def reassign_url(staff) -> str:
    return url("customers.transferjob", "reassign", staff.pk)


def job_url(job) -> str:
    return url("customers.transferjob", "change", job.pk)


def depart(staff) -> None:
    Staff.objects.filter(pk=staff.pk).update(status=Staff.Status.DEPARTED, departed_at=timezone.now())
    staff.refresh_from_db()


def text_of(response, element_id: str) -> str:
    match = re.search(rf'id="{element_id}"[^>]*>(.*?)<', response.content.decode(), re.S)
    assert match, f"#{element_id} is not on the page"
    return match.group(1).strip()


def onjob_job(company, *, blocked: int = 0, planned: int = 0, done: int = 0) -> TransferJob:
    """A job of sa's customers to sb, with items in the given statuses (written directly)."""
    job = TransferJob.objects.create(
        kind=TransferJob.Kind.ONJOB,
        trigger=TransferJob.Trigger.ADMIN,
        handover=company.sa,
        takeover=company.sb,
    )
    items = []
    for status, n in ((TransferItem.Status.BLOCKED, blocked), ("planned", planned), ("done", done)):
        for _ in range(n):
            follow = FollowFactory(staff=company.sa)
            items.append(
                TransferItem(
                    job=job,
                    customer=follow.customer,
                    follow=follow,
                    takeover=company.sb,
                    status=status,
                    reason=TransferItem.Reason.MAX_TRANSFERS if status == TransferItem.Status.BLOCKED else "",
                )
            )
    TransferItem.objects.bulk_create(items)
    return job


@pytest.fixture
def successor_policy(company):
    return TransferPolicy.objects.create(strategy=TransferPolicy.Strategy.SUCCESSOR, successor=company.sb)


@pytest.fixture
def pool_entries(company):
    """Three customers of a departed member (Store A), waiting in the pool."""
    leaver = StaffFactory(userid="leaver", name="Leaver", main_department=company.store_a)
    follows = [FollowFactory(staff=leaver, customer=CustomerFactory(name=f"池{i}")) for i in range(3)]
    depart(leaver)
    now = timezone.now()
    return [
        PoolEntry.objects.create(
            customer=f.customer,
            follow=f,
            reason=PoolEntry.Reason.POLICY,
            entered_at=now - timedelta(minutes=i),
        )
        for i, f in enumerate(follows)
    ]


# --- Every page answers -------------------------------------------------------------------------


def test_every_new_page_answers_for_a_superuser(login, company, successor_policy, pool_entries):
    client = login("admin")
    job = onjob_job(company, blocked=1, planned=1)
    audit_record("staff.departed", target=company.sa)
    entry = AuditEntry.objects.get()
    pages = [
        POLICIES,
        POLICY_ADD,
        url("customers.transferpolicy", "change", successor_policy.pk),
        JOBS,
        job_url(job),
        JOB_ADD,
        preview_url(company.sa),
        POOL,
        AUDIT,
        url("org.auditentry", "change", entry.pk),
        url("org.staff", "change", company.sa.pk),
    ]
    for page in pages:
        response = client.get(page)
        assert response.status_code == 200, (page, response.status_code)


def test_the_sidebar_has_the_staff_lifecycle_section(login, company):
    content = login("admin").get(JOBS).content.decode()
    for link in (JOBS, POOL, POLICIES, AUDIT):
        assert f'href="{link}"' in content


def test_empty_lists_say_what_they_are_for(login, company):
    client = login("admin")
    assert any("No transfer job yet" in m for m in messages_of(client.get(JOBS)))
    assert any("No reassignment policy yet" in m for m in messages_of(client.get(POLICIES)))
    assert any("The audit log is empty" in m for m in messages_of(client.get(AUDIT)))
    assert "The pool is empty" in client.get(POOL).content.decode()


# --- Policies -----------------------------------------------------------------------------------


def policy_data(**overrides) -> dict:
    return {
        "department": "",
        "strategy": "successor",
        "successor": "",
        "capacity": "",
        "on_refusal": "pool",
    } | {k: str(v) for k, v in overrides.items()}


def test_a_successor_policy_needs_a_successor(login, company):
    response = login("admin").post(POLICY_ADD, policy_data())
    assert response.status_code == 200
    assert "successor" in response.context["adminform"].form.errors
    assert not TransferPolicy.objects.exists()


def test_a_departed_successor_is_refused(login, company):
    depart(company.sb)
    response = login("admin").post(POLICY_ADD, policy_data(successor=company.sb.pk))
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["successor"]
    assert any("active member" in e for e in errors)
    assert not TransferPolicy.objects.exists()


def test_a_second_corp_default_is_a_form_error_not_a_500(login, company, successor_policy):
    response = login("admin").post(POLICY_ADD, policy_data(strategy="pool"))
    assert response.status_code == 200
    assert any("already a corp default" in e for e in response.context["adminform"].form.errors["department"])
    assert TransferPolicy.objects.count() == 1


def test_a_second_policy_for_a_department_is_a_form_error(login, company):
    TransferPolicy.objects.create(department=company.east, strategy=TransferPolicy.Strategy.MANAGER)
    response = login("admin").post(POLICY_ADD, policy_data(department=company.east.pk, strategy="pool"))
    assert response.status_code == 200
    assert "department" in response.context["adminform"].form.errors
    assert TransferPolicy.objects.count() == 1


def test_a_valid_policy_is_saved_and_audited(login, company):
    response = login("admin").post(
        POLICY_ADD, policy_data(department=company.east.pk, successor=company.sb.pk, capacity=500)
    )
    assert response.status_code == 302
    policy = TransferPolicy.objects.get()
    assert (policy.department, policy.successor, policy.capacity) == (company.east, company.sb, 500)
    assert AuditEntry.objects.filter(action="transfer_policy.added", target_id=str(policy.pk)).exists()
    listed_rows = listed(login("admin").get(POLICIES))
    assert [p.pk for p in listed_rows] == [policy.pk]


@pytest.mark.parametrize("who", ["guide_a", "store_manager"])
def test_frontline_roles_cannot_open_the_policies(login, company, who):
    client = login(who)
    assert client.get(POLICIES).status_code == 403
    assert client.get(POLICY_ADD).status_code == 403
    assert client.get(AUDIT).status_code == 403


def test_a_guide_cannot_open_jobs_nor_the_preview(login, company):
    client = login("guide_a")
    assert client.get(JOBS).status_code == 403
    assert client.get(preview_url(company.sa)).status_code == 403
    assert client.post(reassign_url(company.sa)).status_code == 403


# --- Departure preview and "Reassign now" -------------------------------------------------------


def test_the_preview_shows_who_goes_to_whom(login, company, successor_policy):
    depart(company.sa)
    response = login("admin").get(preview_url(company.sa))
    assert response.status_code == 200
    assert text_of(response, "preview-to-colleagues") == "2"
    assert text_of(response, "preview-pooled") == "0"
    assert text_of(response, "preview-in-flight") == "0"
    rows = response.context["rows"]
    assert [(row.takeover, row.customers) for row in rows] == [(company.sb, 2)]
    assert 'id="preview-reassign"' in response.content.decode()


def test_the_preview_of_an_active_member_is_a_what_if_without_the_button(login, company, successor_policy):
    response = login("admin").get(preview_url(company.sa))
    content = response.content.decode()
    assert 'id="preview-what-if"' in content
    assert 'id="preview-reassign"' not in content
    assert text_of(response, "preview-to-colleagues") == "2"


def test_the_preview_counts_the_pool(login, company):
    TransferPolicy.objects.create(strategy=TransferPolicy.Strategy.POOL)
    depart(company.sa)
    response = login("admin").get(preview_url(company.sa))
    assert text_of(response, "preview-pooled") == "2"
    assert text_of(response, "preview-to-colleagues") == "0"


def test_reassign_now_plans_and_starts_the_job(login, company, successor_policy, settings):
    settings.TRANSFER_AUTO_START = False
    depart(company.sa)
    response = login("admin").post(reassign_url(company.sa))
    job = TransferJob.objects.get(handover=company.sa)
    assert response.status_code == 302 and response["Location"] == job_url(job)
    assert job.kind == TransferJob.Kind.RESIGNED and job.trigger == TransferJob.Trigger.ADMIN
    assert job.status == TransferJob.Status.RUNNING  # started here: automatic start is off
    assert set(job.items.values_list("takeover_id", flat=True)) == {company.sb.pk}
    assert job.items.count() == 2


def test_reassign_now_leaves_the_start_to_the_plan_when_automatic(login, company, successor_policy, settings):
    settings.TRANSFER_AUTO_START = True
    depart(company.sa)
    client = login("admin")
    client.post(reassign_url(company.sa))
    job = TransferJob.objects.get(handover=company.sa)
    assert job.items.count() == 2
    # A second press finds nothing left: every customer is in flight.
    response = client.post(reassign_url(company.sa), follow=True)
    assert any("Nothing left to reassign" in m for m in messages_of(response))
    assert TransferJob.objects.filter(handover=company.sa).count() == 1
    assert text_of(response, "preview-in-flight") == "2"


def test_reassign_now_refuses_an_active_member(login, company, successor_policy):
    response = login("admin").post(reassign_url(company.sa), follow=True)
    assert any("has not left" in m for m in messages_of(response))
    assert not TransferJob.objects.exists()


def test_reassign_needs_post(login, company):
    depart(company.sa)
    assert login("admin").get(reassign_url(company.sa)).status_code == 405


def test_the_staff_page_links_to_the_preview(login, company):
    depart(company.sa)
    client = login("admin")
    change = client.get(url("org.staff", "change", company.sa.pk))
    assert "preview-reassignment" in change.content.decode()
    listing = client.get(url("org.staff") + "?status__exact=departed").content.decode()
    assert preview_url(company.sa) in listing
    assert preview_url(company.sb) not in listing


def test_the_staff_object_tool_redirects_to_the_preview(login, company):
    response = login("admin").get(url("org.staff", "preview_reassignment", company.sa.pk))
    assert response.status_code == 302 and response["Location"] == preview_url(company.sa)


# --- The job page -------------------------------------------------------------------------------


def test_the_job_page_shows_counts_progress_and_blocked_reasons(login, company):
    job = onjob_job(company, blocked=2, planned=1, done=1)
    response = login("admin").get(job_url(job))
    assert response.status_code == 200
    assert (response.context["final"], response.context["total"], response.context["percent"]) == (3, 4, 75)
    content = response.content.decode()
    assert "already transferred twice (WeCom allows 2)" in content
    assert response.context["not_moved"][0]["count"] == 2


def test_the_job_items_are_paginated_and_filtered(login, company):
    job = onjob_job(company, blocked=5, planned=120)
    client = login("admin")
    first = client.get(job_url(job))
    assert len(first.context["items"]) == 100
    second = client.get(job_url(job) + first.context["next_url"])
    assert len(second.context["items"]) == 25
    assert second.context["next_url"] is None
    blocked = client.get(job_url(job) + "?status=blocked")
    assert {i.status for i in blocked.context["items"]} == {"blocked"} and len(blocked.context["items"]) == 5
    by_reason = client.get(job_url(job) + "?reason=max_transfers")
    assert len(by_reason.context["items"]) == 5
    # Nonsense in the query string is ignored, not a 500.
    assert client.get(job_url(job) + "?status=nope&after=x").status_code == 200


def test_the_job_page_renders_registered_sections(login, company):
    job = onjob_job(company, planned=1)

    def section(for_job):
        if for_job.pk != job.pk:
            return None
        return {
            "title": "Extra section",
            "counts": {"moved": 3},
            "columns": [("name", "Name")],
            "rows": [{"name": "row-value"}],
        }

    transfer_job_sections.append(section)
    try:
        content = login("admin").get(job_url(job)).content.decode()
    finally:
        transfer_job_sections.remove(section)
    assert "Extra section" in content and "row-value" in content and "moved 3" in content


def test_the_job_list_shows_progress_without_a_query_per_row(login, company, django_assert_max_num_queries):
    for _ in range(3):
        onjob_job(company, planned=1, done=1)
    client = login("admin")
    client.get(JOBS)  # warm the per-process caches
    with django_assert_max_num_queries(20):
        response = client.get(JOBS)
    assert "1 of 2 final" in response.content.decode()
    assert len(listed(response)) == 3


def test_a_job_cannot_be_edited_or_deleted(login, company):
    job = onjob_job(company, planned=1)
    client = login("admin")
    assert client.post(job_url(job), {"status": "done"}).status_code == 200
    job.refresh_from_db()
    assert job.status == TransferJob.Status.PLANNED
    assert client.get(url("customers.transferjob", "delete", job.pk)).status_code == 403


def test_the_store_manager_sees_only_jobs_of_their_staff(login, company):
    mine = onjob_job(company, planned=1)  # sa (East) → sb
    outsider = StaffFactory(main_department=company.store_b)
    theirs = TransferJob.objects.create(
        kind=TransferJob.Kind.ONJOB, trigger="admin", handover=company.sb, takeover=outsider
    )
    client = login("store_manager")
    assert [j.pk for j in listed(client.get(JOBS))] == [mine.pk]
    assert client.get(job_url(mine)).status_code == 200
    assert client.get(job_url(theirs)).status_code == 302  # "doesn't exist"
    assert client.get(JOB_ADD).status_code == 403


def test_start_now_starts_a_planned_job(login, company):
    TransferPolicy.objects.create(strategy=TransferPolicy.Strategy.SUCCESSOR, successor=company.sb)
    depart(company.sa)
    from customers.transfers.planning import departure_plan

    job = departure_plan(staff_id=company.sa.pk, trigger="nightly")
    client = login("admin")
    assert 'id="job-start"' in client.get(job_url(job)).content.decode()
    response = client.post(url("customers.transferjob", "start", job.pk))
    assert response.status_code == 302
    job.refresh_from_db()
    assert job.status == TransferJob.Status.RUNNING


# --- On-job transfers ---------------------------------------------------------------------------


def onjob_data(company, **overrides) -> dict:
    return {
        "handover": company.sa.pk,
        "takeover": company.sb.pk,
        "customer_ids": f"{company.ca1.pk}, {company.ca2.pk}",
        "segment": "",
        "transfer_message": "",
    } | overrides


def test_the_onjob_add_form_creates_a_job_and_lists_blocked_customers(login, company):
    client = login("admin")
    # cb1 is not sa's customer: kept as blocked with the reason, not dropped.
    data = onjob_data(company, customer_ids=f"{company.ca1.pk} {company.ca2.pk}\n{company.cb1.pk}")
    response = client.post(JOB_ADD, data, follow=True)
    job = TransferJob.objects.get()
    assert response.redirect_chain[-1][0] == job_url(job)
    assert (job.kind, job.handover, job.takeover, job.created_by) == (
        TransferJob.Kind.ONJOB,
        company.sa,
        company.sb,
        company.users.admin,
    )
    assert dict(job.items.values_list("customer_id", "status")) == {
        company.ca1.pk: "planned",
        company.ca2.pk: "planned",
        company.cb1.pk: "blocked",
    }
    assert any("1 cannot move" in m for m in messages_of(response))
    reasons = re.findall(r'class="p-2 job-item-reason">([^<]*)<', response.content.decode())
    assert sorted(reasons) == ["-", "-", escape(TransferItem.Reason.NOT_FOLLOWED.label)]


def test_the_onjob_form_shows_the_services_errors(login, company):
    depart(company.sb)
    response = login("admin").post(JOB_ADD, onjob_data(company, takeover=company.sb.pk))
    assert response.status_code == 200
    assert not TransferJob.objects.exists()
    form = response.context["adminform"].form
    assert "takeover" in form.errors


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"customer_ids": ""}, "customer_ids"),
        ({"customer_ids": "1, x"}, "customer_ids"),
        ({"customer_ids": "999999"}, "customer_ids"),
        ({"takeover": ""}, "takeover"),
        ({"transfer_message": "x" * 201}, "transfer_message"),
    ],
)
def test_bad_onjob_input_is_a_form_error(login, company, overrides, field):
    response = login("admin").post(JOB_ADD, onjob_data(company, **overrides))
    assert response.status_code == 200
    assert field in response.context["adminform"].form.errors
    assert not TransferJob.objects.exists()


def test_the_onjob_form_cannot_name_customers_out_of_scope(login, company):
    # A store manager given the permission still names only the customers of their stores.
    company.users.store_manager.user_permissions.add(Permission.objects.get(codename="add_transferjob"))
    response = login("store_manager").post(
        JOB_ADD, onjob_data(company, customer_ids=f"{company.ca1.pk} {company.cb1.pk}")
    )
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["customer_ids"]
    assert any(str(company.cb1.pk) in e for e in errors)
    assert not TransferJob.objects.exists()


def test_the_customer_action_asks_then_transfers(login, company):
    client = login("admin")
    ids = (company.ca1.pk, company.ca2.pk)
    page = client.post(CUSTOMERS, action_data("transfer_onjob", *ids))
    assert page.status_code == 200
    choices = dict(page.context["form"].fields["handover"].choices)
    assert list(choices) == [company.sa.pk]
    assert "follows 2 selected customers" in choices[company.sa.pk]
    response = client.post(
        CUSTOMERS,
        action_data(
            "transfer_onjob",
            *ids,
            apply="1",
            handover=company.sa.pk,
            takeover=company.sb.pk,
            transfer_message="hi",
        ),
    )
    job = TransferJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job_url(job)
    assert job.transfer_message == "hi"
    assert set(job.items.values_list("customer_id", flat=True)) == set(ids)


def test_the_customer_action_refuses_the_same_member_twice(login, company):
    response = login("admin").post(
        CUSTOMERS,
        action_data(
            "transfer_onjob", company.ca1.pk, apply="1", handover=company.sa.pk, takeover=company.sa.pk
        ),
    )
    assert response.status_code == 200
    assert "takeover" in response.context["form"].errors
    assert not TransferJob.objects.exists()


def test_the_customer_action_is_offered_to_admins_only(login, company):
    assert "transfer_onjob" in login("admin").get(CUSTOMERS).content.decode()
    response = login("guide_a").get(CUSTOMERS)
    assert "transfer_onjob" not in response.content.decode()
    response = login("guide_a").post(CUSTOMERS, action_data("transfer_onjob", company.ca1.pk))
    assert not TransferJob.objects.exists()


# --- The pool -----------------------------------------------------------------------------------


def test_the_pool_lists_open_entries_by_default(login, company, pool_entries):
    client = login("admin")
    pool_entries[0].claimed_at, pool_entries[0].claimed_by = timezone.now(), company.sb
    pool_entries[0].save()
    assert {e.pk for e in listed(client.get(POOL))} == {e.pk for e in pool_entries[1:]}
    assert {e.pk for e in listed(client.get(POOL + "?state=claimed"))} == {pool_entries[0].pk}
    assert len(listed(client.get(POOL + "?state=all"))) == 3
    assert "Leaver (departed)" in client.get(POOL).content.decode()


def test_claim_for_applies_the_daily_limit(login, company, pool_entries, settings):
    settings.POOL_DAILY_CLAIM_LIMIT = 2
    client = login("admin")
    ids = [e.pk for e in pool_entries]
    page = client.post(POOL, action_data("claim_for", *ids))
    assert page.status_code == 200 and page.context["daily_limit"] == 2
    response = client.post(POOL, action_data("claim_for", *ids, apply="1", staff=company.sb.pk), follow=True)
    shown = messages_of(response)
    assert any("2 customers claimed for Guide B" in m for m in shown), shown
    assert any("1 customer not claimed: today's claim limit is reached (1)" in m for m in shown), shown
    assert PoolEntry.objects.filter(claimed_by=company.sb).count() == 2
    job = TransferJob.objects.get(kind=TransferJob.Kind.CLAIM)
    assert job.takeover == company.sb and job.items.count() == 2


def test_claim_for_a_departed_member_is_a_form_error(login, company, pool_entries):
    depart(company.sb)
    response = login("admin").post(
        POOL, action_data("claim_for", pool_entries[0].pk, apply="1", staff=company.sb.pk)
    )
    assert response.status_code == 200
    assert "staff" in response.context["form"].errors
    assert not PoolEntry.objects.filter(claimed_at__isnull=False).exists()


def test_the_store_manager_sees_the_pool_but_cannot_claim(login, company, pool_entries):
    client = login("store_manager")
    response = client.get(POOL)
    assert len(listed(response)) == 3
    assert "claim_for" not in response.content.decode()
    client.post(POOL, action_data("claim_for", pool_entries[0].pk, apply="1", staff=company.sa.pk))
    assert not PoolEntry.objects.filter(claimed_at__isnull=False).exists()


def test_a_guide_cannot_open_the_pool(login, company):
    assert login("guide_a").get(POOL).status_code == 403


# --- The audit log ------------------------------------------------------------------------------


def test_the_audit_log_filters_and_searches(login, company):
    audit_record("staff.departed", target=company.sa)
    audit_record("transfer_policy.added", target=company.sb)
    client = login("admin")
    assert len(listed(client.get(AUDIT))) == 2
    only = listed(client.get(AUDIT + "?action=staff.departed"))
    assert [e.action for e in only] == ["staff.departed"]
    assert len(listed(client.get(AUDIT + f"?q={company.sb.pk}"))) == 1
    assert len(listed(client.get(AUDIT + "?target_type=org.staff"))) == 2
    entry = AuditEntry.objects.first()
    assert client.post(url("org.auditentry", "change", entry.pk), {"action": "x"}).status_code == 403
    assert client.get(url("org.auditentry", "delete", entry.pk)).status_code == 403


def test_follows_are_untouched_by_viewing(login, company, successor_policy):
    depart(company.sa)
    login("admin").get(preview_url(company.sa))
    assert Follow.objects.filter(staff=company.sa, status=Follow.Status.ACTIVE).count() == 2
    assert not TransferJob.objects.exists()


def test_the_store_manager_previews_only_their_staff(login, company, successor_policy):
    client = login("store_manager")
    assert client.get(preview_url(company.sa)).status_code == 200
    assert client.get(preview_url(company.sb)).status_code == 404
    depart(company.sa)
    assert 'id="preview-reassign"' not in client.get(preview_url(company.sa)).content.decode()
    assert client.post(reassign_url(company.sa)).status_code == 403
    assert not TransferJob.objects.exists()


@pytest.mark.parametrize(("who", "shown"), [("admin", True), ("store_manager", True), ("guide_a", False)])
def test_the_staff_object_tool_follows_the_permission(login, company, who, shown):
    content = login(who).get(url("org.staff", "change", company.sa.pk)).content.decode()
    assert ("preview-reassignment" in content) is shown


def test_the_onjob_add_form_takes_a_segment(login, company):
    segment = Segment.objects.create(name="Everyone", rules={})
    response = login("admin").post(JOB_ADD, onjob_data(company, customer_ids="", segment=segment.pk))
    job = TransferJob.objects.get()
    assert response.status_code == 302 and response["Location"] == job_url(job)
    assert job.segment == segment
    statuses = dict(job.items.values_list("customer_id", "status"))
    assert statuses[company.ca1.pk] == statuses[company.ca2.pk] == "planned"
    assert statuses[company.cb1.pk] == "blocked"


def test_ids_and_a_segment_together_are_refused(login, company):
    segment = Segment.objects.create(name="Everyone", rules={})
    response = login("admin").post(JOB_ADD, onjob_data(company, segment=segment.pk))
    assert response.status_code == 200
    assert "segment" in response.context["adminform"].form.errors
    assert not TransferJob.objects.exists()


def test_the_customer_action_says_when_nobody_follows_the_selection(login, company):
    lonely = CustomerFactory(name="无人")
    response = login("admin").post(CUSTOMERS, action_data("transfer_onjob", lonely.pk))
    assert response.status_code == 200
    assert 'id="transfer-onjob-no-followers"' in response.content.decode()
    assert not TransferJob.objects.exists()
