# ruff: noqa: F811  (the corp fixture is imported from test_groupcodes)
"""Group live codes in the admin and the API, against the sandbox over HTTP: creation and changes
go through the service (WeCom's join way first), bad input is a form error or a 400, never a 500.
"""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from campaigns.models import GroupCode
from groups.models import GroupChat
from groups.sync import groups_sync
from scrm.org.models import Role
from scrm.org.services import operator_assign
from scrm.sandbox.actions.acquisition import scan_join_way
from scrm.sandbox.models import SandboxJoinWay
from scrm.wecom.client import wecom_client
from scrm.wecom.sync import SyncContext
from tests.campaigns.test_groupcodes import code_create, corp, groups_of, way_chats  # noqa: F401
from tests.factories import GroupChatFactory, UserFactory

pytestmark = pytest.mark.django_db(transaction=True)

ADD_URL = "admin:campaigns_groupcode_add"


@pytest.fixture
def admin_client(client, corp):
    client.force_login(UserFactory(username="boss", is_superuser=True))
    return client


def form_data(groups, **fields) -> dict:
    data = {
        "name": "Store flyer",
        "state": "store_flyer",
        "status": "active",
        "member_cap": "200",
        "auto_create_room": "on",
        "room_base_name": "Flyer group ",
        "room_base_id": "1",
        "welcome_template": "",
        "chats-TOTAL_FORMS": str(len(groups)),
        "chats-INITIAL_FORMS": "0",
        "chats-MIN_NUM_FORMS": "0",
        "chats-MAX_NUM_FORMS": "1000",
    }
    for index, group in enumerate(groups):
        data[f"chats-{index}-position"] = str(index)
        data[f"chats-{index}-group"] = str(group.pk)
        data[f"chats-{index}-status"] = "waiting"
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


def test_admin_creates_a_code_with_its_join_way_and_lists_it(admin_client, corp):
    groups = groups_of(corp)
    response = admin_client.post(reverse(ADD_URL), form_data(groups))
    assert response.status_code == 302, form_errors(response)
    code = GroupCode.objects.get()
    assert (code.channel.state, code.name) == ("store_flyer", "Store flyer")
    assert way_chats(code) == [g.chat_id for g in groups[:5]]  # at most 5 in the way, by itself
    assert list(code.chats.values_list("status", flat=True)) == ["live"] * 5 + ["waiting"]

    scan_join_way(corp.corp_id, {"config_id": code.config_id})
    groups_sync(SyncContext(client=wecom_client("contact"), mode="full", retry_delay=0))
    listing = admin_client.get(reverse("admin:campaigns_groupcode_changelist"))
    assert listing.status_code == 200
    row = listing.context["cl"].result_list[0]
    assert (row.joins_today, row.group_counts) == (1, {"live": 5, "waiting": 1})

    change = admin_client.get(reverse("admin:campaigns_groupcode_change", args=[code.pk]))
    assert change.status_code == 200
    page = change.content.decode()
    # Sandbox mode: the join way's config_id, with the console's scan_join_way to play it.
    assert code.config_id in page and reverse("sandbox:console") + "#action-scan_join_way" in page
    assert admin_client.get(reverse(ADD_URL)).status_code == 200

    png = admin_client.get(reverse("admin:campaigns_groupcode_qr", args=[code.pk, "png"]))
    assert (png.status_code, png["Content-Type"]) == (200, "image/png")
    assert png.content.startswith(b"\x89PNG")
    svg = admin_client.get(reverse("admin:campaigns_groupcode_qr", args=[code.pk, "svg"]))
    assert (svg.status_code, svg["Content-Type"]) == (200, "image/svg+xml")
    poster = admin_client.get(reverse("admin:campaigns_groupcode_poster", args=[code.pk]))
    assert poster.status_code == 200 and b"data:image/png;base64," in poster.content
    assert admin_client.get(reverse("admin:campaigns_groupcode_qr", args=[code.pk, "gif"])).status_code == 404


def test_admin_changes_order_and_status_through_the_service(admin_client, corp):
    groups = groups_of(corp)
    code = code_create(groups[:2], state="store_flyer")
    seats = list(code.chats.order_by("position"))
    data = form_data([], **{"name": "Renamed", "chats-TOTAL_FORMS": "2", "chats-INITIAL_FORMS": "2"})
    for index, (seat, position, status) in enumerate([(seats[0], 1, "full"), (seats[1], 0, "live")]):
        data.update(
            {
                f"chats-{index}-id": str(seat.pk),
                f"chats-{index}-code": str(code.pk),
                f"chats-{index}-position": str(position),
                f"chats-{index}-group": str(seat.group_id),
                f"chats-{index}-status": status,
            }
        )
    response = admin_client.post(reverse("admin:campaigns_groupcode_change", args=[code.pk]), data)
    assert response.status_code == 302, form_errors(response)
    code.refresh_from_db()
    assert code.name == "Renamed"
    assert list(code.chats.order_by("position").values_list("group_id", "status")) == [
        (groups[1].pk, "live"),
        (groups[0].pk, "full"),
    ]
    assert way_chats(code) == [groups[1].chat_id]


@pytest.mark.parametrize(
    ("fields", "message"),
    [
        ({"state": "s" * 31}, "at most 30 characters"),
        ({"room_base_name": "n" * 41}, "at most 40 characters"),
        ({"room_base_name": ""}, "base name"),
        ({"member_cap": "1"}, "greater than or equal to 2"),
        ({"chats-TOTAL_FORMS": "0"}, "at least one group"),
    ],
)
def test_admin_form_errors(admin_client, corp, fields, message):
    response = admin_client.post(reverse(ADD_URL), form_data(groups_of(corp)[:2], **fields))
    assert message in form_errors(response)
    assert not GroupCode.objects.exists() and not SandboxJoinWay.objects.exists()


def test_admin_duplicate_state_and_wecom_refusal_are_form_errors(admin_client, corp):
    taken = code_create(groups_of(corp)[1:2], state="taken")
    response = admin_client.post(reverse(ADD_URL), form_data(groups_of(corp)[:1], state="taken"))
    assert "already used" in form_errors(response)
    ways = SandboxJoinWay.objects.count()

    stranger = GroupChatFactory(owner=None)  # ours, but WeCom does not know it
    response = admin_client.post(reverse(ADD_URL), form_data([stranger]))
    errors = form_errors(response)
    assert "WeCom refused the join way" in errors
    assert 'value="store_flyer"' in response.content.decode()  # what was typed is kept
    assert list(GroupCode.objects.all()) == [taken] and SandboxJoinWay.objects.count() == ways


def test_admin_deletes_the_code_and_its_join_way(admin_client, corp):
    code = code_create(groups_of(corp)[:1], state="store_flyer")
    url = reverse("admin:campaigns_groupcode_delete", args=[code.pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    assert not GroupCode.objects.exists() and not SandboxJoinWay.objects.exists()


# --- API -------------------------------------------------------------------------------------------


@pytest.fixture
def api(corp):
    client = APIClient()
    client.force_authenticate(UserFactory(username="api-boss", is_superuser=True))
    return client


LIST = "/api/v1/group-codes/"


def test_api_crud(api, corp):
    groups = groups_of(corp)
    body = {
        "name": "Flyer",
        "state": "api_flyer",
        "member_cap": 150,
        "room_base_name": "Flyer ",
        "groups": [g.pk for g in groups],
    }
    created = api.post(LIST, body, format="json")
    assert created.status_code == 201, created.content
    data = created.json()
    assert (data["state"], data["member_cap"], len(data["chats"])) == ("api_flyer", 150, 6)
    assert [c["status"] for c in data["chats"]] == ["live"] * 5 + ["waiting"]
    assert data["wecom_chat_ids"] == [g.chat_id for g in groups[:5]]
    assert data["chats"][0]["group"]["chat_id"] == groups[0].chat_id
    code = GroupCode.objects.get()
    assert way_chats(code) == data["wecom_chat_ids"]

    scan_join_way(corp.corp_id, {"config_id": code.config_id})
    groups_sync(SyncContext(client=wecom_client("contact"), mode="full", retry_delay=0))
    joins = api.get(f"{LIST}{code.pk}/joins/", {"days": 7})
    assert joins.status_code == 200, joins.content
    assert joins.json()["groups"][0] == {
        "group": groups[0].pk,
        "chat_id": groups[0].chat_id,
        "status": "live",
        "members": 3,
        "joined": 1,
        "still_in": 1,
    }
    assert [(d["group"], d["joins"]) for d in joins.json()["days"]] == [(groups[0].pk, 1)]
    assert api.get(f"{LIST}{code.pk}/joins/", {"days": 0}).status_code == 400
    assert api.get(f"{LIST}{code.pk}/joins/", {"days": "x"}).status_code == 400

    listing = api.get(LIST)
    assert listing.status_code == 200 and [r["id"] for r in listing.json()["results"]] == [code.pk]
    assert "next" in listing.json() and "count" not in listing.json()  # cursor pagination

    changed = api.patch(f"{LIST}{code.pk}/", {"groups": [groups[5].pk, groups[0].pk]}, format="json")
    assert changed.status_code == 200, changed.content
    assert way_chats(code) == [groups[5].chat_id, groups[0].chat_id]
    renamed = api.patch(f"{LIST}{code.pk}/", {"name": "Renamed"}, format="json")
    assert renamed.status_code == 200 and len(renamed.json()["chats"]) == 2

    assert api.delete(f"{LIST}{code.pk}/").status_code == 204
    assert not GroupCode.objects.exists() and not SandboxJoinWay.objects.exists()


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"state": "s" * 31}, "state"),
        ({"groups": []}, "groups"),
        ({"groups": [999999]}, "groups"),
        ({"room_base_name": "n" * 41}, "room_base_name"),
        ({"room_base_name": ""}, "room_base_name"),
        ({"member_cap": 0}, "member_cap"),
        ({"state": "taken"}, "state"),
    ],
)
def test_api_bad_input_is_a_400(api, corp, change, field):
    taken = code_create(groups_of(corp)[1:2], state="taken")
    body = {"name": "Flyer", "state": "api_flyer", "room_base_name": "F", "groups": [groups_of(corp)[0].pk]}
    response = api.post(LIST, {**body, **change}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json()
    assert list(GroupCode.objects.all()) == [taken]


def test_api_wecom_refusal_is_a_400(api, corp):
    stranger = GroupChatFactory(owner=None)
    response = api.post(
        LIST, {"name": "F", "state": "s", "room_base_name": "F", "groups": [stranger.pk]}, format="json"
    )
    assert response.status_code == 400
    assert "WeCom" in str(response.json())
    assert not GroupCode.objects.exists()


def test_api_writes_need_the_permission(corp):
    guide = UserFactory(username="a-guide")
    operator_assign(user=guide, role=Role.GUIDE)
    client = APIClient()
    client.force_authenticate(guide)
    group = GroupChat.objects.first()
    response = client.post(LIST, {"name": "F", "state": "s", "groups": [group.pk]}, format="json")
    assert response.status_code == 403


def test_api_schema_lists_group_codes(api):
    schema = api.get("/api/v1/schema/")
    assert schema.status_code == 200
    assert b"/api/v1/group-codes/" in schema.content
