# ruff: noqa: F811  (the corp and staff fixtures are imported from test_livecodes_sandbox)
"""Staff live codes in the admin and the API, against the sandbox over HTTP: saving goes through
the service (the contact way is written), bad input is a form error or a 400, never a 500."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns.models import Channel, LiveCode
from scrm.org.models import Role, Staff, StaffDepartment
from scrm.org.services import operator_assign
from scrm.sandbox.models import SandboxCall, SandboxContactWay, SandboxMember
from tests.campaigns.test_livecodes_sandbox import corp, create, scan, staff  # noqa: F401
from tests.factories import DepartmentFactory, UserFactory
from tests.wecom.conftest import eager_celery  # noqa: F401

pytestmark = pytest.mark.django_db(transaction=True)

ADD_URL = "admin:campaigns_livecode_add"


@pytest.fixture
def admin_client(client, corp):
    client.force_login(UserFactory(username="boss", is_superuser=True))
    return client


def management(prefix: str, total: int, initial: int = 0) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def form_data(staff, *, hours=(), backups=(3,), **fields) -> dict:
    data = {
        "name": "Store poster",
        "state": "store_poster",
        "status": "active",
        "strategy": "round_robin",
        "daily_cap": "2",
        "skip_verify": "on",
        "remark_template": "{customer}",
        "description_template": "",
        **management("members", len(staff)),
        **management("hours", len(hours)),
        **management("special_dates", 0),
    }
    for index, member in enumerate(staff):
        data[f"members-{index}-staff"] = str(member.pk)
        data[f"members-{index}-weight"] = "1"
        if index in backups:
            data[f"members-{index}-is_backup"] = "on"
    for index, (weekday, start, end) in enumerate(hours):
        data.update(
            {f"hours-{index}-weekday": str(weekday), f"hours-{index}-start": start, f"hours-{index}-end": end}
        )
    data.update(fields)
    return data


def form_errors(response) -> str:
    assert response.status_code == 200, response.status_code  # the form again, not a redirect
    context = response.context
    errors = [str(context["adminform"].form.errors)]
    errors += [
        str(fs.formset.non_form_errors()) + str(fs.formset.errors) for fs in context["inline_admin_formsets"]
    ]
    return " ".join(errors)


def updates() -> int:
    return SandboxCall.objects.filter(path="externalcontact/update_contact_way", errcode=0).count()


# --- admin --------------------------------------------------------------------------------------------


def test_admin_creates_a_code_with_its_way_and_edits_it(admin_client, staff):
    response = admin_client.post(reverse(ADD_URL), form_data(staff, hours=[(0, "09:00", "18:00")]))
    assert response.status_code == 302, form_errors(response)
    code = LiveCode.objects.get()
    assert (code.channel.state, code.daily_cap, code.remark_template) == ("store_poster", 2, "{customer}")
    assert code.members.count() == 4 and code.hours.count() == 1
    way = SandboxContactWay.objects.get(config_id=code.config_id)
    assert set(way.user) <= {"user1", "user2", "user3", "user4"} and way.state == "store_poster"

    change = reverse("admin:campaigns_livecode_change", args=[code.pk])
    page = admin_client.get(change)
    assert page.status_code == 200
    assert code.config_id in page.content.decode() and "/sandbox/" in page.content.decode()

    # Dropping a member rewrites the way once; saving again unchanged writes nothing.
    before = updates()
    members = code.members.order_by("id")
    data = form_data(staff[1:], backups=(2,), **management("members", 3, 3))
    for index, member in enumerate(members[1:]):
        data[f"members-{index}-id"] = str(member.pk)
        data[f"members-{index}-code"] = str(code.pk)
    data.update({"hours-TOTAL_FORMS": "0"})
    response = admin_client.post(change, data)
    assert response.status_code == 302, form_errors(response)
    code.refresh_from_db()
    assert code.members.count() == 3 and code.hours.count() == 0
    assert "user1" not in SandboxContactWay.objects.get(config_id=code.config_id).user
    assert updates() == before + 1


def test_admin_list_shows_todays_adds_without_a_query_per_code(admin_client, corp, staff):
    first = create(staff, daily_cap=5, name="First")
    scan(corp, first, name="Visitor")
    url = reverse("admin:campaigns_livecode_changelist")
    with CaptureQueriesContext(connection) as few:
        page = admin_client.get(url)
    assert page.status_code == 200
    assert page.context["cl"].result_list[0].adds_today == 1
    for n in range(3):
        create(staff, state=f"more{n}", name=f"More {n}")
    with CaptureQueriesContext(connection) as more:
        assert admin_client.get(url).status_code == 200
    assert len(more.captured_queries) == len(few.captured_queries)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"state": "s" * 31}, "30"),
        ({"state": "taken"}, "already used"),
        ({"remark_template": "{nickname}"}, "unknown placeholder"),
        ({"remark_template": "x" * 21}, "20"),
        ({"description_template": "y" * 151}, "150"),
        (
            {
                "hours-TOTAL_FORMS": "1",
                "hours-0-weekday": "0",
                "hours-0-start": "18:00",
                "hours-0-end": "09:00",
            },
            "end after",
        ),
    ],
)
def test_admin_bad_input_is_a_form_error(admin_client, staff, change, message):
    Channel.objects.create(state="taken", name="Poster")
    response = admin_client.post(reverse(ADD_URL), {**form_data(staff), **change})
    assert message in form_errors(response)
    assert not LiveCode.objects.exists() and not SandboxContactWay.objects.exists()


def test_admin_refuses_more_than_100_staff_after_department_expansion(admin_client, staff):
    store = DepartmentFactory()
    crowd = Staff.objects.bulk_create(Staff(userid=f"crowd{i}", name=f"Crowd {i}") for i in range(100))
    StaffDepartment.objects.bulk_create(StaffDepartment(staff=s, department=store) for s in crowd)
    response = admin_client.post(reverse(ADD_URL), form_data(staff[:1], departments=[str(store.pk)]))
    assert "101" in form_errors(response) and "100" in form_errors(response)
    assert not LiveCode.objects.exists()


def test_admin_shows_wecoms_refusal_on_the_form(admin_client, staff):
    SandboxMember.objects.update(contact_enabled=False)
    response = admin_client.post(reverse(ADD_URL), form_data(staff))
    assert "WeCom refused" in form_errors(response)
    assert not LiveCode.objects.exists() and not Channel.objects.exists()


def test_admin_status_page_says_who_is_live_and_why_not(admin_client, corp, staff):
    code = create(staff, daily_cap=1)
    scan(corp, code, name="Visitor")  # user1 reaches their cap of 1
    Staff.objects.filter(userid="user3").update(status=Staff.Status.DEPARTED, departed_at="2026-01-01T00:00Z")
    page = admin_client.get(reverse("admin:campaigns_livecode_status", args=[code.pk]))
    assert page.status_code == 200
    text = page.content.decode()
    assert "capped (1/1 today)" in text
    assert "inactive or departed" in text
    assert "backup, waiting" in text
    assert [row["status"].reason for row in page.context["rows"]] == [
        "capped",
        "live",
        "inactive",
        "backup_waiting",
    ]


def test_admin_qr_downloads(admin_client, staff):
    code = create(staff)
    png = admin_client.get(reverse("admin:campaigns_livecode_qr", args=[code.pk, "png"]))
    assert png.status_code == 200 and png["Content-Type"] == "image/png"
    assert png.content.startswith(b"\x89PNG")
    svg = admin_client.get(reverse("admin:campaigns_livecode_qr", args=[code.pk, "svg"]))
    assert svg.status_code == 200 and b"<svg" in svg.content
    poster = admin_client.get(reverse("admin:campaigns_livecode_poster", args=[code.pk]))
    assert poster.status_code == 200 and b"data:image/png;base64," in poster.content
    assert admin_client.get(reverse("admin:campaigns_livecode_qr", args=[code.pk, "gif"])).status_code == 404


def test_a_guide_may_view_live_codes_but_not_change_them(client, staff):
    code = create(staff)
    guide = UserFactory(username="a-guide")
    operator_assign(user=guide, role=Role.GUIDE)
    client.force_login(guide)
    assert client.get(reverse("admin:campaigns_livecode_changelist")).status_code == 200
    assert client.get(reverse("admin:campaigns_livecode_status", args=[code.pk])).status_code == 200
    assert client.get(reverse(ADD_URL)).status_code == 403


# --- API -----------------------------------------------------------------------------------------------

LIST = "/api/v1/live-codes/"


@pytest.fixture
def api(corp):
    client = APIClient()
    client.force_authenticate(UserFactory(username="api-boss", is_superuser=True))
    return client


def body(staff, **fields):
    return {
        "name": "API code",
        "state": "api_code",
        "daily_cap": 2,
        "members": [{"staff": s.pk, "is_backup": i == 3} for i, s in enumerate(staff)],
        "hours": [{"weekday": d, "start": "00:00", "end": "23:59"} for d in range(7)],
        **fields,
    }


def test_api_crud_and_status(api, corp, staff):
    created = api.post(LIST, body(staff), format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["state"] == "api_code" and data["wecom_users"] == ["user1", "user2", "user3"]
    assert [m["userid"] for m in data["members"]] == ["user1", "user2", "user3", "user4"]
    code = LiveCode.objects.get()
    assert SandboxContactWay.objects.get(config_id=code.config_id).user == ["user1", "user2", "user3"]

    listing = api.get(LIST)
    assert listing.status_code == 200 and [r["id"] for r in listing.json()["results"]] == [code.pk]
    assert "next" in listing.json() and "count" not in listing.json()  # cursor pagination

    status = api.get(f"{LIST}{code.pk}/status/")
    assert status.status_code == 200
    assert [m["reason"] for m in status.json()["members"]] == ["live", "live", "live", "backup_waiting"]

    before = updates()
    renamed = api.patch(f"{LIST}{code.pk}/", {"name": "Renamed"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "Renamed"
    assert len(renamed.json()["members"]) == 4 and updates() == before  # the list did not change
    fewer = api.patch(f"{LIST}{code.pk}/", {"members": [{"staff": staff[0].pk}]}, format="json")
    assert fewer.status_code == 200, fewer.content
    assert fewer.json()["wecom_users"] == ["user1"] and updates() == before + 1

    exclusive = api.patch(f"{LIST}{code.pk}/", {"exclusive": True}, format="json")
    assert exclusive.status_code == 400 and "exclusive" in exclusive.json()

    # Paused: the way keeps its list; active again: rewritten at once.
    assert api.patch(f"{LIST}{code.pk}/", {"status": "paused"}, format="json").status_code == 200
    api.patch(f"{LIST}{code.pk}/", {"members": [{"staff": staff[1].pk}]}, format="json")
    assert SandboxContactWay.objects.get(config_id=code.config_id).user == ["user1"]
    assert api.patch(f"{LIST}{code.pk}/", {"status": "active"}, format="json").status_code == 200
    assert SandboxContactWay.objects.get(config_id=code.config_id).user == ["user2"]

    assert api.delete(f"{LIST}{code.pk}/").status_code == 204
    assert not LiveCode.objects.exists() and not SandboxContactWay.objects.exists()


def test_a_new_state_is_a_new_channel_and_the_old_one_keeps_its_adds(api, corp, staff):
    created = api.post(LIST, body(staff), format="json")
    assert created.status_code == 201, created.content
    code = LiveCode.objects.get()
    old = code.channel
    moved = api.patch(f"{LIST}{code.pk}/", {"state": "api_code_2"}, format="json")
    assert moved.status_code == 200, moved.content
    code.refresh_from_db()
    old.refresh_from_db()
    assert code.channel.state == "api_code_2" and code.channel_id != old.pk
    assert old.state == "api_code"  # the adds carrying the old state keep their channel
    assert SandboxContactWay.objects.get(config_id=code.config_id).state == "api_code_2"
    back = api.patch(f"{LIST}{code.pk}/", {"state": "api_code"}, format="json")
    assert back.status_code == 400 and "state" in back.json()  # a state is never reused


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"state": "s" * 31}, "state"),
        ({"state": "taken"}, "state"),
        ({"members": []}, "departments"),
        ({"members": [{"staff": 999999}]}, "members"),
        ({"hours": [{"weekday": 0, "start": "18:00", "end": "09:00"}]}, "hours"),
        ({"hours": [{"weekday": 9, "start": "08:00", "end": "09:00"}]}, "hours"),
        ({"remark_template": "{nickname}"}, "remark_template"),
        ({"description_template": "d" * 151}, "description_template"),
        ({"strategy": "random"}, "strategy"),
        ({"special_dates": [{"first_day": "2026-02-02", "last_day": "2026-02-01"}]}, "special_dates"),
    ],
)
def test_api_bad_input_is_a_400(api, staff, change, field):
    Channel.objects.create(state="taken", name="Poster")
    response = api.post(LIST, {**body(staff), **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert not LiveCode.objects.exists()


def test_api_wecom_refusal_is_a_400(api, staff):
    SandboxMember.objects.update(contact_enabled=False)
    response = api.post(LIST, body(staff), format="json")
    assert response.status_code == 400
    assert "WeCom" in str(response.json()["wecom"])
    assert not LiveCode.objects.exists()


def test_api_writes_need_the_permission(corp, staff):
    guide = UserFactory(username="a-guide")
    operator_assign(user=guide, role=Role.GUIDE)
    client = APIClient()
    client.force_authenticate(guide)
    assert client.get(LIST).status_code == 200
    assert client.post(LIST, body(staff), format="json").status_code == 403


def test_api_schema_lists_live_codes(api):
    schema = api.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/live-codes/{id}/status/" in schema.content
