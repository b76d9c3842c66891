"""The sandbox's acquisition side answers like WeCom: contact ways, join ways, welcome codes and
templates, media, statistics, the shared API quota and the frequency simulation (45009).

Everything goes over HTTP through our own client against the live server. Where a check is the
sandbox's own (the client would refuse the call first), the raw ``call`` sends the bad request.
The player's moves are checked by their outbox rows, parsed as our callback view parses them.
"""

from __future__ import annotations

import threading
from datetime import date, timedelta

import httpx
import pytest

from scrm.fields import secret_digest
from scrm.sandbox.actions.acquisition import (
    chat_activity,
    sandbox_limits,
    scan_contact_way,
    scan_join_way,
)
from scrm.sandbox.actions.people import customer_deletes_staff
from scrm.sandbox.clock import clock_advance, sandbox_time
from scrm.sandbox.frequency import limits_set
from scrm.sandbox.models import (
    SandboxApp,
    SandboxCall,
    SandboxCallback,
    SandboxContactWay,
    SandboxDepartment,
    SandboxFollow,
    SandboxFollowDeletion,
    SandboxGroupChat,
    SandboxMember,
    SandboxWelcomeCode,
    SandboxWelcomeTemplate,
)
from scrm.sandbox.player import PlayerError
from scrm.sandbox.services import sandbox_corp_create
from scrm.sandbox.welcome import welcome_code_issue
from scrm.wecom import errors
from scrm.wecom.client import WecomClient
from scrm.wecom.events import event_parse

CORP = "wwacquisition"
SECRET = "acquisition-secret"
DAY = 86400
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def corp(live_server):
    return sandbox_corp_create(
        corp_id=CORP, contact_secret=SECRET, members=3, contacts_per_member=1, group_chats=1
    )


@pytest.fixture
def wecom(corp, live_server):
    client = WecomClient(CORP, SECRET, base_url=live_server.url + "/sandbox/cgi-bin", timeout=5.0)
    yield client
    client.close()


def errcode_of(call, *args, **kwargs) -> int:
    with pytest.raises(errors.WecomError) as caught:
        call(*args, **kwargs)
    return caught.value.errcode


def raw(wecom, path, body):
    """A POST exactly as given: the sandbox, not our client, judges it."""
    return wecom.call("POST", path, body=body)


def callbacks(change_type=None):
    rows = SandboxCallback.objects.order_by("id")
    if change_type:
        rows = rows.filter(change_type=change_type)
    return [event_parse(row.xml) for row in rows]


# --- contact ways -------------------------------------------------------------------------------------


def test_contact_way_lifecycle(wecom):
    created = wecom.add_contact_way(type=1, scene=2, user=["user1"], state="fair", remark="spring fair")
    assert len(created["config_id"]) == 32
    assert created["qr_code"].startswith("https://")
    way = wecom.get_contact_way(created["config_id"])
    assert way["type"] == 1
    assert way["scene"] == 2
    assert way["user"] == ["user1"]
    assert way["state"] == "fair"
    assert way["skip_verify"] is True
    assert way["qr_code"] == created["qr_code"]

    button = wecom.add_contact_way(type=2, scene=1, style=2, user=["user2"], party=[2])
    assert "qr_code" not in button
    ids, cursor = wecom.list_contact_way(limit=1)
    assert ids == [created["config_id"]] and cursor
    ids, cursor = wecom.list_contact_way(limit=1, cursor=cursor)
    assert ids == [button["config_id"]] and cursor == ""

    # Lists replace the old ones.
    wecom.update_contact_way(button["config_id"], user=["user3"], party=[], remark="new")
    way = wecom.get_contact_way(button["config_id"])
    assert (way["user"], way["party"], way["remark"], way["style"]) == (["user3"], [], "new", 2)

    wecom.del_contact_way(created["config_id"])
    assert errcode_of(wecom.get_contact_way, created["config_id"]) == 41044


def test_list_contact_way_window(wecom):
    first = wecom.add_contact_way(type=1, scene=2, user=["user1"])["config_id"]
    clock_advance(10 * DAY)
    second = wecom.add_contact_way(type=1, scene=2, user=["user1"])["config_id"]
    now = sandbox_time()
    assert wecom.list_contact_way(start_time=now - DAY, end_time=now)[0] == [second]
    assert wecom.list_contact_way()[0] == [first, second]  # default window: 90 days


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"scene": 2, "user": ["user1"]}, 41037),
        ({"type": 1, "user": ["user1"]}, 41038),
        ({"type": 3, "scene": 2, "user": ["user1"]}, 41039),
        ({"type": 1, "scene": 5, "user": ["user1"]}, 41040),
        ({"type": 1, "scene": 1, "style": 4, "user": ["user1"]}, 41042),
        ({"type": 2, "scene": 1, "style": 3, "user": ["user1"]}, 41042),
        ({"type": 1, "scene": 2, "user": ["user1", "user2"]}, 40058),
        ({"type": 1, "scene": 2, "user": ["user1"], "remark": "r" * 31}, 40058),
        ({"type": 1, "scene": 2, "user": ["user1"], "state": "s" * 31}, 40058),
        ({"type": 1, "scene": 2, "user": ["nobody"]}, 60111),
        ({"type": 2, "scene": 2, "party": [99]}, 60123),
        ({"type": 2, "scene": 2, "user": ["user1"], "is_temp": True}, 40058),
        (
            {"type": 1, "scene": 2, "user": ["user1"], "conclusions": {"image": {"media_id": "nope"}}},
            40007,
        ),
        ({"type": 1, "scene": 2, "user": ["user1"], "conclusions": {"voice": {}}}, 41065),
    ],
)
def test_add_contact_way_is_checked_like_wecom(wecom, body, errcode):
    assert errcode_of(raw, wecom, "externalcontact/add_contact_way", body) == errcode
    assert not SandboxContactWay.objects.exists()


def test_contact_way_member_state_checks(wecom, corp):
    SandboxMember.objects.filter(corp_id=CORP, userid="user2").update(status=4)
    SandboxMember.objects.filter(corp_id=CORP, userid="user3").update(contact_enabled=False)
    assert errcode_of(wecom.add_contact_way, type=1, scene=2, user=["user2"]) == 41054
    assert errcode_of(wecom.add_contact_way, type=1, scene=2, user=["user3"]) == 84074


def test_at_most_100_members_after_expanding_departments(wecom, corp):
    SandboxDepartment.objects.create(corp_id=CORP, dept_id=3, name="Field", parentid=2)
    SandboxMember.objects.bulk_create(
        SandboxMember(corp_id=CORP, userid=f"field{i}", name=f"Field {i}", departments=[3]) for i in range(97)
    )
    # Department 2 and its child 3: 3 + 97 members.
    config_id = wecom.add_contact_way(type=2, scene=2, party=[2])["config_id"]
    SandboxMember.objects.create(corp_id=CORP, userid="field97", name="One more", departments=[3])
    assert errcode_of(wecom.add_contact_way, type=2, scene=2, party=[2]) == 41041
    assert errcode_of(wecom.update_contact_way, config_id, party=[2]) == 41041
    # A department-free way is fine.
    wecom.update_contact_way(config_id, user=["user1"], party=[])


def test_config_id_errors(wecom):
    assert errcode_of(raw, wecom, "externalcontact/get_contact_way", {}) == 41043
    assert errcode_of(raw, wecom, "externalcontact/update_contact_way", {"config_id": "f" * 32}) == 41044
    assert errcode_of(raw, wecom, "externalcontact/del_contact_way", {"config_id": "f" * 32}) == 41044
    assert errcode_of(raw, wecom, "externalcontact/groupchat/get_join_way", {}) == 41043


def test_contact_ways_and_join_ways_share_the_api_quota(wecom, corp):
    limits_set(api_quota=2)
    chat_id = corp.groups[0].chat_id
    way = wecom.add_contact_way(type=1, scene=2, user=["user1"])["config_id"]
    wecom.add_join_way(scene=2, chat_id_list=[chat_id])
    assert errcode_of(wecom.add_contact_way, type=1, scene=2, user=["user1"]) == 41045
    with pytest.raises(errors.QuotaExceeded):
        wecom.add_join_way(scene=2, chat_id_list=[chat_id])
    # Temporary ways do not count against it.
    temp = wecom.add_contact_way(type=1, scene=2, user=["user1"], is_temp=True, expires_in=3600)
    assert wecom.get_contact_way(temp["config_id"])["expires_in"] == 3600
    wecom.del_contact_way(way)
    wecom.add_contact_way(type=1, scene=2, user=["user1"])


def test_close_temp_chat(wecom, corp):
    customer = corp.contacts[0].external_userid  # a customer of user1
    wecom.close_temp_chat("user1", customer)
    assert errcode_of(wecom.close_temp_chat, "user2", customer) == 84061


# --- join ways -----------------------------------------------------------------------------------------


def test_join_way_lifecycle(wecom, corp):
    chats = [g.chat_id for g in corp.groups]
    config_id = wecom.add_join_way(
        scene=2, chat_id_list=chats[:2], remark="r" * 40, room_base_name="Fans ", room_base_id=10, state="qr7"
    )
    way = wecom.get_join_way(config_id)
    assert way["chat_id_list"] == chats[:2]
    assert way["remark"] == "r" * 30  # cut at 30, as WeCom does
    assert (way["auto_create_room"], way["room_base_name"], way["room_base_id"]) == (1, "Fans ", 10)
    assert way["state"] == "qr7"
    assert way["qr_code"].startswith("https://")
    # Overwrite semantics: what is not sent goes back to its default.
    wecom.update_join_way(config_id, scene=1, chat_id_list=[chats[2]])
    way = wecom.get_join_way(config_id)
    assert (way["chat_id_list"], way["state"], way["room_base_name"], way["remark"]) == (
        [chats[2]],
        "",
        "",
        "",
    )
    assert "qr_code" not in way
    wecom.del_join_way(config_id)
    assert errcode_of(wecom.get_join_way, config_id) == 41044


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"chat_id_list": ["CHAT"]}, 40058),
        ({"scene": 3, "chat_id_list": ["CHAT"]}, 40058),
        ({"scene": 2, "chat_id_list": []}, 40058),
        ({"scene": 2, "chat_id_list": ["CHAT"] * 1 + [f"wr{i}" for i in range(5)]}, 40058),
        ({"scene": 2, "chat_id_list": ["CHAT"], "room_base_name": "n" * 41}, 40058),
        ({"scene": 2, "chat_id_list": ["CHAT"], "state": "s" * 31}, 40058),
        ({"scene": 2, "chat_id_list": ["wrnotagroup"]}, 90501),
    ],
)
def test_add_join_way_is_checked_like_wecom(wecom, corp, body, errcode):
    body = {
        **body,
        "chat_id_list": [corp.groups[0].chat_id if c == "CHAT" else c for c in body["chat_id_list"]],
    }
    assert errcode_of(raw, wecom, "externalcontact/groupchat/add_join_way", body) == errcode


# --- welcome messages ----------------------------------------------------------------------------------


def test_welcome_code_is_single_use_and_the_first_call_wins(wecom, corp):
    code = welcome_code_issue(corp_id=CORP, userid="user1", external_userid=corp.contacts[0].external_userid)
    wecom.send_welcome_msg(code, text="Welcome!")
    with pytest.raises(errors.WelcomeAlreadySent):
        wecom.send_welcome_msg(code, text="Welcome again!")
    assert SandboxWelcomeCode.objects.get(code=code).used_at is not None


def test_two_apps_racing_for_one_code_one_wins(wecom, corp, live_server):
    SandboxApp.objects.create(corp_id=CORP, name="second app", secret="second-secret")
    other = WecomClient(CORP, "second-secret", base_url=live_server.url + "/sandbox/cgi-bin", timeout=5.0)
    code = welcome_code_issue(corp_id=CORP, userid="user1", external_userid=corp.contacts[0].external_userid)
    for client in (wecom, other):  # tokens first, so that the two sends start together
        client.access_token()
    barrier = threading.Barrier(2)
    outcomes = []

    def send(client):
        barrier.wait()
        try:
            client.send_welcome_msg(code, text="Welcome")
            outcomes.append("sent")
        except errors.WelcomeAlreadySent:
            outcomes.append("41051")

    threads = [threading.Thread(target=send, args=(c,)) for c in (wecom, other)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    other.close()
    assert sorted(outcomes) == ["41051", "sent"]


def test_welcome_code_expires_after_20_simulated_seconds(wecom, corp):
    customer = corp.contacts[0].external_userid
    fresh = welcome_code_issue(corp_id=CORP, userid="user1", external_userid=customer)
    stale = welcome_code_issue(corp_id=CORP, userid="user1", external_userid=customer)
    clock_advance(19)  # real time passes too: a second of margin
    wecom.send_welcome_msg(fresh, text="just in time")
    clock_advance(2)
    with pytest.raises(errors.WelcomeCodeInvalid):
        wecom.send_welcome_msg(stale, text="too late")
    assert errcode_of(wecom.send_welcome_msg, "no-such-code", text="hi") == 41050


def test_welcome_code_of_another_corp_is_invalid(wecom, corp):
    other = sandbox_corp_create(corp_id="wwother", contact_secret="other-secret", members=1)
    code = welcome_code_issue(
        corp_id="wwother", userid="user1", external_userid=other.contacts[0].external_userid
    )
    assert errcode_of(wecom.send_welcome_msg, code, text="hi") == 41050


def test_a_refused_welcome_message_does_not_spend_the_code(wecom, corp):
    code = welcome_code_issue(corp_id=CORP, userid="user1", external_userid=corp.contacts[0].external_userid)
    bad = [{"msgtype": "image", "image": {"media_id": "not-uploaded"}}]
    assert errcode_of(wecom.send_welcome_msg, code, text="hi", attachments=bad) == 40007
    wecom.send_welcome_msg(code, text="hi")


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"text": {"content": "hi"}}, 41049),
        ({"welcome_code": "CODE"}, 44004),
        ({"welcome_code": "CODE", "text": {"content": "中" * 1334}}, 40058),  # 4002 bytes
        ({"welcome_code": "CODE", "text": {"content": ""}, "attachments": []}, 44004),
        (
            {
                "welcome_code": "CODE",
                "attachments": [{"msgtype": "link", "link": {"title": "t", "url": "https://x.test"}}] * 10,
            },
            40058,
        ),
        ({"welcome_code": "CODE", "attachments": [{"msgtype": "voice", "voice": {"media_id": "m"}}]}, 41065),
        ({"welcome_code": "CODE", "attachments": [{"msgtype": "link", "image": {}}]}, 41065),
        ({"welcome_code": "CODE", "attachments": [{"msgtype": "link", "link": {"title": "t"}}]}, 40058),
        (
            {
                "welcome_code": "CODE",
                "attachments": [{"msgtype": "link", "link": {"title": "t" * 129, "url": "https://x.test"}}],
            },
            41064,
        ),
        (
            {
                "welcome_code": "CODE",
                "attachments": [{"msgtype": "miniprogram", "miniprogram": {"title": "t", "appid": "wx1"}}],
            },
            40058,
        ),
        ({"welcome_code": "CODE", "attachments": [{"msgtype": "image", "image": {}}]}, 40058),
        (
            {
                "welcome_code": "CODE",
                "attachments": [{"msgtype": "image", "image": {"pic_url": "https://a.test"}}],
            },
            40058,
        ),
    ],
)
def test_send_welcome_msg_is_checked_like_wecom(wecom, corp, body, errcode):
    code = welcome_code_issue(corp_id=CORP, userid="user1", external_userid=corp.contacts[0].external_userid)
    if body.get("welcome_code") == "CODE":
        body = {**body, "welcome_code": code}
    assert errcode_of(raw, wecom, "externalcontact/send_welcome_msg", body) == errcode
    assert SandboxWelcomeCode.objects.get(code=code).used_at is None


def test_welcome_message_with_uploaded_media(wecom, corp):
    image = wecom.media_upload("image", filename="card.png", content=PNG, content_type="image/png")
    video = wecom.media_upload("video", filename="clip.mp4", content=b"\x00" * 100)
    pic_url = wecom.media_uploadimg(filename="cover.jpg", content=PNG, content_type="image/jpeg")
    code = welcome_code_issue(corp_id=CORP, userid="user1", external_userid=corp.contacts[0].external_userid)
    wecom.send_welcome_msg(
        code,
        text="Welcome",
        attachments=[
            {"msgtype": "image", "image": {"media_id": image["media_id"]}},
            {"msgtype": "image", "image": {"pic_url": pic_url}},
            {"msgtype": "video", "video": {"media_id": video["media_id"]}},
            {
                "msgtype": "miniprogram",
                "miniprogram": {
                    "title": "Shop",
                    "pic_media_id": image["media_id"],
                    "appid": "wx1",
                    "page": "/",
                },
            },
        ],
    )
    # A video's media_id is not an image; and temporary media die after 3 days.
    code = welcome_code_issue(corp_id=CORP, userid="user1", external_userid=corp.contacts[0].external_userid)
    wrong = [{"msgtype": "image", "image": {"media_id": video["media_id"]}}]
    assert errcode_of(wecom.send_welcome_msg, code, attachments=wrong) == 40007
    clock_advance(3 * DAY + 1)
    code = welcome_code_issue(corp_id=CORP, userid="user1", external_userid=corp.contacts[0].external_userid)
    expired = [{"msgtype": "image", "image": {"media_id": image["media_id"]}}]
    assert errcode_of(wecom.send_welcome_msg, code, attachments=expired) == 40007


# --- media ---------------------------------------------------------------------------------------------


def test_media_upload_answers_like_wecom(wecom):
    uploaded = wecom.media_upload("file", filename="terms.pdf", content=b"%PDF-1.4 " * 10)
    assert uploaded["type"] == "file"
    assert uploaded["media_id"]
    assert int(uploaded["created_at"]) == pytest.approx(sandbox_time(), abs=5)
    call = SandboxCall.objects.get(path="media/upload")
    assert call.params == {"type": "file"}
    assert call.body == {
        "media": {"filename": "terms.pdf", "size": 90, "content_type": "application/octet-stream"}
    }


def test_media_upload_refusals(wecom):
    def upload(path, media_type, filename, content):
        return wecom.call(
            "POST", path, params={"type": media_type}, files={"media": (filename, content, "application/x")}
        )

    assert errcode_of(upload, "media/upload", "gif", "a.gif", PNG) == 40004
    assert errcode_of(upload, "media/upload", "image", "a.gif", PNG) == 40005
    assert errcode_of(upload, "media/upload", "image", "a.png", b"1234") == 40009
    assert errcode_of(upload, "media/upload", "file", "a.txt", b"1234") == 40006
    assert errcode_of(upload, "media/uploadimg", "", "a.png", b"\x00" * (2 * 1024 * 1024 + 1)) == 40009
    assert errcode_of(wecom.call, "POST", "media/upload", params={"type": "file"}, body={}) == 41005


def test_a_malformed_multipart_body_is_refused(wecom, live_server):
    url = f"{live_server.url}/sandbox/cgi-bin/media/upload"
    params = {"type": "file", "access_token": wecom.access_token()}
    no_boundary = httpx.post(
        url, params=params, content=b"garbage", headers={"Content-Type": "multipart/form-data"}
    )
    assert (no_boundary.status_code, no_boundary.json()["errcode"]) == (200, 47001)
    headers = {"Content-Type": "multipart/form-data; boundary=xyz"}
    no_file = httpx.post(url, params=params, content=b"--xyz--\r\n", headers=headers)
    assert (no_file.status_code, no_file.json()["errcode"]) == (200, 41005)


# --- group welcome templates ---------------------------------------------------------------------------


def test_group_welcome_template_lifecycle(wecom):
    pic_url = wecom.media_uploadimg(filename="hello.png", content=PNG)
    template_id = wecom.group_welcome_template_add(
        text="Hello %NICKNAME%", image={"pic_url": pic_url}, notify=False
    )
    assert wecom.group_welcome_template_get(template_id) == {
        "text": {"content": "Hello %NICKNAME%"},
        "image": {"pic_url": pic_url},
    }
    wecom.group_welcome_template_edit(template_id, link={"title": "Offer", "url": "https://shop.test"})
    got = wecom.group_welcome_template_get(template_id)
    assert got["link"] == {"title": "Offer", "url": "https://shop.test"}
    assert got["text"] == {"content": "Hello %NICKNAME%"}
    assert SandboxWelcomeTemplate.objects.get(template_id=template_id).notify == 0
    wecom.group_welcome_template_del(template_id)
    assert errcode_of(wecom.group_welcome_template_get, template_id) == 40058


def test_at_most_100_group_welcome_templates(wecom, corp):
    app = SandboxApp.objects.get(corp_id=CORP, secret_digest=secret_digest(SECRET))
    now = sandbox_time()
    SandboxWelcomeTemplate.objects.bulk_create(
        SandboxWelcomeTemplate(
            corp_id=CORP, template_id=f"msgT{i}", app=app, content={"text": {"content": "x"}}, create_time=now
        )
        for i in range(99)
    )
    wecom.group_welcome_template_add(text="the hundredth")
    with pytest.raises(errors.QuotaExceeded) as caught:
        wecom.group_welcome_template_add(text="one too many")
    assert caught.value.errcode == 41055


def test_only_the_creating_app_changes_a_template(wecom, corp, live_server):
    SandboxApp.objects.create(corp_id=CORP, name="another app", secret="another-secret")
    template_id = wecom.group_welcome_template_add(text="mine")
    other = WecomClient(CORP, "another-secret", base_url=live_server.url + "/sandbox/cgi-bin")
    try:
        assert other.group_welcome_template_get(template_id)["text"] == {"content": "mine"}
        assert errcode_of(other.group_welcome_template_edit, template_id, text="theirs") == 48002
        assert errcode_of(other.group_welcome_template_del, template_id) == 48002
    finally:
        other.close()


# --- frequency simulation (45009) ----------------------------------------------------------------------


def test_frequency_is_not_limited_by_default(wecom):
    config_id = wecom.add_contact_way(type=1, scene=2, user=["user1"])["config_id"]
    for _ in range(30):
        wecom.get_contact_way(config_id)


def test_minute_breach_blocks_the_api_for_60_seconds(wecom):
    config_id = wecom.add_contact_way(type=1, scene=2, user=["user1"])["config_id"]
    limits_set(frequency_limits={"externalcontact/get_contact_way": {"minute": 2}})
    wecom.get_contact_way(config_id)
    wecom.get_contact_way(config_id)
    with pytest.raises(errors.RateLimited):
        wecom.get_contact_way(config_id)
    # Other APIs are not affected; the limited one stays blocked for the whole window (blocked
    # calls do not count), then opens again.
    wecom.list_contact_way()
    clock_advance(55)
    assert errcode_of(wecom.get_contact_way, config_id) == 45009
    clock_advance(5)
    wecom.get_contact_way(config_id)
    rows = list(
        SandboxCall.objects.filter(path="externalcontact/get_contact_way").values_list("errcode", "fault")
    )
    assert rows == [(0, False), (0, False), (45009, False), (45009, False), (0, False)]


def test_hour_breach_blocks_the_api_for_an_hour(wecom):
    limits_set(frequency_limits={"*": {"hour": 3}})
    for _ in range(3):
        wecom.list_contact_way()
    assert errcode_of(wecom.list_contact_way) == 45009
    clock_advance(600)
    assert errcode_of(wecom.list_contact_way) == 45009
    clock_advance(3000)
    wecom.list_contact_way()


def test_the_player_sets_the_limits(wecom):
    result = sandbox_limits(
        CORP, {"frequency_path": "externalcontact/list_contact_way", "per_minute": 1, "api_quota": 1}
    )
    assert result["frequency_limits"] == {"externalcontact/list_contact_way": {"minute": 1}}
    wecom.list_contact_way()
    assert errcode_of(wecom.list_contact_way) == 45009
    wecom.add_contact_way(type=1, scene=2, user=["user1"])
    assert errcode_of(wecom.add_contact_way, type=1, scene=2, user=["user1"]) == 41045
    # Off again: counters and blocks are forgotten at once.
    assert sandbox_limits(CORP, {"frequency_off": True})["frequency_limits"] == {}
    wecom.list_contact_way()
    with pytest.raises(PlayerError):
        sandbox_limits(CORP, {"frequency_path": "*"})
    with pytest.raises(PlayerError):
        sandbox_limits(CORP, {"group_member_cap": 0})


# --- the player: contact ways --------------------------------------------------------------------------


def test_scanning_a_contact_way_adds_the_customer_with_the_state(wecom, corp):
    config_id = wecom.add_contact_way(type=1, scene=2, user=["user2"], state="poster-7")["config_id"]
    result = scan_contact_way(CORP, {"config_id": config_id, "name": "Lin"})
    assert result["userid"] == "user2"
    follow = SandboxFollow.objects.get(contact__external_userid=result["external_userid"])
    assert (follow.member.userid, follow.add_way, follow.state) == ("user2", 1, "poster-7")
    assert follow.contact.name == "Lin"
    (event,) = callbacks("add_external_contact")
    assert event.event == "change_external_contact"
    assert (event.user_id, event.external_user_id, event.state) == (
        "user2",
        result["external_userid"],
        "poster-7",
    )
    assert event.welcome_code == result["welcome_code"]
    assert event.to_user_name == CORP
    # Our side answers the callback with a welcome message, once.
    wecom.send_welcome_msg(event.welcome_code, text="Welcome!")
    assert errcode_of(wecom.send_welcome_msg, event.welcome_code, text="again") == 41051
    # The customer is visible through the API, state included.
    data = wecom.call("GET", "externalcontact/get", params={"external_userid": result["external_userid"]})
    assert data["follow_user"][0]["state"] == "poster-7"


def test_a_multi_member_way_rotates_among_its_members(wecom, corp):
    SandboxDepartment.objects.create(corp_id=CORP, dept_id=3, name="Night shift", parentid=1)
    SandboxMember.objects.create(corp_id=CORP, userid="night1", name="Night", departments=[3])
    SandboxMember.objects.create(corp_id=CORP, userid="gone", name="Gone", departments=[3], status=5)
    config_id = wecom.add_contact_way(type=2, scene=2, user=["user1"], party=[3])["config_id"]
    reached = [scan_contact_way(CORP, {"config_id": config_id})["userid"] for _ in range(4)]
    assert reached == ["user1", "night1", "user1", "night1"]
    # An existing customer goes to a member who is not a friend yet.
    customer = corp.contacts[0].external_userid  # user1's customer
    assert scan_contact_way(CORP, {"config_id": config_id, "external_userid": customer})["userid"] == "night1"
    with pytest.raises(PlayerError):
        scan_contact_way(CORP, {"config_id": config_id, "external_userid": customer})


def test_a_temporary_way_dies_once_used(wecom):
    config_id = wecom.add_contact_way(type=1, scene=2, user=["user1"], is_temp=True)["config_id"]
    scan_contact_way(CORP, {"config_id": config_id})
    with pytest.raises(PlayerError):
        scan_contact_way(CORP, {"config_id": config_id})
    with pytest.raises(PlayerError):
        scan_contact_way(CORP, {"config_id": "0" * 32})


# --- the player: join ways -----------------------------------------------------------------------------


def test_scanning_a_join_way_adds_a_member_by_qr(wecom, corp):
    chat_id = corp.groups[0].chat_id
    before = SandboxGroupChat.objects.get(chat_id=chat_id).member_version
    config_id = wecom.add_join_way(scene=2, chat_id_list=[chat_id], state="flyer")
    result = scan_join_way(CORP, {"config_id": config_id, "name": "Wang"})
    assert result["chat_id"] == chat_id
    (event,) = callbacks("update")
    assert (event.event, event.chat_id, event.update_detail) == (
        "change_external_chat",
        chat_id,
        "add_member",
    )
    assert (event.join_scene, event.mem_change_cnt) == (3, 1)
    assert event.mem_change_list == (result["external_userid"],)
    assert event.fields["LastMemVer"] == before
    assert event.fields["CurMemVer"] == result["member_version"] != before
    xml = SandboxCallback.objects.get(change_type="update").xml
    assert f"<MemChangeList><Item><![CDATA[{result['external_userid']}]]></Item></MemChangeList>" in xml
    group = wecom.call("POST", "externalcontact/groupchat/get", body={"chat_id": chat_id, "need_name": 1})
    joined = group["group_chat"]["member_list"][-1]
    assert joined["userid"] == result["external_userid"]
    assert (joined["type"], joined["join_scene"], joined["state"], joined["name"]) == (2, 3, "flyer", "Wang")
    assert group["group_chat"]["member_version"] == result["member_version"]
    with pytest.raises(PlayerError):
        scan_join_way(CORP, {"config_id": config_id, "external_userid": result["external_userid"]})


def test_a_full_join_way_opens_a_new_room(wecom, corp):
    limits_set(group_member_cap=2)  # each group holds its owner and one customer already
    first, second = corp.groups[0].chat_id, corp.groups[1].chat_id
    config_id = wecom.add_join_way(
        scene=2, chat_id_list=[first, second], room_base_name="VIP ", room_base_id=7, state="vip"
    )
    result = scan_join_way(CORP, {"config_id": config_id})
    assert result["chat_id"] not in (first, second)
    create, update = callbacks()
    assert (create.change_type, create.chat_id) == ("create", result["chat_id"])
    assert (update.change_type, update.chat_id, update.join_scene) == ("update", result["chat_id"], 3)
    room = SandboxGroupChat.objects.get(chat_id=result["chat_id"])
    assert room.name == "VIP 7"
    assert room.owner == corp.groups[0].owner
    assert [m["type"] for m in room.member_list] == [1, 2]
    assert wecom.get_join_way(config_id)["chat_id_list"] == [first, second, result["chat_id"]]
    # The next scan fills that room up to the cap, then a second room opens.
    assert scan_join_way(CORP, {"config_id": config_id})["chat_id"] != result["chat_id"]
    assert SandboxGroupChat.objects.get(corp_id=CORP, name="VIP 8")

    wecom.update_join_way(config_id, scene=2, chat_id_list=[first], auto_create_room=False)
    with pytest.raises(PlayerError):
        scan_join_way(CORP, {"config_id": config_id})


# --- statistics ----------------------------------------------------------------------------------------


def _day_start(timestamp):
    """00:00 China time (UTC+8), where WeCom's statistics days start."""
    return (timestamp + 8 * 3600) // DAY * DAY - 8 * 3600


def _china_date(timestamp):
    return (date(1970, 1, 1) + timedelta(days=(timestamp + 8 * 3600) // DAY)).isoformat()


def test_user_behavior_data(wecom, corp):
    today = _day_start(sandbox_time())
    yesterday = today - DAY
    day_text = _china_date(yesterday)
    chat_activity(
        CORP,
        {
            "userid": "user1",
            "day": day_text,
            "chat_cnt": 4,
            "message_cnt": 10,
            "new_apply_cnt": 2,
            "reply_percentage": 50,
            "avg_reply_time": 6,
        },
    )
    chat_activity(
        CORP,
        {
            "userid": "user2",
            "day": day_text,
            "chat_cnt": 12,
            "message_cnt": 20,
            "reply_percentage": 100,
            "avg_reply_time": 2,
        },
    )
    SandboxFollow.objects.filter(member__userid="user1").update(createtime=yesterday + 3600)
    config_id = wecom.add_contact_way(type=1, scene=2, user=["user1"])["config_id"]
    scan_contact_way(CORP, {"config_id": config_id})
    scanned = scan_contact_way(CORP, {"config_id": config_id})
    # The customer deletes the member: counted as negative feedback; the friendship is gone from
    # WeCom's lists, so today's new contacts count only the one that stayed.
    customer_deletes_staff(CORP, {"userid": "user1", "external_userid": scanned["external_userid"]})
    assert SandboxFollowDeletion.objects.get().by_customer is True

    data = wecom.get_user_behavior_data(start_time=yesterday + 100, end_time=today + 5000, userid=["user1"])
    assert [d["stat_time"] for d in data] == [yesterday, today]
    assert data[0] == {
        "stat_time": yesterday,
        "new_apply_cnt": 2,
        "new_contact_cnt": 1,
        "chat_cnt": 4,
        "message_cnt": 10,
        "reply_percentage": 50.0,
        "avg_reply_time": 6,
        "negative_feedback_cnt": 0,
    }
    assert data[1]["new_contact_cnt"] == 1
    assert data[1]["negative_feedback_cnt"] == 1
    assert "reply_percentage" not in data[1]  # no chats that day
    # By department: both members aggregated, reply figures weighted by chats.
    both = wecom.get_user_behavior_data(start_time=yesterday, end_time=yesterday, partyid=[2])
    assert (both[0]["chat_cnt"], both[0]["message_cnt"]) == (16, 30)
    assert both[0]["reply_percentage"] == 87.5
    assert both[0]["avg_reply_time"] == 3


@pytest.mark.parametrize(
    ("body", "errcode"),
    [
        ({"start_time": "NOW-DAY", "end_time": "NOW"}, 40058),
        ({"userid": ["user1"], "start_time": "NOW-30DAYS", "end_time": "NOW"}, 40058),
        ({"userid": ["user1"], "start_time": "NOW-181DAYS", "end_time": "NOW-170DAYS"}, 40058),
        ({"userid": ["user1"], "start_time": "NOW", "end_time": "NOW-DAY"}, 40058),
        ({"userid": [f"u{i}" for i in range(101)], "start_time": "NOW-DAY", "end_time": "NOW"}, 81017),
        ({"partyid": list(range(101)), "start_time": "NOW-DAY", "end_time": "NOW"}, 81017),
        ({"userid": ["nobody"], "start_time": "NOW-DAY", "end_time": "NOW"}, 60111),
        ({"userid": ["user1"], "end_time": "NOW"}, 40058),
    ],
)
def test_user_behavior_data_is_checked_like_wecom(wecom, body, errcode):
    now = sandbox_time()
    times = {"NOW": now, "NOW-DAY": now - DAY, "NOW-30DAYS": now - 30 * DAY}
    times.update({"NOW-181DAYS": now - 181 * DAY, "NOW-170DAYS": now - 170 * DAY})
    body = {k: times.get(v, v) if isinstance(v, str) else v for k, v in body.items()}
    assert errcode_of(raw, wecom, "externalcontact/get_user_behavior_data", body) == errcode


def test_group_statistics(wecom, corp):
    today = _day_start(sandbox_time())
    yesterday = today - DAY
    # user1's group was created two days ago; its customer joined yesterday; user2's yesterday.
    groups = {g.owner: g for g in SandboxGroupChat.objects.filter(corp_id=CORP)}
    for owner, created, joined in (
        ("user1", yesterday - DAY, yesterday + 60),
        ("user2", yesterday, yesterday),
    ):
        group = groups[owner]
        group.create_time = created
        group.member_list = [
            {**m, "join_time": created if m["type"] == 1 else joined} for m in group.member_list
        ]
        group.save()
    SandboxGroupChat.objects.filter(owner="user3").update(create_time=today + 10)  # not counted yet
    day_text = _china_date(yesterday)
    chat_activity(CORP, {"userid": "user1", "day": day_text, "group_messages": 9, "chat_cnt": 0})

    by_owner = wecom.groupchat_statistic(day_begin_time=yesterday, order_by=2)
    assert by_owner["total"] == 2 and by_owner["next_offset"] == 2
    items = {i["owner"]: i["data"] for i in by_owner["items"]}
    assert items["user1"] == {
        "new_chat_cnt": 0,
        "chat_total": 1,
        "chat_has_msg": 1,
        "new_member_cnt": 1,
        "member_total": 2,
        "member_has_msg": 2,
        "msg_total": 9,
        "migrate_trainee_chat_cnt": 0,
    }
    assert items["user2"]["new_chat_cnt"] == 1 and items["user2"]["new_member_cnt"] == 2
    page = wecom.groupchat_statistic(day_begin_time=yesterday, order_by=3, limit=1)
    assert [i["owner"] for i in page["items"]] == ["user2"] and page["next_offset"] == 1

    by_day = wecom.groupchat_statistic_by_day(
        day_begin_time=yesterday - DAY, day_end_time=yesterday, owners=["user1", "user2"]
    )
    assert [d["stat_time"] for d in by_day] == [yesterday - DAY, yesterday]
    assert (by_day[0]["data"]["chat_total"], by_day[0]["data"]["member_total"]) == (1, 1)
    assert (by_day[1]["data"]["chat_total"], by_day[1]["data"]["member_total"]) == (2, 4)
    assert by_day[1]["data"]["new_member_cnt"] == 3

    # Today is not available yet; more than 100 owners is refused.
    assert errcode_of(raw, wecom, "externalcontact/groupchat/statistic", {"day_begin_time": today}) == 40058
    too_many = {"day_begin_time": yesterday, "owner_filter": {"userid_list": [f"u{i}" for i in range(101)]}}
    assert errcode_of(raw, wecom, "externalcontact/groupchat/statistic_group_by_day", too_many) == 81017


def test_group_statistics_need_an_owner_filter_in_large_corps(wecom, corp):
    SandboxMember.objects.bulk_create(
        SandboxMember(corp_id=CORP, userid=f"bulk{i}", name="x", departments=[2]) for i in range(1000)
    )
    yesterday = _day_start(sandbox_time()) - DAY
    SandboxGroupChat.objects.filter(corp_id=CORP).update(create_time=yesterday)
    assert errcode_of(wecom.groupchat_statistic, day_begin_time=yesterday) == 81017
    assert wecom.groupchat_statistic(day_begin_time=yesterday, owners=["user1"])["total"] == 1
