"""The WeCom client against the sandbox over real HTTP (pytest-django's live server).

The sandbox's own call record (SandboxCall) is the witness: how many gettoken calls, which calls
were retried, and that each call reached WeCom's side exactly once.
"""

from __future__ import annotations

import logging
import threading

import pytest

from scrm.sandbox.models import SandboxCall
from scrm.sandbox.services import (
    sandbox_contacts_add,
    sandbox_corp_create,
    sandbox_faults_set,
    sandbox_tokens_expire,
    sandbox_tokens_invalidate,
)
from scrm.sandbox.welcome import welcome_code_issue
from scrm.wecom import errors
from scrm.wecom.client import WecomClient, redact, wecom_client, wecom_clients_close
from scrm.wecom.ratelimit import RateLimiter

CORP = "wwclienttest"
SECRET = "client-contact-secret"


@pytest.fixture
def corp(live_server):
    return sandbox_corp_create(
        corp_id=CORP, contact_secret=SECRET, members=2, contacts_per_member=2, group_chats=2
    )


@pytest.fixture
def base_url(live_server):
    return live_server.url + "/sandbox/cgi-bin"


@pytest.fixture
def make_client(base_url):
    clients = []

    def make(secret=SECRET, corp_id=CORP, **kwargs):
        kwargs.setdefault("timeout", 5.0)
        client = WecomClient(corp_id, secret, base_url=base_url, **kwargs)
        clients.append(client)
        return client

    yield make
    for client in clients:
        client.close()


@pytest.fixture
def wecom(corp, make_client):
    return make_client()


def calls(path=None):
    rows = SandboxCall.objects.order_by("id")
    if path:
        rows = rows.filter(path=path)
    return list(rows.values_list("path", "errcode"))


# --- access token -----------------------------------------------------------------------------------


def test_token_is_fetched_once_and_reused(wecom, make_client):
    wecom.user_get("user1")
    wecom.get_follow_user_list()
    make_client().department_list()  # another process: same cache, same token
    assert calls() == [
        ("gettoken", 0),
        ("user/get", 0),
        ("externalcontact/get_follow_user_list", 0),
        ("department/list", 0),
    ]


@pytest.mark.parametrize("spoil", [sandbox_tokens_expire, sandbox_tokens_invalidate])
def test_refused_token_is_refreshed_once_and_the_call_retried_once(wecom, spoil):
    old = wecom.access_token()
    spoil(corp_id=CORP)
    assert wecom.user_get("user2")["userid"] == "user2"
    assert wecom.access_token() != old
    refused = 42001 if spoil is sandbox_tokens_expire else 40014
    assert calls() == [("gettoken", 0), ("user/get", refused), ("gettoken", 0), ("user/get", 0)]


def test_token_error_on_the_retry_is_raised_not_looped(wecom):
    wecom.access_token()
    sandbox_faults_set(fail_next=2, fail_errcode=40014, fail_paths=["user/get"])
    with pytest.raises(errors.TokenInvalid):
        wecom.user_get("user1")
    assert calls() == [("gettoken", 0), ("user/get", 40014), ("gettoken", 0), ("user/get", 40014)]


def test_concurrent_calls_after_expiry_refresh_the_token_once(corp, make_client):
    workers = 8
    clients = [make_client() for _ in range(workers)]  # one per "process", sharing the cache
    clients[0].access_token()
    sandbox_tokens_expire(corp_id=CORP)
    barrier = threading.Barrier(workers)
    results, failures = [], []

    def work(client):
        try:
            barrier.wait()
            results.append(client.user_get("user1")["userid"])
        except Exception as exc:  # reported below
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert failures == []
    assert results == ["user1"] * workers
    assert len(calls("gettoken")) == 2  # the first token, then exactly one refresh
    assert calls("user/get").count(("user/get", 0)) == workers


def test_wrong_secret_is_a_config_error_without_retry(corp, make_client):
    wecom = make_client(secret="wrong-secret")
    with pytest.raises(errors.InvalidSecret) as info:
        wecom.user_get("user1")
    assert isinstance(info.value, errors.ConfigError)
    assert info.value.errcode == 40001
    assert calls() == [("gettoken", 40001)]


def test_wrong_corp_id_is_a_config_error(corp, make_client):
    with pytest.raises(errors.ConfigError) as info:
        make_client(corp_id="wwnobody").department_list()
    assert info.value.errcode == 40013


# --- transient failures -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errcode", "error_class"),
    [(45009, errors.RateLimited), (-1, errors.SystemBusy), (45033, errors.ConcurrencyLimited)],
)
def test_injected_transient_errors_raise_transient_error(wecom, errcode, error_class):
    wecom.access_token()
    sandbox_faults_set(fail_next=1, fail_errcode=errcode)
    with pytest.raises(error_class) as info:
        wecom.get_follow_user_list()
    assert isinstance(info.value, errors.TransientError)
    assert info.value.errcode == errcode
    assert info.value.api == "externalcontact/get_follow_user_list"
    assert calls() == [("gettoken", 0), ("externalcontact/get_follow_user_list", errcode)]
    assert wecom.get_follow_user_list() == ["user1", "user2"]


def test_timeout_is_transient(corp, make_client):
    wecom = make_client(timeout=0.2)
    wecom.access_token()
    sandbox_faults_set(latency_ms=1000)
    with pytest.raises(errors.Timeout) as info:
        wecom.department_list()
    assert isinstance(info.value, errors.TransientError)
    sandbox_faults_set()


def test_connection_error_is_transient(db):
    wecom = WecomClient(CORP, SECRET, base_url="http://127.0.0.1:9/cgi-bin", timeout=1.0)
    with pytest.raises(errors.NetworkError) as info:
        wecom.department_list()
    assert isinstance(info.value, errors.TransientError)


def test_client_side_rate_limit_stops_before_wecom(corp, make_client, settings):
    from django.core.cache import cache

    wecom = make_client(rate_limiter=RateLimiter(cache=cache, limit=2, max_wait=0))
    wecom.user_get("user1")
    wecom.user_get("user2")
    with pytest.raises(errors.RateLimited) as info:
        wecom.user_get("user1")
    assert info.value.errcode is None
    assert 0 < info.value.retry_after <= 60
    assert wecom.department_list()  # other APIs have their own window
    assert calls("user/get") == [("user/get", 0), ("user/get", 0)]


# --- typed methods ------------------------------------------------------------------------------------


def test_members_and_departments(corp, wecom, make_client):
    assert [(d["id"], d["parentid"]) for d in wecom.department_list()] == [(1, 0), (2, 1)]
    assert [d["id"] for d in wecom.department_list(id=2)] == [2]
    member = wecom.user_get("user1")
    assert (member["userid"], member["name"], member["department"], member["status"]) == (
        "user1",
        "Member 1",
        [2],
        1,
    )
    with pytest.raises(errors.UserNotFound):
        wecom.user_get("ghost")
    sync = make_client(secret=corp.sync_secret)
    page = sync.user_list_id(limit=1)
    assert page["dept_user"] == [{"userid": "user1", "department": 2}]
    assert sync.user_list_id(cursor=page["next_cursor"])["next_cursor"] == ""
    with pytest.raises(errors.ApiNotAllowed):
        wecom.user_list_id()


def test_external_contacts(corp, wecom):
    assert wecom.get_follow_user_list() == ["user1", "user2"]
    mine = wecom.externalcontact_list("user1")
    assert mine == [c.external_userid for c in corp.contacts[:2]]
    detail = wecom.externalcontact_get(mine[0])
    contact = corp.contacts[0]
    assert detail["external_contact"] == {
        "external_userid": contact.external_userid,
        "name": contact.name,
        "avatar": contact.avatar,
        "type": 1,
        "gender": contact.gender,
        "unionid": contact.unionid,
    }
    (follow,) = detail["follow_user"]
    assert follow["userid"] == "user1"
    assert (follow["add_way"], follow["state"], follow["tags"]) == (1, "sandbox", [])
    assert detail["next_cursor"] == ""
    with pytest.raises(errors.ExternalUserInvalid):
        wecom.externalcontact_get("wmnobody")


def test_batch_get_by_user_pages_over_more_than_100(corp, wecom):
    sandbox_contacts_add(member=corp.members[0], count=130)
    seen, cursor, pages = [], "", 0
    while True:
        page = wecom.batch_get_by_user(["user1", "user2"], cursor=cursor, limit=100)
        pages += 1
        for row in page["external_contact_list"]:
            assert set(row) == {"external_contact", "follow_info"}
            seen.append((row["follow_info"]["userid"], row["external_contact"]["external_userid"]))
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert pages == 2
    assert len(seen) == len(set(seen)) == 134
    assert len(calls("externalcontact/batch/get_by_user")) == 2


@pytest.mark.parametrize(
    ("userids", "limit"),
    [([], 10), ([f"u{i}" for i in range(101)], 10), (["user1"], 0), (["user1"], 101)],
)
def test_batch_get_by_user_validates_before_calling(wecom, userids, limit):
    with pytest.raises(errors.ArgumentError):
        wecom.batch_get_by_user(userids, limit=limit)
    assert calls() == []


def test_corp_tags_and_mark_tag(corp, wecom):
    (group,) = wecom.get_corp_tag_list()
    assert group["group_name"] == "会员等级"
    assert {t["name"] for t in group["tag"]} == {"金卡", "银卡"}

    added = wecom.add_corp_tag([{"name": "高意向", "order": 5}, {"name": "低意向"}], group_name="意向")
    assert added["group_id"].startswith("et")
    assert [t["name"] for t in added["tag"]] == ["高意向", "低意向"]
    high = added["tag"][0]["id"]
    with pytest.raises(errors.TagNameExists):
        wecom.add_corp_tag([{"name": "高意向"}], group_id=added["group_id"])
    wecom.edit_corp_tag(high, name="很高意向", order=9)
    (edited,) = wecom.get_corp_tag_list(tag_id=[high])
    (tag,) = edited["tag"]
    assert (tag["id"], tag["name"], tag["order"], tag["deleted"]) == (high, "很高意向", 9, False)

    customer = corp.contacts[0].external_userid
    wecom.mark_tag("user1", customer, add_tag=[high, corp.tags[0].tag_id])
    tags = wecom.externalcontact_get(customer)["follow_user"][0]["tags"]
    assert {(t["group_name"], t["tag_name"], t["type"]) for t in tags} == {
        ("意向", "很高意向", 1),
        ("会员等级", "金卡", 1),
    }
    wecom.mark_tag("user1", customer, remove_tag=[high])
    batch = wecom.batch_get_by_user(["user1"])
    by_customer = {
        r["external_contact"]["external_userid"]: r["follow_info"] for r in batch["external_contact_list"]
    }
    assert by_customer[customer]["tag_id"] == [corp.tags[0].tag_id]

    wecom.del_corp_tag(group_id=[added["group_id"]])
    assert [g["group_name"] for g in wecom.get_corp_tag_list()] == ["会员等级"]


def test_mark_tag_validation(corp, wecom):
    customer = corp.contacts[0].external_userid
    other_members_customer = corp.contacts[2].external_userid
    tag = corp.tags[0].tag_id
    with pytest.raises(errors.ArgumentError):
        wecom.mark_tag("user1", customer)
    with pytest.raises(errors.ArgumentError):
        wecom.mark_tag("", customer, add_tag=[tag])
    assert calls() == []  # refused before any call
    with pytest.raises(errors.TagNotFound):
        wecom.mark_tag("user1", customer, add_tag=["etnotatag"])
    with pytest.raises(errors.NoRelationship):
        wecom.mark_tag("user1", other_members_customer, add_tag=[tag])
    with pytest.raises(errors.UserNotFound):
        wecom.mark_tag("ghost", customer, add_tag=[tag])


def test_groupchats(corp, wecom):
    first = wecom.groupchat_list(limit=3)
    rest = wecom.groupchat_list(limit=3, cursor=first["next_cursor"])
    assert rest["next_cursor"] == ""
    chat_ids = [g["chat_id"] for g in first["group_chat_list"] + rest["group_chat_list"]]
    assert chat_ids == [g.chat_id for g in corp.groups]
    mine = wecom.groupchat_list(limit=10, owner_userids=["user2"])["group_chat_list"]
    assert [g["chat_id"] for g in mine] == chat_ids[2:]
    chat = wecom.groupchat_get(chat_ids[0], need_name=True)
    assert chat["owner"] == "user1"
    assert [(m["userid"], m["type"]) for m in chat["member_list"]] == [("user1", 1)] + [
        (c.external_userid, 2) for c in corp.contacts[:2]
    ]
    assert "name" in chat["member_list"][1]
    assert "name" not in wecom.groupchat_get(chat_ids[0])["member_list"][1]
    with pytest.raises(errors.ArgumentError):
        wecom.groupchat_list(limit=0)
    with pytest.raises(errors.ArgumentError):
        wecom.groupchat_list(limit=10, owner_userids=[f"u{i}" for i in range(101)])


def test_welcome_message_once_per_code(corp, wecom):
    code = welcome_code_issue(corp_id=CORP, userid="user1", external_userid=corp.contacts[0].external_userid)
    wecom.send_welcome_msg(code, text="欢迎")
    with pytest.raises(errors.WelcomeAlreadySent):
        wecom.send_welcome_msg(code, text="欢迎")
    with pytest.raises(errors.ArgumentError):
        wecom.send_welcome_msg("code-2", text="x", attachments=[{"msgtype": "link"}] * 10)
    assert calls("externalcontact/send_welcome_msg") == [
        ("externalcontact/send_welcome_msg", 0),
        ("externalcontact/send_welcome_msg", 41051),
    ]


def test_app_message_uses_the_agent_secret(corp, make_client):
    agent = make_client(secret=corp.agent_secret)
    result = agent.message_send(
        agentid=corp.agentid, msgtype="text", content={"content": "hi"}, touser=["user1", "x"]
    )
    assert result["invaliduser"] == "x"
    assert result["msgid"]
    (call,) = SandboxCall.objects.filter(path="message/send")
    assert call.body == {
        "agentid": corp.agentid,
        "msgtype": "text",
        "text": {"content": "hi"},
        "touser": "user1|x",
    }
    with pytest.raises(errors.ApiNotAllowed):
        agent.get_follow_user_list()  # the app secret is not a customer-contact secret


@pytest.fixture
def _forget_shared_clients():
    wecom_clients_close()
    yield
    wecom_clients_close()  # closes their keep-alive connections to the live server


@pytest.mark.usefixtures("_forget_shared_clients")
def test_factory_builds_clients_from_settings(corp, base_url, settings):
    settings.WECOM_CORP_ID = CORP
    settings.WECOM_SECRET = SECRET
    settings.WECOM_AGENT_SECRET = corp.agent_secret
    settings.WECOM_API_BASE = base_url
    contact = wecom_client("contact")
    assert wecom_client("contact") is contact
    assert contact.get_follow_user_list() == ["user1", "user2"]
    agent = wecom_client("agent")
    assert agent is not contact
    assert agent.message_send(
        agentid=corp.agentid, msgtype="text", content={"content": "x"}, touser=["user1"]
    )
    with pytest.raises(ValueError):
        wecom_client("nope")  # type: ignore[arg-type]


# --- logging ------------------------------------------------------------------------------------------


def test_neither_token_nor_secret_is_logged(corp, wecom, caplog):
    caplog.set_level(logging.DEBUG)
    wecom.user_get("user1")
    first = wecom.access_token()
    sandbox_tokens_expire(corp_id=CORP)
    wecom.user_get("user1")
    second = wecom.access_token()
    sandbox_faults_set(fail_next=1, fail_errcode=-1)
    with pytest.raises(errors.SystemBusy):
        wecom.user_get("user1")
    text = caplog.text + "\n".join(r.getMessage() for r in caplog.records)
    assert "access_token=***" in text  # the request URLs were logged, redacted
    for secret in (first, second, SECRET):
        assert secret not in text
    assert SECRET not in repr(wecom)


def test_redact():
    url = "https://x/cgi-bin/gettoken?corpid=ww1&corpsecret=S3cr3t&access_token=T0k&b=1"
    assert redact(url) == "https://x/cgi-bin/gettoken?corpid=ww1&corpsecret=***&access_token=***&b=1"


# --- errors -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("errcode", "error_class", "parent"),
    [
        (42001, errors.TokenExpired, errors.TokenError),
        (40014, errors.TokenInvalid, errors.TokenError),
        (40001, errors.InvalidCredential, errors.TokenError),
        (45009, errors.RateLimited, errors.TransientError),
        (-1, errors.SystemBusy, errors.TransientError),
        (40013, errors.InvalidCorpId, errors.ConfigError),
        (48002, errors.ApiNotAllowed, errors.ConfigError),
        (40058, errors.BadRequest, errors.WecomError),
        (60111, errors.UserNotFound, errors.NotFound),
        (84061, errors.NoRelationship, errors.NotFound),
        (40096, errors.ExternalUserInvalid, errors.NotFound),
        (40126, errors.QuotaExceeded, errors.WecomError),
        (41051, errors.WelcomeAlreadySent, errors.Rejected),
        (41050, errors.WelcomeCodeInvalid, errors.BadRequest),
    ],
)
def test_error_for(errcode, error_class, parent):
    error = errors.error_for(errcode, "raw message", "some/api")
    assert type(error) is error_class
    assert isinstance(error, parent)
    assert (error.errcode, error.errmsg, error.api) == (errcode, "raw message", "some/api")
    assert str(errcode) in str(error) and "some/api" in str(error)


def test_unknown_errcode_is_a_plain_wecom_error():
    error = errors.error_for(99999, "what", "x")
    assert type(error) is errors.WecomError


def test_every_documented_errcode_has_a_class():
    documented = {-1, 40001, 40003, 40013, 40014, 40029, 40058, 40068, 40071, 40091, 40096, 40097, 40098,
                  40099, 40100, 40126, 40128, 40129, 40130, 40131, 41001, 41004, 41009, 41037, 41038, 41039,
                  41040, 41041, 41042, 41043, 41044, 41045, 41046, 41047, 41048, 41049, 41050, 41051, 41053,
                  41054, 41055, 41056, 41057, 41059, 41060, 41061, 41062, 41063, 41064, 41065, 42001, 42012,
                  45009, 45033, 48002, 50001, 60011, 60020, 60111, 60123, 81013, 81017, 84061, 84074, 90500,
                  90501, 90502, 90503, 90504, 90507, 90508}  # fmt: skip
    assert documented <= set(errors.ERRORS)
    assert {-1, 45009, 45033} <= errors.TRANSIENT_ERRCODES
