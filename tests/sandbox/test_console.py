"""The sandbox console and the player's JSON API: who may use them, what bad input gets, and what
each people action changes on WeCom's side and which callback it queues."""

from __future__ import annotations

import json

import pytest
from django.conf import settings

from scrm.sandbox.clock import clock_offset, sandbox_time
from scrm.sandbox.models import (
    SandboxCallback,
    SandboxExternalContact,
    SandboxFollow,
    SandboxGroupChat,
    SandboxMember,
    SandboxTag,
    SandboxTagGroup,
    SandboxWelcomeCode,
)
from scrm.sandbox.player import ACTIONS
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom.events import event_parse
from tests.factories import UserFactory

PLAYER = "/sandbox/player/"


@pytest.fixture
def corp(db):
    return sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID,
        contact_secret="console-secret",
        members=2,
        contacts_per_member=2,
        group_chats=1,
    )


@pytest.fixture
def admin_client(client, db):
    client.force_login(UserFactory(username="sandbox_admin", is_staff=True, is_superuser=True))
    return client


def play(client, name, body=None, **extra):
    return client.post(f"{PLAYER}{name}/", json.dumps(body or {}), content_type="application/json", **extra)


def ok(client, name, body=None):
    response = play(client, name, body)
    assert response.status_code == 200, response.content.decode()
    return response.json()


def last_event():
    """The latest outbox row, parsed the way our callback view parses it."""
    row = SandboxCallback.objects.order_by("-id").first()
    return row, event_parse(row.xml)


# --- access -------------------------------------------------------------------------------------------


def test_console_and_api_need_a_staff_login(client, corp):
    response = client.get("/sandbox/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")
    assert client.get(PLAYER).status_code == 403
    assert play(client, "add_contact", {"userid": "user1"}).status_code == 403
    client.force_login(UserFactory(username="not_staff", is_staff=False))
    assert client.get(PLAYER).status_code == 403
    assert play(client, "add_contact", {"userid": "user1"}).json() == {
        "error": "Log in to the admin as a staff user first."
    }
    assert not SandboxCallback.objects.exists()


def test_the_whole_sandbox_is_404_in_live_mode(admin_client, corp, settings):
    settings.WECOM_MODE = "live"
    assert admin_client.get("/sandbox/").status_code == 404
    assert admin_client.get(PLAYER).status_code == 404
    assert play(admin_client, "add_contact", {"userid": "user1"}).status_code == 404
    assert (
        admin_client.get("/sandbox/cgi-bin/gettoken", {"corpid": "x", "corpsecret": "y"}).status_code == 404
    )
    assert not SandboxCallback.objects.exists()


def test_console_renders_the_corp_and_a_form_per_action(admin_client, corp):
    ok(admin_client, "add_contact", {"userid": "user1", "name": "Console Visitor"})
    response = admin_client.get("/sandbox/")
    assert response.status_code == 200
    page = response.content.decode()
    for name in ACTIONS:
        assert f'id="action-{name}"' in page
    assert "Console Visitor" in page
    assert "user2" in page
    assert "add_external_contact" in page
    assert corp.groups[0].chat_id in page


def test_console_form_plays_an_action_and_reports_errors(admin_client, corp):
    response = admin_client.post(
        "/sandbox/play/add_contact/", {"corp_id": corp.corp_id, "userid": "user2", "state": "from_form"}
    )
    assert response.status_code == 302
    assert SandboxFollow.objects.filter(member__userid="user2", state="from_form").count() == 1
    page = admin_client.get(response["Location"]).content.decode()
    assert "welcome_code" in page
    response = admin_client.post(
        "/sandbox/play/add_contact/", {"corp_id": corp.corp_id, "userid": "ghost"}, follow=True
    )
    assert "No staff member ghost" in response.content.decode()
    assert admin_client.post("/sandbox/play/nope/", {}).status_code == 404


def test_player_lists_actions_with_their_fields(admin_client, corp):
    data = admin_client.get(PLAYER).json()
    actions = {a["name"]: a for a in data["actions"]}
    assert set(ACTIONS) == set(actions)
    fields = {f["name"]: f for f in actions["add_contact"]["fields"]}
    assert fields["userid"]["required"] is True
    assert fields["add_way"] == fields["add_way"] | {"kind": "int", "required": False, "default": 1}


# --- bad input ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "body", "status", "message"),
    [
        ("no_such_action", {}, 404, "No action no_such_action."),
        ("add_contact", {}, 400, "userid is required."),
        ("add_contact", {"userid": "ghost"}, 400, "No staff member ghost"),
        ("add_contact", {"userid": "user1", "add_way": "many"}, 400, "add_way must be a whole number."),
        ("add_contact", {"userid": "user1", "state": "s" * 31}, 400, "longer than 30"),
        ("add_contact", {"userid": "user1", "colour": "red"}, 400, "Unknown fields: colour."),
        ("add_contact", {"userid": "user1", "external_userid": "wmNOPE"}, 400, "No customer wmNOPE"),
        ("staff_deletes_customer", {"userid": "user1", "external_userid": "wmNOPE"}, 400, "No customer"),
        ("staff_edits_customer", {"userid": "user1", "external_userid": "CONTACT"}, 400, "Nothing to change"),
        ("group_join", {"chat_id": "wrNOPE"}, 400, "No customer group wrNOPE"),
        ("group_quit", {"chat_id": "CHAT", "member": "user1"}, 400, "owner cannot leave"),
        ("group_create", {"owner": "user1", "customers": ["wmNOPE"]}, 400, "Unknown people: wmNOPE."),
        ("group_join", {"chat_id": "CHAT", "via_link": "maybe"}, 400, "via_link must be true or false."),
        ("member_join", {"name": "X", "department": 99}, 400, "No department 99"),
        ("member_join", {"name": "X", "userid": "user1"}, 400, "userid user1 is taken."),
        ("corp_tag_create_in_console", {"group_name": "G", "tags": "a, a"}, 400, "given twice"),
        ("advance_time", {"seconds": 0}, 400, "seconds must be between 1"),
        ("advance_time", {"seconds": True}, 400, "seconds must be a whole number."),
    ],
)
def test_bad_input_is_a_clear_4xx_and_changes_nothing(admin_client, corp, name, body, status, message):
    body = {
        k: (
            corp.contacts[0].external_userid
            if v == "CONTACT"
            else corp.groups[0].chat_id
            if v == "CHAT"
            else v
        )
        for k, v in body.items()
    }
    before = (
        SandboxFollow.objects.count(),
        SandboxExternalContact.objects.count(),
        SandboxMember.objects.count(),
    )
    response = play(admin_client, name, body)
    assert response.status_code == status
    assert message in response.json()["error"]
    assert not SandboxCallback.objects.exists()
    assert (
        SandboxFollow.objects.count(),
        SandboxExternalContact.objects.count(),
        SandboxMember.objects.count(),
    ) == before
    assert clock_offset() == 0


def test_the_player_api_takes_only_a_json_object(admin_client, corp):
    response = admin_client.post(f"{PLAYER}add_contact/", {"userid": "user1"})
    assert response.status_code == 415
    response = admin_client.post(f"{PLAYER}add_contact/", "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json() == {"error": "The body is not valid JSON."}
    assert play(admin_client, "add_contact", ["user1"]).status_code == 400
    assert admin_client.get(f"{PLAYER}add_contact/").status_code == 405


def test_player_api_is_usable_from_a_script_session_without_a_csrf_token(corp):
    from django.test import Client

    script = Client(enforce_csrf_checks=True)
    script.force_login(UserFactory(username="script", is_staff=True))
    assert play(script, "add_contact", {"userid": "user1"}).status_code == 200
    # The console's own forms keep Django's CSRF protection.
    assert script.post("/sandbox/play/add_contact/", {"userid": "user1"}).status_code == 403


# --- people actions: their effect on WeCom's side and the callback they queue -------------------------


def test_a_new_wechat_user_adds_a_staff_member(admin_client, corp):
    result = ok(
        admin_client, "add_contact", {"userid": "user1", "name": "新客户", "state": "poster_9", "add_way": 1}
    )
    contact = SandboxExternalContact.objects.get(external_userid=result["external_userid"])
    assert contact.name == "新客户"
    assert contact.external_userid.startswith("wm")
    follow = SandboxFollow.objects.get(contact=contact)
    assert (follow.member.userid, follow.state, follow.add_way) == ("user1", "poster_9", 1)
    code = SandboxWelcomeCode.objects.get(code=result["welcome_code"])
    assert (code.userid, code.external_userid, code.used_at) == ("user1", contact.external_userid, None)
    row, event = last_event()
    assert row.pk == result["callback"]
    assert (row.corp_id, row.status, row.attempts) == (corp.corp_id, SandboxCallback.Status.PENDING, 0)
    assert (event.event, event.change_type) == ("change_external_contact", "add_external_contact")
    assert (event.user_id, event.external_user_id) == ("user1", contact.external_userid)
    assert (event.state, event.welcome_code) == ("poster_9", result["welcome_code"])
    assert event.to_user_name == corp.corp_id


def test_an_existing_customer_adds_a_second_staff_member_once(admin_client, corp):
    existing = corp.contacts[0].external_userid  # followed by user1
    ok(admin_client, "add_contact", {"userid": "user2", "external_userid": existing})
    assert SandboxFollow.objects.filter(contact__external_userid=existing).count() == 2
    _, event = last_event()
    assert (event.user_id, event.external_user_id, event.state) == ("user2", existing, "")
    response = play(admin_client, "add_contact", {"userid": "user2", "external_userid": existing})
    assert response.status_code == 400
    assert "already a contact" in response.json()["error"]


@pytest.mark.parametrize(
    ("name", "change_type"),
    [("staff_deletes_customer", "del_external_contact"), ("customer_deletes_staff", "del_follow_user")],
)
def test_either_side_ends_a_friendship(admin_client, corp, name, change_type):
    contact = corp.contacts[0]
    ok(admin_client, name, {"userid": "user1", "external_userid": contact.external_userid})
    assert not SandboxFollow.objects.filter(contact=contact).exists()
    _, event = last_event()
    assert (event.change_type, event.user_id, event.external_user_id) == (
        change_type,
        "user1",
        contact.external_userid,
    )
    again = play(admin_client, name, {"userid": "user1", "external_userid": contact.external_userid})
    assert again.status_code == 400
    assert SandboxCallback.objects.count() == 1


def test_a_staff_member_edits_remark_and_tags(admin_client, corp):
    contact = corp.contacts[0]
    gold, silver = corp.tags[0].tag_id, corp.tags[1].tag_id
    result = ok(
        admin_client,
        "staff_edits_customer",
        {
            "userid": "user1",
            "external_userid": contact.external_userid,
            "remark": "VIP",
            "add_tags": f"{gold},{silver}",
        },
    )
    assert result["tag_ids"] == [gold, silver]
    ok(
        admin_client,
        "staff_edits_customer",
        {"userid": "user1", "external_userid": contact.external_userid, "remove_tags": [gold]},
    )
    follow = SandboxFollow.objects.get(contact=contact, member__userid="user1")
    assert (follow.remark, follow.tag_ids) == ("VIP", [silver])
    _, event = last_event()
    assert (event.change_type, event.user_id, event.external_user_id) == (
        "edit_external_contact",
        "user1",
        contact.external_userid,
    )
    response = play(
        admin_client,
        "staff_edits_customer",
        {"userid": "user1", "external_userid": contact.external_userid, "add_tags": ["etNOPE"]},
    )
    assert response.status_code == 400
    assert "etNOPE" in response.json()["error"]


def test_group_lifecycle(admin_client, corp):
    c1, c2 = corp.contacts[0].external_userid, corp.contacts[1].external_userid
    created = ok(admin_client, "group_create", {"owner": "user1", "name": "VIP 群", "customers": [c1]})
    chat_id = created["chat_id"]
    chat = SandboxGroupChat.objects.get(chat_id=chat_id)
    assert [(m["userid"], m["type"]) for m in chat.member_list] == [("user1", 1), (c1, 2)]
    _, event = last_event()
    assert (event.event, event.change_type, event.chat_id) == ("change_external_chat", "create", chat_id)

    version = chat.member_version
    ok(admin_client, "group_join", {"chat_id": chat_id, "external_userid": c2})
    chat.refresh_from_db()
    joined = chat.member_list[-1]
    assert (joined["userid"], joined["type"], joined["join_scene"], joined["invitor"]) == (
        c2,
        2,
        1,
        {"userid": "user1"},
    )
    _, event = last_event()
    assert (event.change_type, event.update_detail, event.join_scene) == ("update", "add_member", 0)
    assert (event.mem_change_cnt, event.mem_change_list) == (1, (c2,))
    assert (event.fields["LastMemVer"], event.fields["CurMemVer"]) == (version, chat.member_version)
    assert "<MemChangeList><Item>" in SandboxCallback.objects.order_by("-id").first().xml

    stranger = ok(admin_client, "group_join", {"chat_id": chat_id, "name": "路人", "via_link": True})
    assert SandboxExternalContact.objects.get(external_userid=stranger["external_userid"]).name == "路人"
    assert not SandboxFollow.objects.filter(contact__external_userid=stranger["external_userid"]).exists()

    ok(admin_client, "group_quit", {"chat_id": chat_id, "member": c2, "removed": True})
    chat.refresh_from_db()
    assert c2 not in [m["userid"] for m in chat.member_list]
    _, event = last_event()
    assert (event.update_detail, event.quit_scene, event.mem_change_list) == ("del_member", 1, (c2,))

    ok(admin_client, "group_rename", {"chat_id": chat_id, "name": "新名字"})
    assert SandboxGroupChat.objects.get(chat_id=chat_id).name == "新名字"
    _, event = last_event()
    assert (event.update_detail, event.chat_id) == ("change_name", chat_id)

    ok(admin_client, "group_dismiss", {"chat_id": chat_id})
    assert not SandboxGroupChat.objects.filter(chat_id=chat_id).exists()
    _, event = last_event()
    assert (event.change_type, event.chat_id) == ("dismiss", chat_id)
    assert SandboxCallback.objects.filter(event="change_external_chat").count() == 6


def test_address_book_changes(admin_client, corp):
    joined = ok(admin_client, "member_join", {"name": "New Guide", "userid": "guide9", "department": 2})
    member = SandboxMember.objects.get(userid="guide9")
    assert (member.name, member.departments, member.status) == ("New Guide", [2], 1)
    _, event = last_event()
    assert (event.event, event.change_type, event.user_id) == ("change_contact", "create_user", "guide9")
    assert event.fields["Name"] == "New Guide"
    assert joined["userid"] == "guide9"

    result = ok(admin_client, "member_resign", {"userid": "user1"})
    member = SandboxMember.objects.get(userid="user1")
    assert member.status == 5
    assert abs(member.dimission_time - sandbox_time()) < 60
    assert result["customers"] == 2
    assert SandboxGroupChat.objects.get(owner="user1").status == 1
    _, event = last_event()
    assert (event.change_type, event.user_id) == ("delete_user", "user1")
    # A member who left cannot be added any more.
    assert play(admin_client, "add_contact", {"userid": "user1"}).status_code == 400


def test_corp_tags_created_in_wecoms_console(admin_client, corp):
    result = ok(admin_client, "corp_tag_create_in_console", {"group_name": "兴趣", "tags": ["咖啡", "茶"]})
    group = SandboxTagGroup.objects.get(group_id=result["group_id"])
    assert sorted(group.tags.values_list("name", flat=True)) == ["咖啡", "茶"]
    _, event = last_event()
    assert (event.event, event.change_type, event.tag_id, event.tag_type) == (
        "change_external_tag",
        "create",
        group.group_id,
        "tag_group",
    )
    more = ok(admin_client, "corp_tag_create_in_console", {"group_name": "兴趣", "tags": "书"})
    tag = SandboxTag.objects.get(name="书")
    assert more["tag_ids"] == [tag.tag_id]
    _, event = last_event()
    assert (event.tag_id, event.tag_type) == (tag.tag_id, "tag")
    taken = play(admin_client, "corp_tag_create_in_console", {"group_name": "兴趣", "tags": ["茶"]})
    assert taken.status_code == 400


def test_time_passes(admin_client, corp):
    result = ok(admin_client, "advance_time", {"seconds": 86400})
    assert result["offset_seconds"] == clock_offset() == 86400


def test_the_admin_sidebar_links_the_console_in_sandbox_mode_only(admin_client, settings):
    assert 'href="/sandbox/"' in admin_client.get("/admin/").content.decode()
    settings.WECOM_MODE = "live"
    assert 'href="/sandbox/"' not in admin_client.get("/admin/").content.decode()
