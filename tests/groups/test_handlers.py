"""change_external_chat callbacks, handled against the sandbox over HTTP.

Callbacks are posted encrypted to /wecom/callback/ and processed by the inbox (eager Celery);
the handlers fetch from the sandbox over HTTP. Handler idempotency on its own is checked by
dispatching the same parsed event twice.
"""

from __future__ import annotations

import secrets
import time

import pytest

from customers.models import CustomerEvent
from groups.models import GroupChat, GroupMember
from scrm.org.sync import org_sync
from scrm.sandbox.models import SandboxCall, SandboxGroupChat
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom.client import wecom_client, wecom_clients_close
from scrm.wecom.events import dispatch, event_parse
from scrm.wecom.models import CallbackInbox
from scrm.wecom.sync import SyncContext
from tests.factories import CustomerFactory
from tests.wecom.conftest import deliver, eager_celery  # noqa: F401  (fixtures)

CORP = "wwgrouphandlers"
SECRET = "group-handlers-contact-secret"


@pytest.fixture
def corp(live_server, settings):
    settings.WECOM_CORP_ID = CORP
    settings.WECOM_SECRET = SECRET
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    wecom_clients_close()
    corp = sandbox_corp_create(
        corp_id=CORP, contact_secret=SECRET, members=2, contacts_per_member=3, group_chats=1
    )
    org_sync(SyncContext(client=wecom_client("contact"), mode="full", retry_delay=0))
    for contact in corp.contacts:
        CustomerFactory(external_userid=contact.external_userid, name=contact.name)
    yield corp
    wecom_clients_close()


def chat_event(change_type: str, chat_id: str, *, create_time: int | None = None, **fields) -> str:
    parts = []
    for name, value in fields.items():
        if isinstance(value, list):
            parts.append(f"<{name}>" + "".join(f"<Item><![CDATA[{v}]]></Item>" for v in value) + f"</{name}>")
        elif isinstance(value, int):
            parts.append(f"<{name}>{value}</{name}>")
        else:
            parts.append(f"<{name}><![CDATA[{value}]]></{name}>")
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[change_external_chat]]></Event><ChangeType><![CDATA[{change_type}]]></ChangeType>"
        f"<ChatId><![CDATA[{chat_id}]]></ChatId>{''.join(parts)}</xml>"
    )


@pytest.fixture
def handle(corp, deliver):  # noqa: F811
    """Post a callback (``times`` times, as WeCom's retries) and check the inbox processed it."""

    def post(xml: str, times: int = 1) -> None:
        for _ in range(times):
            assert deliver(xml).status_code == 200
        row = CallbackInbox.objects.get(dedupe_key=event_parse(xml).dedupe_key)
        assert row.status == CallbackInbox.Status.DONE, row.last_error

    return post


def dispatch_twice(xml: str) -> None:
    """Run the handlers of one event twice, as a re-dispatch after a failure would."""
    event = event_parse(xml)
    dispatch(event)
    dispatch(event)


def fetches() -> int:
    return SandboxCall.objects.filter(path="externalcontact/groupchat/get").count()


def add_member(chat: SandboxGroupChat, external_userid: str, join_scene: int = 3) -> tuple[str, str]:
    """Someone joins in WeCom: the sandbox's chat changes; returns (last, current) versions."""
    last = chat.member_version
    chat.member_list = chat.member_list + [
        {
            "userid": external_userid,
            "type": 2,
            "join_time": int(time.time()),
            "join_scene": join_scene,
            "name": "J",
        }
    ]
    chat.member_version = secrets.token_hex(16)
    chat.save()
    return last, chat.member_version


def remove_member(chat: SandboxGroupChat, member_id: str) -> tuple[str, str]:
    last = chat.member_version
    chat.member_list = [m for m in chat.member_list if m["userid"] != member_id]
    chat.member_version = secrets.token_hex(16)
    chat.save()
    return last, chat.member_version


def test_create_mirrors_the_chat_and_puts_the_joins_on_the_timelines(corp, handle):
    chat = corp.groups[0]
    handle(chat_event("create", chat.chat_id))
    group = GroupChat.objects.get(chat_id=chat.chat_id)
    assert (group.name, group.owner.userid, group.member_count) == ("Member 1 group 1", "user1", 4)
    events = CustomerEvent.objects.filter(type=CustomerEvent.Type.JOINED_GROUP)
    assert events.count() == 3
    assert set(events.values_list("source", flat=True)) == {CustomerEvent.Source.WECOM}
    assert events.first().payload == {"chat_id": chat.chat_id, "chat_name": "Member 1 group 1", "scene": 3}


def test_add_member_fetches_once_and_a_repeat_changes_nothing(corp, handle):
    chat = corp.groups[0]
    handle(chat_event("create", chat.chat_id))
    newcomer = corp.contacts[3].external_userid  # a customer of user2, joining user1's group
    last, current = add_member(chat, newcomer, join_scene=2)
    before = fetches()
    xml = chat_event(
        "update",
        chat.chat_id,
        UpdateDetail="add_member",
        JoinScene=0,
        MemChangeCnt=1,
        MemChangeList=[newcomer],
        LastMemVer=last,
        CurMemVer=current,
    )
    handle(xml, times=3)
    dispatch_twice(xml)
    assert fetches() == before + 1  # the repeats find our member list at CurMemVer
    member = GroupMember.objects.get(group__chat_id=chat.chat_id, member_id=newcomer)
    assert member.left_at is None and member.join_scene == GroupMember.JoinScene.INVITE_LINK
    joined = CustomerEvent.objects.filter(type=CustomerEvent.Type.JOINED_GROUP, customer=member.customer)
    assert joined.count() == 1 and joined.get().payload["scene"] == GroupMember.JoinScene.INVITE_LINK
    assert GroupChat.objects.get(chat_id=chat.chat_id).member_count == 5


def test_del_member_marks_the_member_left_with_the_quit_scene(corp, handle):
    chat = corp.groups[0]
    handle(chat_event("create", chat.chat_id))
    leaver = corp.contacts[0].external_userid
    last, current = remove_member(chat, leaver)
    xml = chat_event(
        "update",
        chat.chat_id,
        UpdateDetail="del_member",
        QuitScene=1,
        MemChangeCnt=1,
        MemChangeList=leaver,  # the comma-separated form of clients before 4.8.0
        LastMemVer=last,
        CurMemVer=current,
    )
    handle(xml, times=2)
    dispatch_twice(xml)
    member = GroupMember.objects.get(group__chat_id=chat.chat_id, member_id=leaver)
    assert member.left_at is not None and member.quit_scene == GroupMember.QuitScene.REMOVED
    left = CustomerEvent.objects.get(type=CustomerEvent.Type.LEFT_GROUP)
    assert left.customer == member.customer
    assert left.payload == {"chat_id": chat.chat_id, "chat_name": "Member 1 group 1", "scene": 1}
    assert GroupChat.objects.get(chat_id=chat.chat_id).member_count == 3


def test_a_change_already_applied_by_a_sync_fetches_nothing(corp, handle):
    chat = corp.groups[0]
    handle(chat_event("create", chat.chat_id))
    before = fetches()
    xml = chat_event(
        "update",
        chat.chat_id,
        UpdateDetail="add_member",
        JoinScene=3,
        CurMemVer=chat.member_version,
        LastMemVer="x",
    )
    handle(xml)
    assert fetches() == before


def test_name_notice_and_owner_changes(corp, handle):
    chat = corp.groups[0]
    handle(chat_event("create", chat.chat_id))
    GroupChat.objects.filter(chat_id=chat.chat_id).update(status=GroupChat.Status.OWNER_DEPARTED)
    SandboxGroupChat.objects.filter(pk=chat.pk).update(name="VIP 群", notice="Welcome", owner="user2")
    handle(chat_event("update", chat.chat_id, UpdateDetail="change_name"))
    handle(chat_event("update", chat.chat_id, UpdateDetail="change_notice"))
    handle(chat_event("update", chat.chat_id, UpdateDetail="change_owner"), times=2)
    dispatch_twice(chat_event("update", chat.chat_id, UpdateDetail="change_name"))
    group = GroupChat.objects.get(chat_id=chat.chat_id)
    assert (group.name, group.notice, group.owner.userid) == ("VIP 群", "Welcome", "user2")
    assert group.status == GroupChat.Status.TRANSFERRED
    assert CustomerEvent.objects.count() == 3  # the three joins of the create, nothing more


def test_dismiss_keeps_the_chat_marked_dismissed(corp, handle):
    chat = corp.groups[0]
    handle(chat_event("create", chat.chat_id))
    chat.delete()
    handle(chat_event("dismiss", chat.chat_id))
    group = GroupChat.objects.get(chat_id=chat.chat_id)
    dismissed_at = group.dismissed_at
    assert group.status == GroupChat.Status.DISMISSED and dismissed_at is not None
    dispatch_twice(chat_event("dismiss", chat.chat_id, create_time=int(time.time()) + 5))
    assert GroupChat.objects.get(chat_id=chat.chat_id).dismissed_at == dismissed_at
    # An update that arrives after the chat is gone in WeCom changes nothing.
    handle(chat_event("update", chat.chat_id, UpdateDetail="change_name"))
    assert GroupChat.objects.get(chat_id=chat.chat_id).status == GroupChat.Status.DISMISSED


def test_add_member_delivered_three_times_is_processed_once(corp, deliver):  # noqa: F811
    chat = corp.groups[0]
    assert deliver(chat_event("create", chat.chat_id)).status_code == 200
    newcomer = corp.contacts[3].external_userid
    last, current = add_member(chat, newcomer)
    before = fetches()
    xml = chat_event(
        "update",
        chat.chat_id,
        UpdateDetail="add_member",
        JoinScene=3,
        MemChangeCnt=1,
        MemChangeList=[newcomer],
        LastMemVer=last,
        CurMemVer=current,
    )
    for _ in range(3):
        assert deliver(xml).status_code == 200
    row = CallbackInbox.objects.get(change_type="update")
    assert (row.status, row.attempts) == (CallbackInbox.Status.DONE, 1)
    assert fetches() == before + 1
    joined = CustomerEvent.objects.filter(
        type=CustomerEvent.Type.JOINED_GROUP, customer__external_userid=newcomer
    )
    assert joined.count() == 1


def test_a_departed_owners_groups_await_inheritance(corp, handle):
    chat, other = corp.groups
    handle(chat_event("create", chat.chat_id))
    handle(chat_event("create", other.chat_id))
    handle(
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_contact]]></Event><ChangeType><![CDATA[delete_user]]></ChangeType>"
        "<UserID><![CDATA[user1]]></UserID></xml>"
    )
    statuses = dict(GroupChat.objects.values_list("owner_userid", "status"))
    assert statuses == {"user1": GroupChat.Status.OWNER_DEPARTED, "user2": GroupChat.Status.NORMAL}
    assert GroupChat.objects.get(owner_userid="user1").members.filter(left_at__isnull=True).count() == 4
