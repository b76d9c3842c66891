"""The sandbox's outreach state machines over real HTTP: mass messages, moments, transfers.

Our client calls the sandbox on the live server; the other side plays through the player JSON
API (a staff member confirms a mass message or publishes a moment, a customer refuses a
transfer, time passes). WeCom's refusals are checked by errcode, sent with the client's raw
``call`` where the typed methods would refuse the arguments before calling.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta

import pytest

from scrm.sandbox.clock import sandbox_time
from scrm.sandbox.models import (
    SandboxCallback,
    SandboxClock,
    SandboxExternalContact,
    SandboxFollow,
    SandboxGroupChat,
    SandboxMember,
    SandboxTransfer,
)
from scrm.sandbox.outreach import WECOM_TZ, receive_window
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom.client import WecomClient
from scrm.wecom.errors import WecomError
from scrm.wecom.events import event_parse

CORP = "wwoutreachtest"
SECRET = "outreach-contact-secret"
DAY = 86400


@pytest.fixture
def corp(live_server):
    return sandbox_corp_create(
        corp_id=CORP, contact_secret=SECRET, members=3, contacts_per_member=3, group_chats=1
    )


@pytest.fixture
def wecom(corp, live_server):
    client = WecomClient(CORP, SECRET, base_url=live_server.url + "/sandbox/cgi-bin", timeout=5.0)
    yield client
    client.close()


@pytest.fixture
def play(admin_client):
    """Run a player action through the JSON API; returns its JSON (asserting the HTTP status)."""

    def run(name, status=200, **fields):
        response = admin_client.post(
            f"/sandbox/player/{name}/", {"corp_id": CORP, **fields}, content_type="application/json"
        )
        assert response.status_code == status, response.content
        return response.json()

    return run


def customers_of(userid):
    return list(
        SandboxFollow.objects.filter(member__corp_id=CORP, member__userid=userid)
        .order_by("id")
        .values_list("contact__external_userid", flat=True)
    )


def errcode_of(wecom, path, body):
    """WeCom's errcode for a raw POST (0 when it succeeds)."""
    try:
        wecom.call("POST", path, body=body)
    except WecomError as error:
        return error.errcode
    return 0


def callbacks(change_type):
    rows = SandboxCallback.objects.filter(corp_id=CORP, change_type=change_type).order_by("id")
    return [event_parse(row.xml) for row in rows]


def advance_to_monday_noon(play):
    """Move the simulated clock to the next Monday 12:00 in WeCom's time zone, away from any
    day, week or month boundary, so that receive-cap periods are predictable."""
    now = datetime.fromtimestamp(sandbox_time(), WECOM_TZ)
    monday = (now + timedelta(days=7 - now.weekday())).replace(hour=12, minute=0, second=0, microsecond=0)
    play("advance_time", seconds=int((monday - now).total_seconds()))


# --- mass messages ------------------------------------------------------------------------------------


def test_mass_message_waits_for_the_sender_then_reports_each_recipient(wecom, play):
    c1, c2, c3 = customers_of("user1")
    created = wecom.add_msg_template(sender="user1", text="Spring menu")
    assert created["fail_list"] == []
    msgid = created["msgid"]
    assert msgid.startswith("msg")
    assert wecom.get_groupmsg_task(msgid)["task_list"] == [{"userid": "user1", "status": 0}]
    pending = wecom.get_groupmsg_send_result(msgid, "user1")["send_list"]
    assert {(r["external_userid"], r["status"]) for r in pending} == {(c1, 0), (c2, 0), (c3, 0)}

    play("customer_deletes_staff", userid="user1", external_userid=c3)
    assert play("mass_message_send", msgid=msgid, userid="user1") == {
        "sent": 2,
        "not_friend": 1,
        "over_cap": 0,
    }

    [task] = wecom.get_groupmsg_task(msgid)["task_list"]
    assert task["status"] == 2
    assert task["send_time"] == pytest.approx(sandbox_time(), abs=5)
    sent = {
        r["external_userid"]: r["status"] for r in wecom.get_groupmsg_send_result(msgid, "user1")["send_list"]
    }
    assert sent == {c1: 1, c2: 1, c3: 2}
    play("mass_message_send", status=400, msgid=msgid, userid="user1")  # sent once only


def test_a_sender_may_send_to_some_recipients_only(wecom, play):
    c1, c2, c3 = customers_of("user1")
    msgid = wecom.add_msg_template(sender="user1", text="Hi", allow_select=True)["msgid"]
    play("mass_message_send", msgid=msgid, userid="user1", external_userids=[c2])
    sent = {
        r["external_userid"]: r["status"] for r in wecom.get_groupmsg_send_result(msgid, "user1")["send_list"]
    }
    assert sent == {c1: 0, c2: 1, c3: 0}
    play("mass_message_send", status=400, msgid=msgid, userid="user1", external_userids=["wmnotmine"])


def test_each_customer_goes_to_the_member_who_added_them_last(wecom, play):
    shared = customers_of("user1")[0]
    contact = SandboxExternalContact.objects.get(corp_id=CORP, external_userid=shared)
    user2 = SandboxMember.objects.get(corp_id=CORP, userid="user2")
    SandboxFollow.objects.create(member=user2, contact=contact, createtime=sandbox_time() + 10)
    only_user3 = customers_of("user3")[0]
    created = wecom.add_msg_template(external_userids=[shared, only_user3, "wmunknown"], text="Hi")
    assert created["fail_list"] == ["wmunknown"]
    tasks = wecom.get_groupmsg_task(created["msgid"])["task_list"]
    assert sorted(t["userid"] for t in tasks) == ["user2", "user3"]
    assert [
        r["external_userid"] for r in wecom.get_groupmsg_send_result(created["msgid"], "user2")["send_list"]
    ] == [shared]
    assert wecom.get_groupmsg_send_result(created["msgid"], "user1")["send_list"] == []


def test_tag_filter_ands_entries_and_ors_tags_within_one(wecom, corp):
    gold, silver = (t.tag_id for t in corp.tags)
    c1, c2, c3 = customers_of("user1")
    follows = SandboxFollow.objects.filter(member__userid="user1", member__corp_id=CORP)
    follows.filter(contact__external_userid=c1).update(tag_ids=[gold, silver])
    follows.filter(contact__external_userid=c2).update(tag_ids=[gold])
    msgid = wecom.add_msg_template(sender="user1", tag_filter=[[gold], [silver]], text="Gold and silver")[
        "msgid"
    ]
    assert [r["external_userid"] for r in wecom.get_groupmsg_send_result(msgid, "user1")["send_list"]] == [c1]
    msgid = wecom.add_msg_template(sender="user1", tag_filter=[[gold, silver]], text="Gold or silver")[
        "msgid"
    ]
    assert [r["external_userid"] for r in wecom.get_groupmsg_send_result(msgid, "user1")["send_list"]] == [
        c1,
        c2,
    ]


def test_group_mass_message_goes_to_the_senders_groups(wecom, play, corp):
    [chat] = [g.chat_id for g in corp.groups if g.owner == "user1"]
    msgid = wecom.add_msg_template(chat_type="group", sender="user1", text="Group hello")["msgid"]
    play("mass_message_send", msgid=msgid, userid="user1")
    [row] = wecom.get_groupmsg_send_result(msgid, "user1")["send_list"]
    assert (row["chat_id"], row["userid"], row["status"]) == (chat, "user1", 1)
    assert "external_userid" not in row


@pytest.mark.parametrize(
    ("rule", "cap", "next_period"), [("day_1", 1, DAY), ("week_7", 7, 7 * DAY), ("month_4", 4, None)]
)
def test_receive_cap_turns_extra_messages_into_status_3(wecom, play, rule, cap, next_period):
    advance_to_monday_noon(play)
    play("outreach_rules", receive_cap=rule)
    customer = customers_of("user1")[0]

    def send():
        msgid = wecom.add_msg_template(sender="user1", external_userids=[customer], text="Offer")["msgid"]
        play("mass_message_send", msgid=msgid, userid="user1")
        [row] = wecom.get_groupmsg_send_result(msgid, "user1")["send_list"]
        return row["status"]

    assert [send() for _ in range(cap)] == [1] * cap
    assert send() == 3
    if next_period:
        play("advance_time", seconds=next_period)
        assert send() == 1


@pytest.mark.parametrize(
    ("rule", "moment", "cap"),
    [
        ("month_days", datetime(2026, 2, 14, 12, tzinfo=WECOM_TZ), 28),
        ("month_days", datetime(2028, 2, 14, 12, tzinfo=WECOM_TZ), 29),
        ("month_days", datetime(2026, 7, 31, 23, tzinfo=WECOM_TZ), 31),
        ("month_4", datetime(2026, 7, 1, 0, tzinfo=WECOM_TZ), 4),
        ("week_7", datetime(2026, 11, 29, 23, tzinfo=WECOM_TZ), 7),  # a Sunday
        ("day_1", datetime(2026, 11, 29, 23, tzinfo=WECOM_TZ), 1),
    ],
)
def test_receive_windows_follow_wecoms_natural_periods(rule, moment, cap):
    start, got_cap = receive_window(rule, int(moment.timestamp()))
    assert got_cap == cap
    begins = datetime.fromtimestamp(start, WECOM_TZ)
    if rule in ("month_days", "month_4"):
        assert (begins.year, begins.month, begins.day, begins.hour) == (moment.year, moment.month, 1, 0)
    elif rule == "week_7":
        assert (begins.month, begins.day, begins.weekday(), begins.hour) == (11, 23, 0, 0)
    else:
        assert (begins.month, begins.day, begins.hour) == (11, 29, 0)


def test_days_in_month_is_the_default_cap(wecom, play):
    advance_to_monday_noon(play)
    customer = customers_of("user1")[0]
    now = datetime.fromtimestamp(sandbox_time(), WECOM_TZ)
    days = calendar.monthrange(now.year, now.month)[1]
    statuses = []
    for _ in range(days + 1):
        msgid = wecom.add_msg_template(sender="user1", external_userids=[customer], text="Daily")["msgid"]
        play("mass_message_send", msgid=msgid, userid="user1")
        statuses.append(wecom.get_groupmsg_send_result(msgid, "user1")["send_list"][0]["status"])
    assert statuses == [1] * days + [3]


ADD_MSG_TEMPLATE_REFUSALS = [
    ({"sender": "user1"}, 44004),
    ({"sender": "user1", "text": {"content": "x" * 4001}}, 40058),
    ({"sender": "user1", "attachments": [{"msgtype": "image", "image": {"media_id": "m"}}] * 10}, 40058),
    ({"sender": "user1", "attachments": [{"msgtype": "voice", "voice": {"media_id": "m"}}]}, 41065),
    (
        {
            "sender": "user1",
            "attachments": [{"msgtype": "link", "link": {"title": "t" * 129, "url": "https://a"}}],
        },
        41064,
    ),
    ({"sender": "user1", "attachments": [{"msgtype": "link", "link": {"title": "no url"}}]}, 40058),
    ({"external_userid": ["wm1"] * 10001, "text": {"content": "x"}}, 40058),
    (
        {
            "chat_type": "group",
            "chat_id_list": ["wr1"] * 2001,
            "sender": "user1",
            "text": {"content": "x"},
        },
        40058,
    ),
    ({"text": {"content": "nobody"}}, 40058),
    ({"chat_type": "group", "text": {"content": "x"}}, 41009),
    ({"chat_type": "broadcast", "sender": "user1", "text": {"content": "x"}}, 40058),
    ({"external_userid": ["wmnobody"], "text": {"content": "x"}}, 41048),
    (
        {
            "sender": "user1",
            "tag_filter": {"group_list": [{"tag_list": ["etnope"]}]},
            "text": {"content": "x"},
        },
        40068,
    ),
    ({"sender": "nobody", "text": {"content": "x"}}, 60111),
]


def test_add_msg_template_refusals(wecom):
    answers = [
        errcode_of(wecom, "externalcontact/add_msg_template", body) for body, _ in ADD_MSG_TEMPLATE_REFUSALS
    ]
    assert answers == [errcode for _, errcode in ADD_MSG_TEMPLATE_REFUSALS]


def test_mass_message_results_need_a_valid_msgid(wecom):
    assert errcode_of(wecom, "externalcontact/get_groupmsg_task", {}) == 41046
    assert errcode_of(wecom, "externalcontact/get_groupmsg_task", {"msgid": "msgnope"}) == 41047
    assert (
        errcode_of(wecom, "externalcontact/get_groupmsg_send_result", {"msgid": "msgnope", "userid": "u"})
        == 41047
    )
    assert errcode_of(wecom, "externalcontact/cancel_groupmsg_send", {"msgid": "msgnope"}) == 41047


def test_groupmsg_list_v2_pages_by_window_and_creator(wecom):
    now = sandbox_time()
    msgids = [wecom.add_msg_template(sender="user1", text=f"m{i}")["msgid"] for i in range(3)]
    first = wecom.get_groupmsg_list_v2(start_time=now - 60, end_time=now + 60, limit=2)
    assert [m["msgid"] for m in first["group_msg_list"]] == msgids[:2]
    assert first["group_msg_list"][0]["create_type"] == 0
    assert "creator" not in first["group_msg_list"][0]  # created through the API
    assert first["group_msg_list"][0]["text"] == {"content": "m0"}
    second = wecom.get_groupmsg_list_v2(
        start_time=now - 60, end_time=now + 60, limit=2, cursor=first["next_cursor"]
    )
    assert [m["msgid"] for m in second["group_msg_list"]] == msgids[2:]
    assert second["next_cursor"] == ""
    assert (
        wecom.get_groupmsg_list_v2(start_time=now - 60, end_time=now + 60, filter_type=1)["group_msg_list"]
        == []
    )
    assert (
        wecom.get_groupmsg_list_v2(start_time=now - 60, end_time=now + 60, chat_type="group")[
            "group_msg_list"
        ]
        == []
    )
    body = {"start_time": now - 40 * DAY, "end_time": now}
    assert errcode_of(wecom, "externalcontact/get_groupmsg_list_v2", body) == 40058
    # An oversized limit falls back to the default (50) instead of failing.
    data = wecom.call(
        "POST",
        "externalcontact/get_groupmsg_list_v2",
        body={"start_time": now - 60, "end_time": now + 60, "limit": 500},
    )
    assert len(data["group_msg_list"]) == 3


def test_reminders_are_capped_at_three_per_day(wecom, play):
    msgid = wecom.add_msg_template(sender="user1", text="Remember")["msgid"]
    for _ in range(3):
        wecom.remind_groupmsg_send(msgid)
    assert errcode_of(wecom, "externalcontact/remind_groupmsg_send", {"msgid": msgid}) == 45009
    play("advance_time", seconds=DAY)
    wecom.remind_groupmsg_send(msgid)


def test_a_canceled_mass_message_can_no_longer_be_sent(wecom, play):
    msgid = wecom.add_msg_template(sender="user1", text="Oops")["msgid"]
    wecom.cancel_groupmsg_send(msgid)
    assert "canceled" in play("mass_message_send", status=400, msgid=msgid, userid="user1")["error"]
    assert wecom.get_groupmsg_task(msgid)["task_list"] == [{"userid": "user1", "status": 0}]


# --- moments ------------------------------------------------------------------------------------------


def test_moment_job_moves_through_1_2_3_and_reports_invalid_targets(wecom, corp):
    gold = corp.tags[0].tag_id
    jobid = wecom.add_moment_task(
        text="New bread", sender_userids=["user1", "ghost"], sender_departments=[99], tag_ids=[gold, "etnope"]
    )
    assert wecom.get_moment_task_result(jobid)["status"] == 1
    assert wecom.get_moment_task_result(jobid)["status"] == 2
    done = wecom.get_moment_task_result(jobid)
    assert done["status"] == 3
    assert done["type"] == "add_moment_task"
    result = done["result"]
    assert result["moment_id"].startswith("mom")
    assert result["invalid_sender_list"] == {"user_list": ["ghost"], "department_list": [99]}
    assert result["invalid_external_contact_list"] == {"tag_list": ["etnope"]}
    assert wecom.get_moment_task_result(jobid)["status"] == 3
    assert wecom.get_moment_task(result["moment_id"])["task_list"] == [
        {"userid": "user1", "publish_status": 0}
    ]


def moment_create(wecom, **kwargs):
    jobid = wecom.add_moment_task(**kwargs)
    result = {}
    for _ in range(3):
        result = wecom.get_moment_task_result(jobid)
    return result["result"]["moment_id"]


def test_moment_waits_for_each_member_to_publish(wecom, play, corp):
    gold = corp.tags[0].tag_id
    c1, c2, c3 = customers_of("user1")
    SandboxFollow.objects.filter(member__userid="user1", contact__external_userid__in=[c1, c2]).update(
        tag_ids=[gold]
    )
    moment_id = moment_create(wecom, text="For gold members", tag_ids=[gold])
    tasks = wecom.get_moment_task(moment_id)["task_list"]
    assert tasks == [{"userid": u, "publish_status": 0} for u in ("user1", "user2", "user3")]
    assert (
        errcode_of(
            wecom, "externalcontact/get_moment_customer_list", {"moment_id": moment_id, "userid": "user1"}
        )
        == 41062
    )
    assert (
        errcode_of(
            wecom, "externalcontact/get_moment_send_result", {"moment_id": moment_id, "userid": "ghost"}
        )
        == 41061
    )

    assert play("moment_publish", moment_id=moment_id, userid="user1") == {"customers": 2}
    statuses = {t["userid"]: t["publish_status"] for t in wecom.get_moment_task(moment_id)["task_list"]}
    assert statuses == {"user1": 1, "user2": 0, "user3": 0}
    customers = wecom.get_moment_customer_list(moment_id, "user1")["customer_list"]
    assert customers == [
        {"userid": "user1", "external_userid": c1},
        {"userid": "user1", "external_userid": c2},
    ]
    assert wecom.get_moment_send_result(moment_id, "user1")["customer_list"] == [
        {"external_userid": c1},
        {"external_userid": c2},
    ]
    assert wecom.get_moment_comments(moment_id, "user1") == {"comment_list": [], "like_list": []}
    play("moment_publish", status=400, moment_id=moment_id, userid="user1")

    play("moment_react", moment_id=moment_id, userid="user1", external_userid=c1)
    play("moment_react", moment_id=moment_id, userid="user1", external_userid=c2, like=True)
    play("moment_react", status=400, moment_id=moment_id, userid="user1", external_userid=c2, like=True)
    play("moment_react", status=400, moment_id=moment_id, userid="user1", external_userid=c3)  # not gold
    play("moment_react", status=400, moment_id=moment_id, userid="user2", external_userid=c1)  # unpublished
    reactions = wecom.get_moment_comments(moment_id, "user1")
    assert [r["external_userid"] for r in reactions["comment_list"]] == [c1]
    assert [r["external_userid"] for r in reactions["like_list"]] == [c2]
    assert reactions["like_list"][0]["create_time"] == pytest.approx(sandbox_time(), abs=5)


def test_moment_list_shows_finished_moments_in_the_window(wecom):
    now = sandbox_time()
    jobid = wecom.add_moment_task(
        text="Look",
        attachments=[{"msgtype": "link", "link": {"title": "Menu", "url": "https://example.com"}}],
    )
    assert (
        wecom.get_moment_list(start_time=now - 60, end_time=now + 60)["moment_list"] == []
    )  # still creating
    for _ in range(3):
        moment_id = wecom.get_moment_task_result(jobid).get("result", {}).get("moment_id")
    [moment] = wecom.get_moment_list(start_time=now - 60, end_time=now + 60)["moment_list"]
    assert moment["moment_id"] == moment_id
    assert moment["create_type"] == 0
    assert moment["visible_type"] == 1
    assert moment["text"] == {"content": "Look"}
    assert moment["link"] == {"title": "Menu", "url": "https://example.com"}
    assert (
        errcode_of(wecom, "externalcontact/get_moment_list", {"start_time": now - 31 * DAY, "end_time": now})
        == 40058
    )


def test_moment_refusals(wecom, play):
    path = "externalcontact/add_moment_task"
    image = {"msgtype": "image", "image": {"media_id": "m"}}
    assert errcode_of(wecom, path, {}) == 44004
    assert errcode_of(wecom, path, {"text": {"content": "x" * 2001}}) == 40058
    assert errcode_of(wecom, path, {"attachments": [image] * 10}) == 40058
    assert (
        errcode_of(wecom, path, {"attachments": [image, {"msgtype": "video", "video": {"media_id": "v"}}]})
        == 40058
    )
    assert errcode_of(wecom, path, {"attachments": [{"msgtype": "file", "file": {"media_id": "f"}}]}) == 40058
    assert errcode_of(wecom, path, {"attachments": [image] * 9}) == 0
    assert errcode_of(wecom, "externalcontact/get_moment_task", {}) == 41059
    assert errcode_of(wecom, "externalcontact/get_moment_task", {"moment_id": "momnope"}) == 41060
    assert errcode_of(wecom, "externalcontact/get_moment_task_result", {}) != 0  # GET only
    with pytest.raises(WecomError) as caught:
        wecom.get_moment_task_result("jobnope")
    assert caught.value.errcode == 40058


def test_a_canceled_moment_can_no_longer_be_published(wecom, play):
    moment_id = moment_create(wecom, text="Cancel me", sender_userids=["user1"])
    wecom.cancel_moment_task(moment_id)
    assert "canceled" in play("moment_publish", status=400, moment_id=moment_id, userid="user1")["error"]


# --- customer transfers -------------------------------------------------------------------------------


def test_onjob_transfer_waits_24_hours_then_moves_the_follow(wecom, play):
    c1, c2, _ = customers_of("user1")
    theirs = customers_of("user2")[0]
    started = sandbox_time()
    answer = wecom.transfer_customer(
        handover_userid="user1",
        takeover_userid="user3",
        external_userids=[c1, c2, "wmunknown", theirs],
        transfer_success_msg="Bob takes over",
    )
    assert answer == [
        {"external_userid": c1, "errcode": 0},
        {"external_userid": c2, "errcode": 0},
        {"external_userid": "wmunknown", "errcode": 40096},
        {"external_userid": theirs, "errcode": 40131},
    ]
    waiting = wecom.transfer_result(handover_userid="user1", takeover_userid="user3")["customer"]
    assert [(r["external_userid"], r["status"]) for r in waiting] == [(c1, 2), (c2, 2)]
    assert waiting[0]["takeover_time"] == pytest.approx(started + DAY, abs=5)
    again = wecom.transfer_customer(handover_userid="user1", takeover_userid="user2", external_userids=[c1])
    assert again == [{"external_userid": c1, "errcode": 40129}]

    play("advance_time", seconds=DAY - 600)
    assert SandboxTransfer.objects.filter(status=2).count() == 2
    play("advance_time", seconds=600)
    # Settled by the clock advance itself, before anyone reads a result.
    assert SandboxTransfer.objects.filter(status=1).count() == 2
    assert c1 in customers_of("user3") and c1 not in customers_of("user1")
    moved = SandboxFollow.objects.get(member__userid="user3", contact__external_userid=c1)
    assert moved.add_way == 202
    done = wecom.transfer_result(handover_userid="user1", takeover_userid="user3")["customer"]
    assert [(r["external_userid"], r["status"]) for r in done] == [(c1, 1), (c2, 1)]

    events = callbacks("del_external_contact")
    assert [(e.user_id, e.external_user_id, e.source) for e in events] == [
        ("user1", c1, "DELETE_BY_TRANSFER"),
        ("user1", c2, "DELETE_BY_TRANSFER"),
    ]
    assert all(e.event == "change_external_contact" for e in events)


def test_transfers_settle_lazily_when_the_clock_moved_without_listeners(wecom):
    c1 = customers_of("user1")[0]
    wecom.transfer_customer(handover_userid="user1", takeover_userid="user2", external_userids=[c1])
    SandboxClock.objects.update_or_create(pk=1, defaults={"offset_seconds": DAY + 1})
    [row] = wecom.transfer_result(handover_userid="user1", takeover_userid="user2")["customer"]
    assert row["status"] == 1
    assert c1 in customers_of("user2")


def test_onjob_transfer_limits_90_day_protection_and_two_times(wecom, play):
    c1 = customers_of("user1")[0]

    def transfer(handover, takeover):
        [row] = wecom.transfer_customer(
            handover_userid=handover, takeover_userid=takeover, external_userids=[c1]
        )
        return row["errcode"]

    assert transfer("user1", "user2") == 0
    play("advance_time", seconds=DAY)
    assert transfer("user2", "user1") == 40128  # within 90 days of the last takeover
    play("advance_time", seconds=90 * DAY)
    assert transfer("user2", "user3") == 0
    play("advance_time", seconds=DAY)
    play("advance_time", seconds=91 * DAY)
    assert transfer("user3", "user1") == 40128  # already transferred twice
    assert c1 in customers_of("user3")


def test_a_customer_refusing_ends_the_transfer_with_transfer_fail(wecom, play):
    c1 = customers_of("user1")[0]
    wecom.transfer_customer(handover_userid="user1", takeover_userid="user2", external_userids=[c1])
    play("transfer_refuse", external_userid=c1)
    play("advance_time", seconds=2 * DAY)
    [row] = wecom.transfer_result(handover_userid="user1", takeover_userid="user2")["customer"]
    assert row["status"] == 3
    assert c1 in customers_of("user1") and c1 not in customers_of("user2")
    [event] = callbacks("transfer_fail")
    assert (event.user_id, event.external_user_id, event.fail_reason) == ("user2", c1, "customer_refused")
    assert callbacks("del_external_contact") == []
    play("transfer_refuse", status=400, external_userid=c1)  # nothing waits any more


def test_a_takeover_at_the_customer_limit_ends_in_status_4(wecom, play):
    assert play("outreach_rules", member_customer_limit=4) == {
        "receive_cap": "month_days",
        "member_customer_limit": 4,
    }
    assert "receive_cap" in play("outreach_rules", status=400, receive_cap="weekly")["error"]
    c1, c2 = customers_of("user1")[:2]
    wecom.transfer_customer(handover_userid="user1", takeover_userid="user2", external_userids=[c1, c2])
    play("advance_time", seconds=DAY)
    rows = wecom.transfer_result(handover_userid="user1", takeover_userid="user2")["customer"]
    assert [(r["external_userid"], r["status"]) for r in rows] == [(c1, 1), (c2, 4)]
    assert c2 in customers_of("user1")
    [event] = callbacks("transfer_fail")
    assert (event.user_id, event.external_user_id, event.fail_reason) == (
        "user2",
        c2,
        "customer_limit_exceed",
    )


def test_transfer_call_refusals(wecom, play):
    c1 = customers_of("user1")[0]
    path = "externalcontact/transfer_customer"
    body = {"handover_userid": "user1", "takeover_userid": "user2", "external_userid": [c1]}
    assert errcode_of(wecom, path, {**body, "takeover_userid": "user1"}) == 40130
    assert errcode_of(wecom, path, {**body, "external_userid": [c1] * 101}) == 40058
    assert errcode_of(wecom, path, {**body, "external_userid": []}) == 40058
    assert errcode_of(wecom, path, {**body, "takeover_userid": "ghost"}) == 60111
    assert errcode_of(wecom, path, {**body, "transfer_success_msg": "x" * 201}) == 40058
    SandboxMember.objects.filter(corp_id=CORP, userid="user3").update(status=4)
    assert errcode_of(wecom, path, {**body, "takeover_userid": "user3"}) == 41054
    SandboxMember.objects.filter(corp_id=CORP, userid="user3").update(status=1, contact_enabled=False)
    assert errcode_of(wecom, path, {**body, "takeover_userid": "user3"}) == 84074
    assert errcode_of(wecom, "externalcontact/resigned/transfer_customer", body) == 40097
    play("member_resign", userid="user1")
    assert errcode_of(wecom, path, body) == 40003  # a resigned member's customers go the other way


def test_resigned_members_customers_are_unassigned_until_taken_over(wecom, play):
    mine = customers_of("user1")
    play("advance_time", seconds=3600)
    play("member_resign", userid="user1")
    left_at = sandbox_time()
    info = wecom.get_unassigned_list()
    assert info["is_last"] is True
    assert [(r["handover_userid"], r["external_userid"]) for r in info["info"]] == [
        ("user1", c) for c in mine
    ]
    assert info["info"][0]["dimission_time"] == pytest.approx(left_at, abs=5)
    first = wecom.get_unassigned_list(page_size=2)
    assert (len(first["info"]), first["is_last"]) == (2, False)
    rest = wecom.get_unassigned_list(page_size=2, cursor=first["next_cursor"])
    assert ([r["external_userid"] for r in rest["info"]], rest["is_last"]) == (mine[2:], True)
    assert (
        errcode_of(wecom, "externalcontact/get_unassigned_list", {"page_id": 50, "page_size": 1000}) == 40058
    )

    answer = wecom.resigned_transfer_customer(
        handover_userid="user1", takeover_userid="user2", external_userids=mine[:2]
    )
    assert [r["errcode"] for r in answer] == [0, 0]
    assert [r["external_userid"] for r in wecom.get_unassigned_list()["info"]] == mine[2:]
    play("advance_time", seconds=DAY)
    rows = wecom.resigned_transfer_result(handover_userid="user1", takeover_userid="user2")["customer"]
    assert [(r["external_userid"], r["status"]) for r in rows] == [(mine[0], 1), (mine[1], 1)]
    assert set(mine[:2]) <= set(customers_of("user2"))
    assert wecom.transfer_result(handover_userid="user1", takeover_userid="user2")["customer"] == []
    # Only on-job takeovers tell the old follower's side with del_external_contact.
    assert callbacks("del_external_contact") == []


# --- group transfers ----------------------------------------------------------------------------------


def group_of(corp, owner):
    return next(g.chat_id for g in corp.groups if g.owner == owner)


def test_onjob_group_transfer_changes_the_owner_at_once(wecom, corp):
    chat = group_of(corp, "user1")
    failed = wecom.groupchat_onjob_transfer(chat_ids=[chat, "wrnope"], new_owner="user2")
    assert [(f["chat_id"], f["errcode"]) for f in failed] == [("wrnope", 90501)]
    assert failed[0]["errmsg"].startswith("not customer group")
    group = wecom.groupchat_get(chat)
    assert group["owner"] == "user2"
    assert any(m["userid"] == "user2" and m["type"] == 1 for m in group["member_list"])
    [failed] = wecom.groupchat_onjob_transfer(chat_ids=[chat], new_owner="user2")
    assert failed["errcode"] == 90504
    assert wecom.groupchat_onjob_transfer(chat_ids=[chat], new_owner="user1") == []
    [failed] = wecom.groupchat_onjob_transfer(chat_ids=[chat], new_owner="user2")
    assert failed["errcode"] == 40128  # a third on-job transfer within 90 days


def test_resigned_group_transfer_rules(wecom, play, corp):
    chat = group_of(corp, "user1")
    [failed] = wecom.groupchat_transfer(chat_ids=[chat], new_owner="user2")
    assert failed["errcode"] == 90500
    play("member_resign", userid="user1")
    assert SandboxGroupChat.objects.get(chat_id=chat).status == 1
    [failed] = wecom.groupchat_onjob_transfer(chat_ids=[chat], new_owner="user2")
    assert failed["errcode"] == 90502
    assert wecom.groupchat_transfer(chat_ids=[chat], new_owner="user2") == []
    group = SandboxGroupChat.objects.get(chat_id=chat)
    assert (group.owner, group.status) == ("user2", 3)
    [failed] = wecom.groupchat_transfer(chat_ids=[chat], new_owner="user3")
    assert failed["errcode"] == 90508
    assert (
        errcode_of(wecom, "externalcontact/groupchat/transfer", {"chat_id_list": [], "new_owner": "user2"})
        == 40058
    )


def test_at_most_300_groups_a_day_from_one_owner(wecom, play, corp):
    now = sandbox_time()
    SandboxGroupChat.objects.bulk_create(
        SandboxGroupChat(corp_id=CORP, chat_id=f"wrbulk{i:04d}", owner="user1", create_time=now)
        for i in range(301)
    )
    chats = [f"wrbulk{i:04d}" for i in range(301)]
    for start in range(0, 300, 100):
        assert wecom.groupchat_onjob_transfer(chat_ids=chats[start : start + 100], new_owner="user2") == []
    [failed] = wecom.groupchat_onjob_transfer(chat_ids=chats[300:], new_owner="user2")
    assert (failed["chat_id"], failed["errcode"]) == ("wrbulk0300", 45009)
    play("advance_time", seconds=DAY)
    assert wecom.groupchat_onjob_transfer(chat_ids=chats[300:], new_owner="user2") == []
