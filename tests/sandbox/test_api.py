"""The sandbox answers like WeCom: HTTP 200 JSON, WeCom's errcodes, limits and pagination."""

from __future__ import annotations

import pytest

from scrm.sandbox.models import SandboxCall, SandboxTagGroup
from scrm.sandbox.services import (
    sandbox_contacts_add,
    sandbox_corp_create,
    sandbox_faults_set,
    sandbox_tokens_expire,
    sandbox_tokens_invalidate,
)
from scrm.sandbox.welcome import welcome_code_issue

CORP = "wwsandboxtest"
SECRET = "contact-secret"
BASE = "/sandbox/cgi-bin/"


@pytest.fixture
def corp(db):
    return sandbox_corp_create(
        corp_id=CORP, contact_secret=SECRET, members=2, contacts_per_member=3, group_chats=1
    )


def _get(client, path, **params):
    response = client.get(BASE + path, params)
    assert response.status_code == 200
    return response.json()


def _post(client, path, body, **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    response = client.post(f"{BASE}{path}?{query}", body, content_type="application/json")
    assert response.status_code == 200
    return response.json()


def _token(client, secret=SECRET):
    data = _get(client, "gettoken", corpid=CORP, corpsecret=secret)
    assert data["errcode"] == 0, data
    return data["access_token"]


def test_gettoken_issues_one_token_until_it_expires(client, corp):
    first = _get(client, "gettoken", corpid=CORP, corpsecret=SECRET)
    assert first["errcode"] == 0
    assert first["errmsg"] == "ok"
    assert 7000 < first["expires_in"] <= 7200
    assert _token(client) == first["access_token"]
    sandbox_tokens_expire(corp_id=CORP)
    assert _token(client) != first["access_token"]


@pytest.mark.parametrize(
    ("params", "errcode", "stem"),
    [
        ({"corpid": "wrong", "corpsecret": SECRET}, 40013, "invalid corpid"),
        ({"corpid": CORP, "corpsecret": "wrong"}, 40001, "invalid credential"),
        ({"corpid": CORP}, 41004, "corpsecret missing"),
    ],
)
def test_gettoken_errors(client, corp, params, errcode, stem):
    data = _get(client, "gettoken", **params)
    assert data["errcode"] == errcode
    assert data["errmsg"].startswith(stem)
    assert "access_token" not in data


def test_token_checks(client, corp):
    assert _get(client, "user/get", userid="user1")["errcode"] == 41001
    assert _get(client, "user/get", userid="user1", access_token="nope")["errcode"] == 40014
    token = _token(client)
    assert _get(client, "user/get", userid="user1", access_token=token)["errcode"] == 0
    sandbox_tokens_expire()
    data = _get(client, "user/get", userid="user1", access_token=token)
    assert (data["errcode"], data["errmsg"].split(",")[0]) == (42001, "access_token expired")
    token = _token(client)
    sandbox_tokens_invalidate()
    assert _get(client, "user/get", userid="user1", access_token=token)["errcode"] == 40014


def test_call_record_keeps_no_token_or_secret(client, corp):
    token = _token(client)
    _get(client, "user/get", userid="user1", access_token=token)
    calls = list(SandboxCall.objects.values_list("path", "params", "errcode", "corp_id"))
    assert calls == [
        ("gettoken", {"corpid": CORP}, 0, CORP),
        ("user/get", {"userid": "user1"}, 0, CORP),
    ]


def test_wrong_method_and_unknown_api(client, corp):
    token = _token(client)
    assert _get(client, "externalcontact/batch/get_by_user", access_token=token)["errcode"] == 43002
    assert _post(client, "externalcontact/nope", {}, access_token=token)["errcode"] == 48002


def test_secret_roles(client, corp):
    agent = _token(client, corp.agent_secret)
    sync = _token(client, corp.sync_secret)
    contact = _token(client)
    assert _get(client, "externalcontact/get_follow_user_list", access_token=agent)["errcode"] == 48002
    assert _post(client, "user/list_id", {"limit": 10}, access_token=contact)["errcode"] == 48002
    data = _post(client, "user/list_id", {"limit": 1}, access_token=sync)
    assert data["dept_user"] == [{"userid": "user1", "department": 2}]
    rest = _post(client, "user/list_id", {"limit": 10, "cursor": data["next_cursor"]}, access_token=sync)
    assert rest == {
        "errcode": 0,
        "errmsg": "ok",
        "next_cursor": "",
        "dept_user": [{"userid": "user2", "department": 2}],
    }


def test_batch_get_by_user_clamps_limit_and_pages(client, corp):
    sandbox_contacts_add(member=corp.members[0], count=150)
    token = _token(client)
    body = {"userid_list": ["user1"], "limit": 500}
    first = _post(client, "externalcontact/batch/get_by_user", body, access_token=token)
    assert len(first["external_contact_list"]) == 100
    assert first["next_cursor"]
    second = _post(
        client,
        "externalcontact/batch/get_by_user",
        {**body, "cursor": first["next_cursor"]},
        access_token=token,
    )
    assert len(second["external_contact_list"]) == 53
    assert second["next_cursor"] == ""
    ids = [row["external_contact"]["external_userid"] for row in first["external_contact_list"]]
    ids += [row["external_contact"]["external_userid"] for row in second["external_contact_list"]]
    assert len(set(ids)) == 153
    default = _post(
        client, "externalcontact/batch/get_by_user", {"userid_list": ["user1"]}, access_token=token
    )
    assert len(default["external_contact_list"]) == 50


def test_batch_get_by_user_rejects_over_100_members(client, corp):
    token = _token(client)
    body = {"userid_list": [f"u{i}" for i in range(101)]}
    assert _post(client, "externalcontact/batch/get_by_user", body, access_token=token)["errcode"] == 40058
    assert _post(client, "externalcontact/batch/get_by_user", {}, access_token=token)["errcode"] == 41009
    bad_cursor = {"userid_list": ["user1"], "cursor": "garbage"}
    assert (
        _post(client, "externalcontact/batch/get_by_user", bad_cursor, access_token=token)["errcode"] == 40058
    )


def test_groupchat_list_requires_limit(client, corp):
    token = _token(client)
    assert _post(client, "externalcontact/groupchat/list", {}, access_token=token)["errcode"] == 40058
    assert (
        _post(client, "externalcontact/groupchat/list", {"limit": 1001}, access_token=token)["errcode"]
        == 40058
    )
    data = _post(client, "externalcontact/groupchat/list", {"limit": 1}, access_token=token)
    assert len(data["group_chat_list"]) == 1
    assert data["next_cursor"]
    owners = {"limit": 10, "owner_filter": {"userid_list": ["user2"]}}
    data = _post(client, "externalcontact/groupchat/list", owners, access_token=token)
    assert data["group_chat_list"] == [{"chat_id": corp.groups[1].chat_id, "status": 0}]


def test_deleting_the_last_tag_deletes_its_group(client, corp):
    token = _token(client)
    group = corp.tag_groups[0]
    body = {"tag_id": [t.tag_id for t in corp.tags]}
    assert _post(client, "externalcontact/del_corp_tag", body, access_token=token)["errcode"] == 0
    assert SandboxTagGroup.objects.get(pk=group.pk).deleted
    assert _post(client, "externalcontact/get_corp_tag_list", {}, access_token=token)["tag_group"] == []
    by_id = _post(
        client, "externalcontact/get_corp_tag_list", {"group_id": [group.group_id]}, access_token=token
    )
    assert by_id["tag_group"][0]["deleted"] is True
    assert all(t["deleted"] for t in by_id["tag_group"][0]["tag"])


def test_injected_faults_come_before_the_handler_and_are_recorded(client, corp):
    token = _token(client)
    sandbox_faults_set(error_rate=1.0, error_codes=[45009])
    data = _get(client, "user/get", userid="nobody", access_token=token)
    assert data["errcode"] == 45009
    assert data["errmsg"].startswith("api freq out of limit")
    call = SandboxCall.objects.last()
    assert (call.path, call.errcode, call.fault) == ("user/get", 45009, True)
    sandbox_faults_set()
    assert _get(client, "user/get", userid="nobody", access_token=token)["errcode"] == 60111


def test_injected_42001_expires_the_presented_token(client, corp):
    token = _token(client)
    sandbox_faults_set(fail_next=1, fail_errcode=42001)
    assert _get(client, "user/get", userid="user1", access_token=token)["errcode"] == 42001
    assert _get(client, "user/get", userid="user1", access_token=token)["errcode"] == 42001
    assert _get(client, "user/get", userid="user1", access_token=_token(client))["errcode"] == 0


def test_welcome_code_is_single_use(client, corp):
    token = _token(client)
    code = welcome_code_issue(corp_id=CORP, userid="user1", external_userid=corp.contacts[0].external_userid)
    body = {"welcome_code": code, "text": {"content": "hello"}}
    assert _post(client, "externalcontact/send_welcome_msg", body, access_token=token)["errcode"] == 0
    assert _post(client, "externalcontact/send_welcome_msg", body, access_token=token)["errcode"] == 41051
    assert _post(client, "externalcontact/send_welcome_msg", {}, access_token=token)["errcode"] == 41049


def test_invalid_json_body(client, corp):
    token = _token(client)
    response = client.post(
        f"{BASE}externalcontact/get_corp_tag_list?access_token={token}",
        "{not json",
        content_type="application/json",
    )
    assert response.status_code == 200
    assert response.json()["errcode"] == 47001
