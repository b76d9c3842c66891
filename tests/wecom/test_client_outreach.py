"""The client's mass-message, moment and transfer methods against the sandbox over real HTTP.

Arguments WeCom would refuse are refused before any call: the sandbox's call record stays empty
(not even a ``gettoken``). Paging iterators follow ``next_cursor`` to the end; WeCom's refusals
arrive as the typed errors of WECOM.md §17.
"""

from __future__ import annotations

import pytest

from scrm.sandbox.clock import sandbox_time
from scrm.sandbox.models import SandboxCall, SandboxFollow
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom import errors
from scrm.wecom.client import WecomClient

CORP = "wwclientoutreach"
SECRET = "client-outreach-secret"
DAY = 86400
IMAGE = {"msgtype": "image", "image": {"media_id": "m1"}}


@pytest.fixture
def corp(live_server):
    return sandbox_corp_create(
        corp_id=CORP, contact_secret=SECRET, members=3, contacts_per_member=5, group_chats=1
    )


@pytest.fixture
def wecom(corp, live_server):
    client = WecomClient(CORP, SECRET, base_url=live_server.url + "/sandbox/cgi-bin", timeout=5.0)
    yield client
    client.close()


@pytest.fixture
def play(admin_client):
    def run(name, **fields):
        response = admin_client.post(
            f"/sandbox/player/{name}/", {"corp_id": CORP, **fields}, content_type="application/json"
        )
        assert response.status_code == 200, response.content
        return response.json()

    return run


def customers_of(userid):
    return list(
        SandboxFollow.objects.filter(member__corp_id=CORP, member__userid=userid)
        .order_by("id")
        .values_list("contact__external_userid", flat=True)
    )


def paths():
    return list(SandboxCall.objects.order_by("id").values_list("path", flat=True))


# --- arguments refused before the call ----------------------------------------------------------------

NOW = 1_800_000_000

REFUSED = {
    "mass: nobody to send to": lambda w: w.add_msg_template(text="x"),
    "mass: group without sender": lambda w: w.add_msg_template(chat_type="group", text="x"),
    "mass: unknown chat_type": lambda w: w.add_msg_template(chat_type="all", sender="u", text="x"),
    "mass: empty content": lambda w: w.add_msg_template(sender="user1"),
    "mass: text over 4000 bytes": lambda w: w.add_msg_template(sender="user1", text="字" * 1334),
    "mass: 10 attachments": lambda w: w.add_msg_template(sender="user1", attachments=[IMAGE] * 10),
    "mass: voice attachment": lambda w: w.add_msg_template(
        sender="user1", attachments=[{"msgtype": "voice", "voice": {"media_id": "m"}}]
    ),
    "mass: link without url": lambda w: w.add_msg_template(
        sender="user1", attachments=[{"msgtype": "link", "link": {"title": "t"}}]
    ),
    "mass: link title over 128 bytes": lambda w: w.add_msg_template(
        sender="user1", attachments=[{"msgtype": "link", "link": {"title": "t" * 129, "url": "https://a"}}]
    ),
    "mass: 10001 customers": lambda w: w.add_msg_template(external_userids=["wm"] * 10_001, text="x"),
    "mass: 2001 groups": lambda w: w.add_msg_template(
        chat_type="group", sender="user1", chat_ids=["wr"] * 2001, text="x"
    ),
    "mass: 101 tags in one entry": lambda w: w.add_msg_template(
        sender="user1", tag_filter=[["et"] * 101], text="x"
    ),
    "mass: list span over a month": lambda w: w.get_groupmsg_list_v2(start_time=NOW - 32 * DAY, end_time=NOW),
    "mass: list end before start": lambda w: w.get_groupmsg_list_v2(start_time=NOW, end_time=NOW - 1),
    "mass: list limit 101": lambda w: w.get_groupmsg_list_v2(start_time=NOW - 1, end_time=NOW, limit=101),
    "mass: task without msgid": lambda w: w.get_groupmsg_task(""),
    "mass: task limit 1001": lambda w: w.get_groupmsg_task("msg1", limit=1001),
    "mass: result without userid": lambda w: w.get_groupmsg_send_result("msg1", ""),
    "mass: remind without msgid": lambda w: w.remind_groupmsg_send(""),
    "mass: cancel without msgid": lambda w: w.cancel_groupmsg_send(""),
    "moment: empty": lambda w: w.add_moment_task(),
    "moment: text over 2000 characters": lambda w: w.add_moment_task(text="x" * 2001),
    "moment: 10 images": lambda w: w.add_moment_task(attachments=[IMAGE] * 10),
    "moment: image and video": lambda w: w.add_moment_task(
        attachments=[IMAGE, {"msgtype": "video", "video": {"media_id": "v"}}]
    ),
    "moment: two links": lambda w: w.add_moment_task(
        attachments=[{"msgtype": "link", "link": {"url": "https://a"}}] * 2
    ),
    "moment: file": lambda w: w.add_moment_task(attachments=[{"msgtype": "file", "file": {"media_id": "f"}}]),
    "moment: link title over 64 bytes": lambda w: w.add_moment_task(
        attachments=[{"msgtype": "link", "link": {"title": "t" * 65, "url": "https://a"}}]
    ),
    "moment: 100001 senders": lambda w: w.add_moment_task(text="x", sender_userids=["u"] * 100_001),
    "moment: result without jobid": lambda w: w.get_moment_task_result(""),
    "moment: list span over 30 days": lambda w: w.get_moment_list(start_time=NOW - 31 * DAY, end_time=NOW),
    "moment: list limit 21": lambda w: w.get_moment_list(start_time=NOW - 1, end_time=NOW, limit=21),
    "moment: task limit 1001": lambda w: w.get_moment_task("mom1", limit=1001),
    "moment: customers without userid": lambda w: w.get_moment_customer_list("mom1", ""),
    "moment: send result limit 5001": lambda w: w.get_moment_send_result("mom1", "u", limit=5001),
    "moment: comments without moment": lambda w: w.get_moment_comments("", "u"),
    "moment: cancel without moment": lambda w: w.cancel_moment_task(""),
    "transfer: 101 customers": lambda w: w.transfer_customer(
        handover_userid="user1", takeover_userid="user2", external_userids=["wm"] * 101
    ),
    "transfer: no customers": lambda w: w.transfer_customer(
        handover_userid="user1", takeover_userid="user2", external_userids=[]
    ),
    "transfer: a string for the list": lambda w: w.transfer_customer(
        handover_userid="user1", takeover_userid="user2", external_userids="wmabc"
    ),
    "transfer: handover is takeover": lambda w: w.transfer_customer(
        handover_userid="user1", takeover_userid="user1", external_userids=["wm"]
    ),
    "transfer: no takeover": lambda w: w.transfer_customer(
        handover_userid="user1", takeover_userid="", external_userids=["wm"]
    ),
    "transfer: message over 200 characters": lambda w: w.transfer_customer(
        handover_userid="user1",
        takeover_userid="user2",
        external_userids=["wm"],
        transfer_success_msg="x" * 201,
    ),
    "transfer: result without handover": lambda w: w.transfer_result(handover_userid="", takeover_userid="u"),
    "resigned: 101 customers": lambda w: w.resigned_transfer_customer(
        handover_userid="user1", takeover_userid="user2", external_userids=["wm"] * 101
    ),
    "resigned: result without takeover": lambda w: w.resigned_transfer_result(
        handover_userid="u", takeover_userid=""
    ),
    "unassigned: page_size 1001": lambda w: w.get_unassigned_list(page_size=1001),
    "unassigned: beyond 50000": lambda w: w.get_unassigned_list(page_id=50, page_size=1000),
    "groups: 101 chats": lambda w: w.groupchat_transfer(chat_ids=["wr"] * 101, new_owner="user2"),
    "groups: no chats": lambda w: w.groupchat_onjob_transfer(chat_ids=[], new_owner="user2"),
    "groups: no new owner": lambda w: w.groupchat_onjob_transfer(chat_ids=["wr1"], new_owner=""),
}


def test_arguments_are_refused_before_any_call(wecom):
    # One test for every case: each would otherwise pay for a live server's database flush.
    accepted = []
    for case, call in REFUSED.items():
        try:
            call(wecom)
        except errors.ArgumentError as error:
            assert error.errcode is None, case
        else:
            accepted.append(case)
    assert accepted == []
    assert paths() == []


def test_the_largest_allowed_arguments_do_reach_wecom(wecom):
    wecom.add_msg_template(sender="user1", text="字" * 1333, attachments=[IMAGE] * 9)
    answer = wecom.transfer_customer(
        handover_userid="user1", takeover_userid="user2", external_userids=[f"wm{i}" for i in range(100)]
    )
    assert len(answer) == 100 and {r["errcode"] for r in answer} == {40096}
    wecom.add_moment_task(text="x" * 2000, attachments=[IMAGE] * 9)
    assert paths() == [
        "gettoken",
        "externalcontact/add_msg_template",
        "externalcontact/transfer_customer",
        "externalcontact/add_moment_task",
    ]


# --- mass messages ------------------------------------------------------------------------------------


def test_mass_message_round_trip_and_paging_iterators(wecom, play):
    mine = customers_of("user1")
    created = wecom.add_msg_template(
        sender="user1",
        external_userids=[*mine, "wmstranger"],
        text="Weekend offer",
        attachments=[{"msgtype": "link", "link": {"title": "Offer", "url": "https://example.com/o"}}],
    )
    assert created["fail_list"] == ["wmstranger"]
    msgid = created["msgid"]
    play("mass_message_send", msgid=msgid, userid="user1", external_userids=mine[:3])
    before = len(paths())
    rows = list(wecom.groupmsg_send_result_all(msgid, "user1", limit=2))
    assert [(r["external_userid"], r["status"]) for r in rows] == [(c, 1) for c in mine[:3]] + [
        (c, 0) for c in mine[3:]
    ]
    assert paths()[before:] == ["externalcontact/get_groupmsg_send_result"] * 3
    [task] = wecom.groupmsg_task_all(msgid)
    assert (task["userid"], task["status"]) == ("user1", 2)

    now = sandbox_time()
    others = [wecom.add_msg_template(sender="user2", text=f"n{i}")["msgid"] for i in range(2)]
    listed = list(wecom.groupmsg_list_all(start_time=now - 60, end_time=now + 60, limit=2))
    assert [m["msgid"] for m in listed] == [msgid, *others]
    assert listed[0]["attachments"][0]["link"]["url"] == "https://example.com/o"


def test_mass_message_errors_are_typed(wecom):
    with pytest.raises(errors.Rejected) as caught:
        wecom.add_msg_template(external_userids=["wmnobody"], text="x")
    assert caught.value.errcode == 41048
    with pytest.raises(errors.NotFound) as caught:
        wecom.get_groupmsg_task("msgnope")
    assert caught.value.errcode == 41047
    msgid = wecom.add_msg_template(sender="user1", text="Remind me")["msgid"]
    for _ in range(3):
        wecom.remind_groupmsg_send(msgid)
    with pytest.raises(errors.TransientError):
        wecom.remind_groupmsg_send(msgid)
    wecom.cancel_groupmsg_send(msgid)


# --- moments ------------------------------------------------------------------------------------------


def test_moment_round_trip(wecom, play):
    jobid = wecom.add_moment_task(text="Fresh bread", sender_userids=["user1", "user2"])
    assert isinstance(jobid, str) and jobid
    results = [wecom.get_moment_task_result(jobid) for _ in range(3)]
    assert [r["status"] for r in results] == [1, 2, 3]
    assert "errcode" not in results[-1]
    moment_id = results[-1]["result"]["moment_id"]
    with pytest.raises(errors.Rejected) as caught:
        wecom.get_moment_customer_list(moment_id, "user1")
    assert caught.value.errcode == 41062
    with pytest.raises(errors.NotFound) as caught:
        wecom.get_moment_send_result(moment_id, "user3")
    assert caught.value.errcode == 41061

    play("moment_publish", moment_id=moment_id, userid="user1")
    tasks = {t["userid"]: t["publish_status"] for t in wecom.moment_task_all(moment_id, limit=1)}
    assert tasks == {"user1": 1, "user2": 0}
    mine = customers_of("user1")
    before = len(paths())
    assert [c["external_userid"] for c in wecom.moment_customers_all(moment_id, "user1", limit=2)] == mine
    assert paths()[before:] == ["externalcontact/get_moment_customer_list"] * 3
    assert [c["external_userid"] for c in wecom.moment_send_result_all(moment_id, "user1")] == mine
    assert wecom.get_moment_comments(moment_id, "user1") == {"comment_list": [], "like_list": []}
    now = sandbox_time()
    [listed] = wecom.moment_list_all(start_time=now - 60, end_time=now + 60)
    assert listed["moment_id"] == moment_id
    wecom.cancel_moment_task(moment_id)
    with pytest.raises(errors.NotFound):
        wecom.get_moment_task("momnope")


# --- transfers ----------------------------------------------------------------------------------------


def test_onjob_transfer_round_trip(wecom, play):
    c1, c2 = customers_of("user1")[:2]
    answer = wecom.transfer_customer(
        handover_userid="user1", takeover_userid="user2", external_userids=[c1, c2], transfer_success_msg="Hi"
    )
    assert answer == [{"external_userid": c1, "errcode": 0}, {"external_userid": c2, "errcode": 0}]
    assert [
        r["status"] for r in wecom.transfer_result_all(handover_userid="user1", takeover_userid="user2")
    ] == [
        2,
        2,
    ]
    play("transfer_refuse", external_userid=c2)
    play("advance_time", seconds=DAY)
    rows = wecom.transfer_result(handover_userid="user1", takeover_userid="user2")
    assert [(r["external_userid"], r["status"]) for r in rows["customer"]] == [(c1, 1), (c2, 3)]
    assert rows["next_cursor"] == ""
    [again] = wecom.transfer_customer(handover_userid="user2", takeover_userid="user3", external_userids=[c1])
    assert again["errcode"] == 40128


def test_resigned_transfer_round_trip(wecom, play):
    with pytest.raises(errors.Rejected) as caught:
        wecom.resigned_transfer_customer(
            handover_userid="user1", takeover_userid="user2", external_userids=["wm"]
        )
    assert caught.value.errcode == 40097
    play("member_resign", userid="user1")
    mine = customers_of("user1")
    before = len(paths())
    unassigned = list(wecom.unassigned_all(page_size=2))
    assert [(r["handover_userid"], r["external_userid"]) for r in unassigned] == [("user1", c) for c in mine]
    assert paths()[before:] == ["externalcontact/get_unassigned_list"] * 3
    answer = wecom.resigned_transfer_customer(
        handover_userid="user1", takeover_userid="user3", external_userids=mine
    )
    assert {r["errcode"] for r in answer} == {0}
    play("advance_time", seconds=DAY)
    rows = list(wecom.resigned_transfer_result_all(handover_userid="user1", takeover_userid="user3"))
    assert {r["status"] for r in rows} == {1} and len(rows) == len(mine)
    assert list(wecom.unassigned_all()) == []


def test_group_transfers_return_only_failures(wecom, play, corp):
    chat1 = next(g.chat_id for g in corp.groups if g.owner == "user1")
    chat2 = next(g.chat_id for g in corp.groups if g.owner == "user2")
    assert wecom.groupchat_onjob_transfer(chat_ids=[chat1], new_owner="user3") == []
    assert wecom.groupchat_get(chat1)["owner"] == "user3"
    play("member_resign", userid="user2")
    failed = wecom.groupchat_transfer(chat_ids=[chat1, chat2], new_owner="user1")
    assert [(f["chat_id"], f["errcode"]) for f in failed] == [(chat1, 90500)]
    assert wecom.groupchat_get(chat2)["owner"] == "user1"
    with pytest.raises(errors.UserNotFound):
        wecom.groupchat_onjob_transfer(chat_ids=[chat1], new_owner="ghost")
