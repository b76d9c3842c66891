"""Staff tasks: idempotent creation, finishing and canceling, and the inbox in the REST API and
the admin, scoped per role (a guide sees and touches only their own tasks)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.exceptions import PermissionDenied, ValidationError
from django.utils import timezone

from campaigns.models import StaffTask
from campaigns.services.stafftasks import staff_task_finish, staff_tasks_cancel, staff_tasks_create
from tests.admin.helpers import action_data, listed, url
from tests.api.conftest import api  # noqa: F401  (fixture)
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


def task(staff, key: str, **fields) -> StaffTask:
    values = {
        "title": f"Task {key}",
        "due_at": timezone.now() + timedelta(hours=1),
        "content": {"text": "hi"},
    }
    return StaffTask(staff=staff, source_key=key, **{**values, **fields})


@pytest.fixture
def tasks(company):
    """Two open tasks of guide A (one a group post), one of guide B, one of guide A already done."""
    staff_tasks_create(
        tasks=[
            task(company.sa, "a1", customer=company.ca1, kind="customer_sop"),
            task(company.sa, "a2", group=company.ga, kind="group_sop"),
            task(company.sb, "b1", customer=company.cb1, kind="customer_sop"),
            task(company.sa, "a3", status="done"),
        ]
    )
    return {t.source_key: t for t in StaffTask.objects.all()}


# --- services -------------------------------------------------------------------------------------


def test_create_counts_only_new_tasks_and_leaves_existing_ones_alone(company):
    assert staff_tasks_create(tasks=[task(company.sa, "k1"), task(company.sa, "k2")]) == 2
    StaffTask.objects.filter(source_key="k1").update(status="done")
    again = [task(company.sa, "k1", title="changed"), task(company.sa, "k2"), task(company.sb, "k3")]
    assert staff_tasks_create(tasks=again) == 1
    assert staff_tasks_create(tasks=[task(company.sa, "k3")]) == 0
    assert StaffTask.objects.count() == 3
    first = StaffTask.objects.get(source_key="k1")
    assert (first.title, first.status) == ("Task k1", "done")
    assert staff_tasks_create(tasks=[]) == 0
    twice = [task(company.sa, "k4", title="first"), task(company.sa, "k4", title="second")]
    assert staff_tasks_create(tasks=twice) == 1
    assert StaffTask.objects.get(source_key="k4").title == "first"


def test_create_in_bulk_is_a_few_queries(company, django_assert_max_num_queries):
    many = [task(company.sa, f"bulk:{i}") for i in range(2500)]
    with django_assert_max_num_queries(3):
        assert staff_tasks_create(tasks=many) == 2500


def test_finish_only_open_tasks_in_scope(company, tasks):
    users = company.users
    with pytest.raises(PermissionDenied):
        staff_task_finish(task=tasks["b1"], status="done", by=users.guide_a)
    done = staff_task_finish(task=tasks["a1"], status="done", note="sent", by=users.guide_a)
    assert (done.status, done.note) == ("done", "sent")
    with pytest.raises(ValidationError):
        staff_task_finish(task=tasks["a1"], status="skipped", by=users.guide_a)  # not open any more
    with pytest.raises(ValidationError):
        staff_task_finish(task=tasks["a2"], status="canceled", by=users.guide_a)
    # A store manager finishes the tasks of their staff, not others'.
    staff_task_finish(task=tasks["a2"], status="skipped", by=users.store_manager)
    with pytest.raises(PermissionDenied):
        staff_task_finish(task=tasks["b1"], status="done", by=users.store_manager)
    assert dict(StaffTask.objects.values_list("source_key", "status")) == {
        "a1": "done",
        "a2": "skipped",
        "b1": "open",
        "a3": "done",
    }


def test_cancel_by_source_prefix_or_ids_leaves_finished_tasks(company):
    other = StaffFactory()
    staff_tasks_create(
        tasks=[
            task(company.sa, "sop:7:1"),
            task(company.sa, "sop:7:2", status="done"),
            task(other, "sop:7:3"),
            task(company.sa, "sop:70:1"),
            task(company.sa, "gsop:1:1"),
        ]
    )
    assert staff_tasks_cancel(source_prefix="sop:7:", reason="left the SOP") == 2
    assert staff_tasks_cancel(source_prefix=["sop:70:", "gsop:1:"]) == 2
    statuses = dict(StaffTask.objects.values_list("source_key", "status"))
    assert statuses == {
        "sop:7:1": "canceled",
        "sop:7:2": "done",
        "sop:7:3": "canceled",
        "sop:70:1": "canceled",
        "gsop:1:1": "canceled",
    }
    assert StaffTask.objects.get(source_key="sop:7:1").note == "left the SOP"
    staff_tasks_create(tasks=[task(company.sa, "m:1")])
    assert (
        staff_tasks_cancel(ids=StaffTask.objects.filter(source_key="m:1").values_list("pk", flat=True)) == 1
    )


# --- REST API -------------------------------------------------------------------------------------


def keys(response) -> list[str]:
    assert response.status_code == 200, response.content
    return sorted(row["title"].removeprefix("Task ") for row in response.json()["results"])


@pytest.mark.parametrize(
    ("who", "expected"),
    [
        ("admin", ["a1", "a2", "a3", "b1"]),
        ("marketing", ["a1", "a2", "a3", "b1"]),
        ("store_manager", ["a1", "a2", "a3"]),
        ("guide_a", ["a1", "a2", "a3"]),
        ("guide_b", ["b1"]),
    ],
)
def test_api_lists_the_tasks_in_scope(api, tasks, who, expected):  # noqa: F811
    assert keys(api(who).get("/api/v1/staff-tasks/")) == expected


def test_api_filters_and_pins_its_queries(api, company, tasks, django_assert_max_num_queries):  # noqa: F811
    client = api("admin")
    assert keys(client.get("/api/v1/staff-tasks/", {"status": "open"})) == ["a1", "a2", "b1"]
    assert keys(client.get("/api/v1/staff-tasks/", {"kind": "group_sop"})) == ["a2"]
    assert keys(client.get("/api/v1/staff-tasks/", {"staff": company.sb.pk})) == ["b1"]
    soon = (timezone.now() + timedelta(minutes=5)).isoformat()
    assert keys(client.get("/api/v1/staff-tasks/", {"due_before": soon})) == []
    assert client.get("/api/v1/staff-tasks/", {"status": "nope"}).status_code == 400
    assert client.get("/api/v1/staff-tasks/", {"due_before": "yesterday"}).status_code == 400
    staff_tasks_create(tasks=[task(company.sb, f"more:{i}", customer=company.cb1) for i in range(30)])
    with django_assert_max_num_queries(6):
        response = client.get("/api/v1/staff-tasks/", {"page_size": 50})
    rows = response.json()["results"]
    assert len(rows) == 34
    row = next(r for r in rows if r["title"] == "Task a2")
    assert (row["staff_name"], row["group_name"], row["customer_name"]) == ("Guide A", "Store A VIPs", None)


def test_api_done_and_skip_for_own_tasks_404_for_others(api, company, tasks):  # noqa: F811
    guide = api("guide_a")
    response = guide.post(f"/api/v1/staff-tasks/{tasks['a1'].pk}/done/", {"note": "sent it"}, format="json")
    assert response.status_code == 200, response.content
    assert (response.json()["status"], response.json()["note"]) == ("done", "sent it")
    assert guide.post(f"/api/v1/staff-tasks/{tasks['a2'].pk}/skip/").status_code == 200
    # Someone else's task does not exist for this guide.
    assert guide.post(f"/api/v1/staff-tasks/{tasks['b1'].pk}/done/").status_code == 404
    assert guide.get(f"/api/v1/staff-tasks/{tasks['b1'].pk}/").status_code == 404
    # Finished already: a 400 that says so.
    again = guide.post(f"/api/v1/staff-tasks/{tasks['a1'].pk}/skip/")
    assert again.status_code == 400 and "not open" in again.content.decode()
    assert guide.post(f"/api/v1/staff-tasks/{tasks['a3'].pk}/done/", {"note": "x" * 501}).status_code == 400
    assert StaffTask.objects.get(pk=tasks["b1"].pk).status == "open"
    assert api("nobody").get("/api/v1/staff-tasks/").status_code == 403


# --- admin ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("who", "expected"),
    [("admin", ["a1", "a2", "b1"]), ("store_manager", ["a1", "a2"]), ("guide_b", ["b1"])],
)
def test_admin_inbox_shows_open_tasks_in_scope(client, company, tasks, who, expected):
    client.force_login(getattr(company.users, who))
    shown = sorted(t.source_key for t in listed(client.get(url("campaigns.stafftask"))))
    assert shown == expected
    everything = sorted(
        t.source_key for t in listed(client.get(url("campaigns.stafftask"), {"status": "all"}))
    )
    assert set(everything) >= set(expected)


def test_admin_lists_in_a_fixed_number_of_queries(client, company, tasks, django_assert_max_num_queries):
    client.force_login(company.users.admin)
    staff_tasks_create(tasks=[task(company.sb, f"more:{i}", group=company.gb) for i in range(40)])
    with django_assert_max_num_queries(14):
        response = client.get(url("campaigns.stafftask"), {"kind": "manual"})
    assert len(listed(response)) == 40


def test_admin_actions_mark_done_or_skipped_only_in_scope(client, company, tasks):
    client.force_login(company.users.guide_a)
    ids = [tasks["a1"].pk, tasks["b1"].pk]
    response = client.post(url("campaigns.stafftask"), action_data("mark_done", *ids))
    assert response.status_code == 302
    assert StaffTask.objects.get(pk=tasks["a1"].pk).status == "done"
    assert StaffTask.objects.get(pk=tasks["b1"].pk).status == "open"
    client.post(url("campaigns.stafftask"), action_data("mark_skipped", tasks["a2"].pk))
    assert StaffTask.objects.get(pk=tasks["a2"].pk).status == "skipped"
    page = client.get(url("campaigns.stafftask", "change", tasks["a2"].pk))
    assert page.status_code == 200 and "Store A VIPs" in page.content.decode()
    assert client.get(url("campaigns.stafftask", "change", tasks["b1"].pk)).status_code == 302  # not found


def test_a_notice_fits_wecoms_512_bytes_and_counts_what_it_leaves_out(company):
    from campaigns.services.stafftasks import _notice_content

    long = [task(company.sa, f"l{i}", title="长" * 60 + str(i)) for i in range(7)]
    card = _notice_content(long, len(long))
    lines = card["description"].splitlines()
    assert len(card["description"].encode()) <= 512
    listed_titles = lines[:-1]
    assert lines[-1] == f"and {7 - len(listed_titles)} more"
    assert all(line.endswith(str(i)) for i, line in enumerate(listed_titles))
