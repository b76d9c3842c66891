"""The client's acquisition methods against the sandbox over HTTP: what they send and return, and
that a request WeCom would refuse never leaves (the sandbox's call record stays empty)."""

from __future__ import annotations

import pytest

from scrm.sandbox.clock import clock_advance, sandbox_time
from scrm.sandbox.frequency import limits_set
from scrm.sandbox.models import SandboxCall, SandboxMedia
from scrm.sandbox.services import sandbox_corp_create, sandbox_faults_set
from scrm.sandbox.welcome import welcome_code_issue
from scrm.wecom import errors
from scrm.wecom.client import WecomClient

CORP = "wwclientacq"
SECRET = "client-acquisition-secret"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x01" * 32
DAY = 86400


@pytest.fixture
def corp(live_server):
    return sandbox_corp_create(
        corp_id=CORP, contact_secret=SECRET, members=2, contacts_per_member=1, group_chats=1
    )


@pytest.fixture
def wecom(corp, live_server):
    client = WecomClient(CORP, SECRET, base_url=live_server.url + "/sandbox/cgi-bin", timeout=5.0)
    yield client
    client.close()


def sent():
    return list(SandboxCall.objects.order_by("id").values_list("path", "errcode"))


# --- refused before the call ---------------------------------------------------------------------------

LINK = {"title": "Offer", "url": "https://shop.test"}

REFUSED = [
    ("add_contact_way", (), {"type": 3, "scene": 2, "user": ["user1"]}),
    ("add_contact_way", (), {"type": 1, "scene": 0, "user": ["user1"]}),
    ("add_contact_way", (), {"type": 1, "scene": 2, "user": ["user1", "user2"]}),
    ("add_contact_way", (), {"type": 1, "scene": 2, "user": [], "party": [2]}),
    ("add_contact_way", (), {"type": 2, "scene": 2}),
    ("add_contact_way", (), {"type": 2, "scene": 2, "user": [f"u{i}" for i in range(101)]}),
    ("add_contact_way", (), {"type": 2, "scene": 1, "style": 3, "user": ["user1"]}),
    ("add_contact_way", (), {"type": 1, "scene": 2, "user": ["user1"], "remark": "r" * 31}),
    ("add_contact_way", (), {"type": 1, "scene": 2, "user": ["user1"], "state": "s" * 31}),
    ("add_contact_way", (), {"type": 2, "scene": 2, "user": ["user1"], "is_temp": True}),
    (
        "add_contact_way",
        (),
        {"type": 1, "scene": 2, "user": ["user1"], "is_temp": True, "expires_in": 15 * DAY},
    ),
    ("add_contact_way", (), {"type": 1, "scene": 2, "user": ["user1"], "conclusions": {"voice": {}}}),
    (
        "add_contact_way",
        (),
        {"type": 1, "scene": 2, "user": ["user1"], "conclusions": {"link": {"title": "t"}}},
    ),
    ("get_contact_way", ("",), {}),
    ("list_contact_way", (), {"limit": 1001}),
    ("list_contact_way", (), {"start_time": 10, "end_time": 5}),
    ("update_contact_way", ("",), {"remark": "x"}),
    ("update_contact_way", ("cfg",), {"state": "s" * 31}),
    ("del_contact_way", ("",), {}),
    ("close_temp_chat", ("user1", ""), {}),
    ("add_join_way", (), {"scene": 3, "chat_id_list": ["wr1"]}),
    ("add_join_way", (), {"scene": 2, "chat_id_list": []}),
    ("add_join_way", (), {"scene": 2, "chat_id_list": [f"wr{i}" for i in range(6)]}),
    ("add_join_way", (), {"scene": 2, "chat_id_list": ["wr1"], "room_base_name": "n" * 41}),
    ("add_join_way", (), {"scene": 2, "chat_id_list": ["wr1"], "state": "s" * 31}),
    ("update_join_way", ("",), {"scene": 2, "chat_id_list": ["wr1"]}),
    ("get_join_way", ("",), {}),
    ("del_join_way", ("",), {}),
    ("send_welcome_msg", ("",), {"text": "hi"}),
    ("send_welcome_msg", ("code",), {}),
    ("send_welcome_msg", ("code",), {"text": "中" * 1334}),
    ("send_welcome_msg", ("code",), {"attachments": [{"msgtype": "link", "link": LINK}] * 10}),
    ("send_welcome_msg", ("code",), {"attachments": [{"msgtype": "voice", "voice": {"media_id": "m"}}]}),
    ("send_welcome_msg", ("code",), {"attachments": [{"msgtype": "image", "image": {}}]}),
    (
        "send_welcome_msg",
        ("code",),
        {"attachments": [{"msgtype": "link", "link": {"url": "https://a.test"}}]},
    ),
    (
        "send_welcome_msg",
        ("code",),
        {"attachments": [{"msgtype": "link", "link": {**LINK, "desc": "d" * 513}}]},
    ),
    (
        "send_welcome_msg",
        ("code",),
        {"attachments": [{"msgtype": "miniprogram", "miniprogram": {"title": "t"}}]},
    ),
    ("send_welcome_msg", ("code",), {"attachments": [{"msgtype": "file", "file": {}}]}),
    ("group_welcome_template_add", (), {}),
    ("group_welcome_template_add", (), {"text": "x" * 4001}),
    ("group_welcome_template_add", (), {"link": {"title": "no url"}}),
    ("group_welcome_template_edit", ("",), {"text": "x"}),
    ("group_welcome_template_edit", ("tpl",), {}),
    ("group_welcome_template_get", ("",), {}),
    ("group_welcome_template_del", ("",), {}),
    ("media_upload", ("gif",), {"filename": "a.gif", "content": PNG}),
    ("media_upload", ("image",), {"filename": "", "content": PNG}),
    ("media_upload", ("image",), {"filename": "a.png", "content": b"1234"}),
    ("media_upload", ("voice",), {"filename": "a.amr", "content": b"\x00" * (2 * 1024 * 1024 + 1)}),
    ("media_uploadimg", (), {"filename": "a.png", "content": b"\x00" * (2 * 1024 * 1024 + 1)}),
    ("get_user_behavior_data", (), {"start_time": 1_700_000_000, "end_time": 1_700_086_400}),
    (
        "get_user_behavior_data",
        (),
        {"userid": ["u"] * 101, "start_time": 1_700_000_000, "end_time": 1_700_086_400},
    ),
    (
        "get_user_behavior_data",
        (),
        {"userid": ["user1"], "start_time": 1_700_000_000, "end_time": 1_700_000_000 + 30 * DAY},
    ),
    (
        "get_user_behavior_data",
        (),
        {"userid": ["user1"], "start_time": 1_700_086_400, "end_time": 1_700_000_000},
    ),
    ("groupchat_statistic", (), {"day_begin_time": 1_700_000_000, "day_end_time": 1_700_000_000 + 31 * DAY}),
    ("groupchat_statistic", (), {"day_begin_time": 1_700_000_000, "order_by": 5}),
    ("groupchat_statistic", (), {"day_begin_time": 1_700_000_000, "limit": 1001}),
    ("groupchat_statistic", (), {"day_begin_time": 1_700_000_000, "owners": ["u"] * 101}),
    ("groupchat_statistic_by_day", (), {"day_begin_time": 0}),
]


@pytest.mark.parametrize(
    ("method", "args", "kwargs"), REFUSED, ids=[f"{m}-{i}" for i, (m, _a, _k) in enumerate(REFUSED)]
)
def test_invalid_arguments_never_reach_wecom(wecom, method, args, kwargs):
    with pytest.raises(errors.ArgumentError):
        getattr(wecom, method)(*args, **kwargs)
    assert sent() == []  # not even a gettoken


# --- what the methods send and return ------------------------------------------------------------------


def test_contact_way_methods(wecom):
    created = wecom.add_contact_way(type=1, scene=2, user=["user1"], state="s1", skip_verify=False)
    assert set(created) == {"config_id", "qr_code"}
    body = SandboxCall.objects.get(path="externalcontact/add_contact_way").body
    assert body == {"type": 1, "scene": 2, "skip_verify": False, "user": ["user1"], "state": "s1"}
    way = wecom.get_contact_way(created["config_id"])
    assert (way["skip_verify"], way["state"]) == (False, "s1")
    assert wecom.list_contact_way() == ([created["config_id"]], "")
    wecom.update_contact_way(created["config_id"], remark="desk", skip_verify=True)
    assert wecom.get_contact_way(created["config_id"])["remark"] == "desk"
    wecom.del_contact_way(created["config_id"])
    with pytest.raises(errors.NotFound):
        wecom.get_contact_way(created["config_id"])


def test_temporary_contact_way_with_conclusions(wecom):
    image = wecom.media_upload("image", filename="bye.png", content=PNG)
    created = wecom.add_contact_way(
        type=1,
        scene=2,
        user=["user1"],
        is_temp=True,
        expires_in=3600,
        chat_expires_in=7200,
        conclusions={"text": {"content": "Thanks"}, "image": {"media_id": image["media_id"]}},
    )
    way = wecom.get_contact_way(created["config_id"])
    assert (way["is_temp"], way["expires_in"], way["chat_expires_in"]) == (True, 3600, 7200)
    assert way["conclusions"]["text"] == {"content": "Thanks"}
    assert way["conclusions"]["image"]["pic_url"].startswith("https://")


def test_join_way_methods(wecom, corp):
    chat_id = corp.groups[0].chat_id
    config_id = wecom.add_join_way(scene=2, chat_id_list=[chat_id], remark="x" * 35, state="j1")
    assert SandboxCall.objects.get(path="externalcontact/groupchat/add_join_way").body["remark"] == "x" * 30
    way = wecom.get_join_way(config_id)
    assert (way["chat_id_list"], way["state"], way["auto_create_room"]) == ([chat_id], "j1", 1)
    wecom.update_join_way(config_id, scene=2, chat_id_list=[chat_id], auto_create_room=False, room_base_id=3)
    way = wecom.get_join_way(config_id)
    assert (way["auto_create_room"], way["room_base_id"], way["state"]) == (0, 3, "")
    wecom.del_join_way(config_id)
    with pytest.raises(errors.NotFound):
        wecom.get_join_way(config_id)


def test_send_welcome_msg_codes(wecom, corp):
    customer = corp.contacts[0].external_userid
    code = welcome_code_issue(corp_id=CORP, userid="user1", external_userid=customer)
    link = {"msgtype": "link", "link": {"title": "Offer", "url": "https://shop.test", "desc": "10% off"}}
    assert wecom.send_welcome_msg(code, text="Welcome", attachments=[link]) is None
    assert SandboxCall.objects.get(path="externalcontact/send_welcome_msg").body == {
        "welcome_code": code,
        "text": {"content": "Welcome"},
        "attachments": [link],
    }
    with pytest.raises(errors.WelcomeAlreadySent):
        wecom.send_welcome_msg(code, text="Welcome")
    late = welcome_code_issue(corp_id=CORP, userid="user1", external_userid=customer)
    clock_advance(21)
    with pytest.raises(errors.WelcomeCodeInvalid):
        wecom.send_welcome_msg(late, attachments=[link])


def test_media_upload_is_multipart_and_shares_the_token_path(wecom):
    sandbox_faults_set(fail_next=1, fail_errcode=42001, fail_paths=["media/upload"])
    uploaded = wecom.media_upload(
        "video", filename="clip.mp4", content=b"\x00" * 64, content_type="video/mp4"
    )
    # 42001 on the first try: the token is refreshed and the upload sent again, once.
    assert sent() == [("gettoken", 0), ("media/upload", 42001), ("gettoken", 0), ("media/upload", 0)]
    media = SandboxMedia.objects.get(media_id=uploaded["media_id"])
    assert (media.type, media.filename, media.size, media.content_type) == (
        "video",
        "clip.mp4",
        64,
        "video/mp4",
    )
    assert uploaded["type"] == "video"
    url = wecom.media_uploadimg(filename="a.png", content=PNG)
    assert url.startswith("https://") and SandboxMedia.objects.filter(media_id=url, type="uploadimg").exists()


def test_frequency_limit_raises_a_transient_error(wecom):
    limits_set(frequency_limits={"externalcontact/list_contact_way": {"minute": 1}})
    wecom.list_contact_way()
    with pytest.raises(errors.RateLimited) as caught:
        wecom.list_contact_way()
    assert isinstance(caught.value, errors.TransientError)


def test_group_welcome_template_methods(wecom):
    video = wecom.media_upload("video", filename="hi.mp4", content=b"\x00" * 64)
    template_id = wecom.group_welcome_template_add(
        text="Hi %NICKNAME%", video={"media_id": video["media_id"]}
    )
    assert SandboxCall.objects.get(path="externalcontact/group_welcome_template/add").body == {
        "text": {"content": "Hi %NICKNAME%"},
        "video": {"media_id": video["media_id"]},
        "notify": 1,
    }
    assert wecom.group_welcome_template_get(template_id) == {
        "text": {"content": "Hi %NICKNAME%"},
        "video": {"media_id": video["media_id"]},
    }
    wecom.group_welcome_template_edit(template_id, text="Hello")
    assert wecom.group_welcome_template_get(template_id)["text"] == {"content": "Hello"}
    wecom.group_welcome_template_del(template_id)


def test_statistics_methods(wecom, corp):
    now = sandbox_time()
    today = (now + 8 * 3600) // DAY * DAY - 8 * 3600
    data = wecom.get_user_behavior_data(start_time=today - 2 * DAY, end_time=now, userid=["user1"])
    assert [d["stat_time"] for d in data] == [today - 2 * DAY, today - DAY, today]
    assert data[-1]["new_contact_cnt"] == 1  # the corp's customers were added today
    by_owner = wecom.groupchat_statistic(day_begin_time=today - DAY, owners=["user1"])
    assert by_owner == {"total": 0, "next_offset": 0, "items": []}  # the groups were created today
    by_day = wecom.groupchat_statistic_by_day(day_begin_time=today - 2 * DAY, day_end_time=today - DAY)
    assert [d["data"]["chat_total"] for d in by_day] == [0, 0]
