"""Customer SOPs through the REST API (rules with nested steps, enrolments) and the admin pages."""

from __future__ import annotations

from datetime import time

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Channel, LiveCode, Material, SopEnrolment, SopRule, SopStep
from customers.models import Segment
from tests.api.conftest import api  # noqa: F401  (fixture)
from tests.factories import CustomerFactory, FollowFactory
from tests.wecom.conftest import eager_celery  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

URL = "/api/v1/sop-rules/"


@pytest.fixture
def live_code(db):
    return LiveCode.objects.create(name="Fair", channel=Channel.objects.create(state="fair", name="Fair"))


def welcome_body(code, *, materials=(), **fields):
    return {
        "name": "Welcome series",
        "trigger": "live_code",
        "live_code": code.pk,
        "steps": [
            {"day": 0, "at_time": "10:00", "text": "Welcome"},
            {"day": 1, "at_time": "10:00", "text": "Day 1", "material_ids": [m.pk for m in materials]},
            {"hours": 72, "action": "broadcast", "text": "Offer"},
        ],
        **fields,
    }


def test_a_rule_is_created_with_its_steps_and_updated(api, live_code, company):  # noqa: F811
    client = api("marketing")
    materials = [Material.objects.create(kind="text", title=f"m{n}", text="Hi") for n in range(2)]
    response = client.post(URL, welcome_body(live_code, materials=materials[::-1]), format="json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["time_zone"] == "Asia/Shanghai" and body["active_enrolments"] == 0
    assert [(s["position"], s["day"], s["at_time"], s["hours"]) for s in body["steps"]] == [
        (0, 0, "10:00:00", None),
        (1, 1, "10:00:00", None),
        (2, None, None, 72),
    ]
    assert body["steps"][1]["material_ids"] == sorted(m.pk for m in materials)
    rule = SopRule.objects.get()
    assert rule.created_by == company.users.marketing

    kept = body["steps"][1]
    response = client.patch(
        f"{URL}{rule.pk}/",
        {"steps": [{"id": kept["id"], "day": 2, "at_time": "09:00", "text": "Day 2"}]},
        format="json",
    )
    assert response.status_code == 200, response.content
    assert list(rule.steps.values_list("pk", "day", "at_time", "text")) == [(kept["id"], 2, time(9), "Day 2")]

    response = client.patch(f"{URL}{rule.pk}/", {"active": False}, format="json")
    assert response.status_code == 200 and rule.steps.count() == 1

    assert client.delete(f"{URL}{rule.pk}/").status_code == 204
    assert not SopRule.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"live_code": None}, "live_code"),
        ({"trigger": "segment"}, "segment"),
        ({"time_zone": "Mars/Base"}, "time_zone"),
        ({"steps": [{"day": 1, "text": "x"}]}, "steps"),
        ({"steps": [{"hours": 2, "day": 1, "at_time": "10:00", "text": "x"}]}, "steps"),
        ({"steps": [{"hours": 2, "text": ""}]}, "steps"),
        ({"steps": [{"hours": -1, "text": "x"}]}, "steps"),
        ({"steps": [{"id": 999999, "hours": 1, "text": "x"}]}, "steps"),
        ({"trigger": "sometimes"}, "trigger"),
        ({"steps": [{"hours": 1, "text": "x", "material_ids": [987654]}]}, "steps"),
    ],
)
def test_bad_rules_are_a_400_naming_the_field(api, live_code, change, field):  # noqa: F811
    response = api("marketing").post(URL, welcome_body(live_code, **change), format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not SopRule.objects.exists()


def test_guides_read_but_do_not_write(api, live_code):  # noqa: F811
    assert api("guide_a").post(URL, welcome_body(live_code), format="json").status_code == 403
    assert api("guide_a").get(URL).status_code == 200


def test_enrolments_are_paginated_filtered_and_scoped(api, company, live_code, django_assert_max_num_queries):  # noqa: F811
    rule = SopRule.objects.create(name="Welcome", trigger="live_code", live_code=live_code)
    SopStep.objects.create(rule=rule, hours=1, text="Hi")
    now = timezone.now()
    for staff in (company.sa, company.sb):
        for _ in range(3):
            SopEnrolment.objects.create(rule=rule, customer=CustomerFactory(), staff=staff, anchor_at=now)
    SopEnrolment.objects.filter(staff=company.sb).update(status="completed", exited_at=now)
    url = f"{URL}{rule.pk}/enrolments/"

    client = api("admin")
    first = client.get(url, {"page_size": 4}).json()
    assert len(first["results"]) == 4 and first["next"]
    rest = client.get(first["next"]).json()
    assert len(rest["results"]) == 2 and rest["next"] is None
    assert {r["status"] for r in client.get(url, {"status": "completed"}).json()["results"]} == {"completed"}
    response = client.get(url, {"status": "gone"})
    assert response.status_code == 400 and "status" in response.json()
    assert client.get(url, {"cursor": "nonsense"}).status_code == 400

    SopStep.objects.create(rule=rule, hours=2, text="Again")  # counted per enrolment, not per step
    assert client.get(f"{URL}{rule.pk}/").json()["active_enrolments"] == 3
    guide = api("guide_a").get(url).json()["results"]
    assert {r["staff"] for r in guide} == {company.sa.pk}
    with django_assert_max_num_queries(8):
        client.get(url)


def test_the_rule_list_takes_the_same_queries_whatever_its_length(api, live_code, django_assert_num_queries):  # noqa: F811
    client = api("admin")

    def add(count: int) -> None:
        for n in range(count):
            rule = SopRule.objects.create(name=f"r{n}", trigger="live_code", live_code=live_code)
            SopStep.objects.create(rule=rule, hours=n, text="Hi")

    add(1)
    client.get(URL)  # the key's first use is recorded once
    with CaptureQueriesContext(connection) as few:
        assert client.get(URL).status_code == 200
    add(5)
    with django_assert_num_queries(len(few.captured_queries)):
        assert len(client.get(URL).json()["results"]) == 6


# --- Admin -------------------------------------------------------------------------------------


def test_admin_pages_show_empty_states_and_rules(admin_client, live_code):
    response = admin_client.get("/admin/campaigns/soprule/")
    assert response.status_code == 200
    assert "No customer SOP yet" in response.content.decode()
    for page in ("sopenrolment", "sopoccurrence"):
        assert admin_client.get(f"/admin/campaigns/{page}/").status_code == 200
    assert admin_client.get("/admin/campaigns/soprule/add/").status_code == 200


def test_the_admin_list_of_rules_takes_the_same_queries_whatever_its_length(
    admin_client, live_code, django_assert_max_num_queries
):
    def add(count: int) -> None:
        for n in range(count):
            rule = SopRule.objects.create(name=f"r{n}", trigger="live_code", live_code=live_code)
            SopStep.objects.create(rule=rule, hours=n, text="Hi")

    add(1)
    with CaptureQueriesContext(connection) as few:
        assert admin_client.get("/admin/campaigns/soprule/").status_code == 200
    add(10)
    with django_assert_max_num_queries(len(few.captured_queries)):
        response = admin_client.get("/admin/campaigns/soprule/")
    assert response.content.decode().count("/change/") >= 11


def test_the_admin_saves_a_rule_with_its_steps(admin_client, live_code):
    data = {
        "name": "Welcome",
        "active": "on",
        "trigger": "live_code",
        "live_code": live_code.pk,
        "time_zone": "Asia/Shanghai",
        "exit_on_follow_deleted": "on",
        "steps-TOTAL_FORMS": "2",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
        "steps-0-day": "0",
        "steps-0-at_time": "10:00",
        "steps-0-action": "staff_task",
        "steps-0-text": "Welcome",
        "steps-1-hours": "26",
        "steps-1-action": "staff_task",
        "steps-1-text": "Later",
    }
    response = admin_client.post("/admin/campaigns/soprule/add/", data)
    assert response.status_code == 302, (
        response.context["adminform"].form.errors if response.context else response
    )
    rule = SopRule.objects.get()
    assert list(rule.steps.order_by("position").values_list("text", flat=True)) == ["Welcome", "Later"]

    bad = {**data, "name": "Bad", "steps-0-at_time": "", "live_code": ""}
    response = admin_client.post("/admin/campaigns/soprule/add/", bad)
    assert response.status_code == 200
    assert SopRule.objects.count() == 1


def test_enrol_now_enrols_a_segments_matches(
    admin_client,
    company,
    eager_celery,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    segment = Segment.objects.create(name="Gold", rules={"tags_any": [company.gold.pk]})
    rule = SopRule.objects.create(name="Gold care", trigger="segment", segment=segment)
    SopStep.objects.create(rule=rule, day=1, at_time=time(10), text="Hi")
    FollowFactory()  # not gold
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(
            "/admin/campaigns/soprule/", {"action": "enrol_now", "_selected_action": [rule.pk]}, follow=True
        )
    assert response.status_code == 200
    assert list(rule.enrolments.values_list("customer_id", flat=True)) == [company.ca1.pk]
