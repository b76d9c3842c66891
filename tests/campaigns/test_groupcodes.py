"""Group live codes against the sandbox over HTTP: the join way, rotation of full groups, groups
WeCom opens by itself, and join attribution.

WeChat users scan the code with the sandbox's ``scan_join_way``; the callbacks it emits are
delivered encrypted to /wecom/callback/ (three times where WeCom's retries matter) and processed
by the real handlers: the groups app's first, then the code's, whose refresh task runs eagerly
after commit and calls the sandbox through our client.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.models import Channel, GroupCode, GroupCodeChat
from campaigns.selectors.groupcodes import groupcode_joins_by_day, groupcode_members_by_group
from campaigns.services.groupcodes import GroupCodeEntry, groupcode_delete, groupcode_refresh, groupcode_save
from groups.models import GroupChat, GroupMember
from groups.sync import groups_sync
from scrm.org.sync import org_sync
from scrm.sandbox.actions.acquisition import scan_join_way
from scrm.sandbox.frequency import limits_set
from scrm.sandbox.models import SandboxCall, SandboxCallback, SandboxJoinWay
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom.client import wecom_client, wecom_clients_close
from scrm.wecom.models import CallbackInbox
from scrm.wecom.sync import SyncContext
from tests.factories import GroupChatFactory
from tests.wecom.conftest import deliver, eager_celery  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

CORP = "wwgroupcodes"
SECRET = "group-codes-contact-secret"


@pytest.fixture
def corp(live_server, settings):
    """A sandbox corp whose member owns 6 groups of 2 people (the owner and a customer), mirrored."""
    settings.WECOM_CORP_ID = CORP
    settings.WECOM_SECRET = SECRET
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    wecom_clients_close()
    cache.clear()
    corp = sandbox_corp_create(
        corp_id=CORP, contact_secret=SECRET, members=1, contacts_per_member=1, group_chats=6
    )
    context = SyncContext(client=wecom_client("contact"), mode="full", retry_delay=0)
    org_sync(context)
    groups_sync(context)
    yield corp
    wecom_clients_close()


def groups_of(corp) -> list[GroupChat]:
    by_chat = {g.chat_id: g for g in GroupChat.objects.all()}
    return [by_chat[chat.chat_id] for chat in corp.groups]


def code_create(groups, *, state="flyer", cap=3, **fields) -> GroupCode:
    fields.setdefault("room_base_name", "VIP ")
    code = GroupCode(name="Flyer", member_cap=cap, **fields)
    return groupcode_save(code=code, state=state, entries=[GroupCodeEntry(group=g) for g in groups])


def way_chats(code: GroupCode) -> list[str]:
    return wecom_client("contact").get_join_way(code.config_id)["chat_id_list"]


def way_writes() -> int:
    return SandboxCall.objects.filter(path="externalcontact/groupchat/update_join_way").count()


def statuses(code: GroupCode) -> list[str]:
    return list(code.chats.order_by("position").values_list("status", flat=True))


@pytest.fixture
def scan(corp, deliver):  # noqa: F811
    """A WeChat user scans the code; its callbacks are delivered ``times`` times each."""

    def play(code: GroupCode, times: int = 1, **user) -> dict:
        result = scan_join_way(CORP, {"config_id": code.config_id, **user})
        for row in SandboxCallback.objects.filter(pk__in=result["callbacks"]).order_by("id"):
            for _ in range(times):
                assert deliver(row.xml).status_code == 200
        failed = CallbackInbox.objects.exclude(status=CallbackInbox.Status.DONE)
        assert not failed.exists(), list(failed.values_list("status", "last_error"))
        return result

    return play


def test_a_new_code_creates_the_join_way_with_the_first_five_groups(corp):
    groups = groups_of(corp)
    code = code_create(groups, auto_create_room=True, room_base_id=7)

    assert way_chats(code) == [g.chat_id for g in groups[:5]]
    assert statuses(code) == ["live"] * 5 + ["waiting"]
    way = SandboxJoinWay.objects.get(config_id=code.config_id)
    assert (way.scene, way.state, way.room_base_name, way.room_base_id, way.auto_create_room) == (
        2,
        "flyer",
        "VIP ",
        7,
        True,
    )
    assert code.qr_code and code.wecom_chat_ids == way.chat_id_list
    assert Channel.objects.get(state="flyer").group_code == code


def test_a_group_reaching_the_cap_is_rotated_out_once_under_retries(corp, scan):
    groups = groups_of(corp)
    code = code_create(groups)
    before = way_writes()

    result = scan(code, times=3, name="Wang")  # the same add_member callback three times

    assert result["chat_id"] == groups[0].chat_id
    assert GroupChat.objects.get(chat_id=groups[0].chat_id).member_count == 3
    assert way_writes() == before + 1
    assert way_chats(code) == [g.chat_id for g in groups[1:6]]
    assert statuses(code) == ["full"] + ["live"] * 5
    seat = code.chats.get(group=groups[0])
    assert seat.full_at is not None
    # A refresh running again (a redelivered task) finds nothing to write.
    assert groupcode_refresh(code_id=code.pk) is False
    assert way_writes() == before + 1
    # The next WeChat user lands in the group that came in first.
    assert scan(code)["chat_id"] == groups[1].chat_id


def test_when_all_groups_are_full_wecom_opens_one_and_the_code_adopts_it(corp, scan):
    limits_set(scan_join_cap=3)  # WeCom's own limit, brought down to the code's cap
    first, second = groups_of(corp)[:2]
    code = code_create([first, second], auto_create_room=True, room_base_name="VIP ", room_base_id=7)

    scan(code)  # fills the first: the second alone is in the QR
    assert way_chats(code) == [second.chat_id]
    scan(code)  # fills the second: nothing waits, the way keeps it
    writes = way_writes()
    assert way_chats(code) == [second.chat_id]
    assert statuses(code) == ["full", "full"]

    result = scan(code, times=3)  # every group at WeCom's limit: WeCom opens "VIP 7"

    room = GroupChat.objects.get(chat_id=result["chat_id"])
    assert room.name == "VIP 7"
    seat = code.chats.get(group=room)
    assert (seat.status, seat.auto_created, seat.position) == ("live", True, 2)
    assert code.chats.count() == 3
    assert way_chats(code) == [room.chat_id]  # the full groups left the way once
    assert way_writes() == writes + 1
    member = GroupMember.objects.get(group=room, member_id=result["external_userid"])
    assert member.state == "flyer"
    # The room fills in its turn; the next one is VIP 8, adopted after it.
    scan(code)
    assert code.chats.get(group=room).status == "full"
    eighth = GroupChat.objects.get(chat_id=scan(code)["chat_id"])
    assert eighth.name == "VIP 8"
    assert list(code.chats.order_by("position").values_list("group__name", "status"))[-2:] == [
        ("VIP 7", "full"),
        ("VIP 8", "live"),
    ]


def test_below_wecom_limit_a_full_last_group_stays_in_the_qr(corp, scan):
    """The code's cap (3) is below WeCom's scan limit (200): with no group waiting, the last one
    keeps taking joins until WeCom's own limit, where WeCom would open a new group."""
    (only,) = groups_of(corp)[:1]
    code = code_create([only], auto_create_room=True)
    before = way_writes()
    scan(code)
    assert statuses(code) == ["full"]
    assert way_chats(code) == [only.chat_id] and way_writes() == before
    assert scan(code)["chat_id"] == only.chat_id
    assert GroupChat.objects.get(pk=only.pk).member_count == 4


def test_a_paused_code_does_not_rotate(corp, scan):
    groups = groups_of(corp)
    code = code_create(groups[:2], status=GroupCode.Status.PAUSED)
    before = way_writes()
    scan(code)
    assert way_writes() == before
    assert statuses(code) == ["live", "live"]


def test_a_dismissed_group_leaves_the_code(corp, deliver):  # noqa: F811
    groups = groups_of(corp)
    code = code_create(groups)
    xml = (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event><ChangeType><![CDATA[dismiss]]></ChangeType>"
        f"<ChatId><![CDATA[{groups[0].chat_id}]]></ChatId></xml>"
    )
    for _ in range(3):
        assert deliver(xml).status_code == 200
    assert statuses(code) == ["gone"] + ["live"] * 5
    assert way_chats(code) == [g.chat_id for g in groups[1:6]]


def test_joins_are_attributed_to_the_code_per_group_and_day(corp, scan):
    groups = groups_of(corp)
    code = code_create(groups[:2], cap=10)
    for name in ("A", "B", "C"):
        scan(code, name=name)
    rows = groupcode_members_by_group(code=code)
    assert [(r["seat"].group_id, r["members"], r["joined"], r["still_in"]) for r in rows] == [
        (groups[0].pk, 5, 3, 3),
        (groups[1].pk, 2, 0, 0),
    ]
    today = timezone.localdate()
    days = groupcode_joins_by_day(code=code, first_day=today - timedelta(days=1), last_day=today)
    assert [(d["day"], d["group_id"], d["joins"]) for d in days] == [(today, groups[0].pk, 3)]
    assert set(GroupMember.objects.filter(group=groups[0], kind=2).values_list("state", flat=True)) == {
        "",  # the customer who was there before the code
        "flyer",
    }


def test_the_service_refuses_bad_codes_without_writing(corp):
    groups = groups_of(corp)
    calls = SandboxCall.objects.count()
    with pytest.raises(ValidationError) as caught:
        code_create(groups, state="x" * 31)
    assert "state" in caught.value.message_dict
    with pytest.raises(ValidationError):
        code_create([], state="empty")
    with pytest.raises(ValidationError) as caught:
        code_create(groups, state="nobase", room_base_name="", auto_create_room=True)
    assert "room_base_name" in caught.value.message_dict
    with pytest.raises(ValidationError):
        code_create([groups[0], groups[0]], state="twice")
    assert SandboxCall.objects.count() == calls  # none of these reached WeCom
    # A group WeCom does not know: WeCom's refusal, and nothing saved.
    stranger = GroupChatFactory(owner=None)
    with pytest.raises(ValidationError) as caught:
        code_create([stranger], state="stranger")
    assert "WeCom" in caught.value.messages[0]
    assert not GroupCode.objects.exists() and not Channel.objects.filter(state="stranger").exists()
    # States are unique across codes; a channel no code owns is taken over.
    poster = Channel.objects.create(state="taken", name="Poster")
    assert code_create(groups[:1], state="taken").channel == poster
    with pytest.raises(ValidationError) as caught:
        code_create(groups[1:2], state="taken")
    assert "state" in caught.value.message_dict


def test_reordering_rewrites_the_way_and_deleting_removes_it(corp):
    groups = groups_of(corp)
    code = code_create(groups[:3])
    before = way_writes()
    groupcode_save(code=code, state="flyer", entries=[GroupCodeEntry(group=g) for g in groups[:3]])
    assert way_writes() == before  # nothing changed: WeCom is not written
    entries = [
        GroupCodeEntry(group=groups[2]),
        GroupCodeEntry(group=groups[0], status=GroupCodeChat.Status.FULL),
    ]
    groupcode_save(code=code, state="flyer2", entries=entries)
    assert way_writes() == before + 1
    assert way_chats(code) == [groups[2].chat_id]
    assert SandboxJoinWay.objects.get(config_id=code.config_id).state == "flyer2"
    assert list(code.chats.values_list("group_id", "status")) == [
        (groups[2].pk, "live"),
        (groups[0].pk, "full"),
    ]
    config_id = code.config_id
    groupcode_delete(code=code)
    assert not SandboxJoinWay.objects.filter(config_id=config_id).exists()
    assert not GroupCode.objects.exists()
    # The channels stay (the joins keep their names), free for another code.
    assert set(Channel.objects.values_list("state", flat=True)) == {"flyer", "flyer2"}
    code_create(groups[:1], state="flyer2")
    assert Channel.objects.count() == 2
