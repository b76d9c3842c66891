"""The groups sync step against the sandbox over HTTP: chats, members, departures, dismissals."""

from __future__ import annotations

import secrets

import pytest

import groups.sync
from customers.models import CustomerEvent
from groups.models import GroupChat, GroupMember
from groups.sync import groups_sync
from scrm.org.sync import org_sync
from scrm.sandbox.models import SandboxCall, SandboxGroupChat
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom.client import WecomClient
from scrm.wecom.sync import SyncContext
from tests.factories import CustomerFactory

CORP = "wwgroupsync"
SECRET = "group-sync-contact-secret"


@pytest.fixture
def corp(live_server):
    return sandbox_corp_create(
        corp_id=CORP, contact_secret=SECRET, members=2, contacts_per_member=2, group_chats=1
    )


@pytest.fixture
def wecom(corp, live_server):
    client = WecomClient(CORP, SECRET, base_url=live_server.url + "/sandbox/cgi-bin", timeout=5.0)
    org_sync(SyncContext(client=client, mode="full", retry_delay=0))  # the owners and staff members
    yield client
    client.close()


@pytest.fixture
def customers(corp):
    """Our customers for all the sandbox's contacts but the last (who is nobody's customer yet)."""
    return [CustomerFactory(external_userid=c.external_userid, name=c.name) for c in corp.contacts[:-1]]


def run(client, mode="full") -> SyncContext:
    ctx = SyncContext(client=client, mode=mode, retry_delay=0)
    groups_sync(ctx)
    return ctx


def snapshot():
    return (
        list(
            GroupChat.objects.order_by("chat_id").values_list(
                "chat_id", "name", "owner__userid", "status", "member_count", "member_version", "dismissed_at"
            )
        ),
        list(
            GroupMember.objects.order_by("group__chat_id", "member_id").values_list(
                "group__chat_id",
                "member_id",
                "kind",
                "customer_id",
                "staff__userid",
                "name",
                "join_scene",
                "left_at",
            )
        ),
        CustomerEvent.objects.count(),
    )


def sandbox_members(chat: SandboxGroupChat, members: list[dict]) -> None:
    chat.member_list = members
    chat.member_version = secrets.token_hex(16)
    chat.save()


def test_full_sync_mirrors_chats_and_members(wecom, corp, customers):
    ctx = run(wecom)
    assert GroupChat.objects.count() == 2
    chat = GroupChat.objects.get(chat_id=corp.groups[0].chat_id)
    assert (chat.name, chat.owner.userid, chat.status, chat.member_count) == (
        "Member 1 group 1",
        "user1",
        GroupChat.Status.NORMAL,
        3,
    )
    assert chat.member_version == corp.groups[0].member_version
    members = {m.member_id: m for m in chat.members.all()}
    assert members["user1"].kind == GroupMember.Kind.STAFF and members["user1"].staff.userid == "user1"
    first = corp.contacts[0]
    assert members[first.external_userid].customer.external_userid == first.external_userid
    assert members[first.external_userid].name == first.name  # need_name=1
    assert members[first.external_userid].join_scene == GroupMember.JoinScene.QR_CODE
    # The last contact is nobody's customer here: a member without a link and without a timeline.
    assert GroupMember.objects.get(member_id=corp.contacts[-1].external_userid).customer is None
    joined = CustomerEvent.objects.filter(type=CustomerEvent.Type.JOINED_GROUP)
    assert joined.count() == 3 and set(joined.values_list("source", flat=True)) == {"sync"}
    assert joined.filter(payload__chat_id=chat.chat_id).first().payload["chat_name"] == chat.name
    assert ctx.counts["groups"] == {"chats created": 2, "members joined": 6, "timeline events": 3}


def test_a_second_full_sync_changes_nothing(wecom, customers):
    run(wecom)
    before = snapshot()
    ctx = run(wecom)
    assert snapshot() == before
    assert ctx.counts.get("groups", {}) == {}


def test_the_list_is_always_filtered_by_at_most_100_owners(live_server):
    sandbox_corp_create(
        corp_id=CORP, contact_secret=SECRET, members=205, contacts_per_member=0, group_chats=1
    )
    client = WecomClient(CORP, SECRET, base_url=live_server.url + "/sandbox/cgi-bin", timeout=5.0)
    try:
        org_sync(SyncContext(client=client, mode="full", retry_delay=0))
        run(client)
    finally:
        client.close()
    bodies = list(
        SandboxCall.objects.filter(path="externalcontact/groupchat/list").values_list("body", flat=True)
    )
    sizes = sorted(len(body["owner_filter"]["userid_list"]) for body in bodies)
    assert sizes == [5, 100, 100]
    assert all(body["limit"] == 1000 for body in bodies)
    assert GroupChat.objects.count() == 205


@pytest.mark.parametrize("copy_from", [0, groups.sync.COPY_MIN_ROWS], ids=["copy", "insert"])
def test_members_who_left_and_chats_gone_are_closed_not_deleted(
    wecom, corp, customers, monkeypatch, copy_from
):
    monkeypatch.setattr(groups.sync, "COPY_MIN_ROWS", copy_from)  # a rejoin updates the row in place
    run(wecom)
    chat, other = corp.groups
    leaver = corp.contacts[0].external_userid
    sandbox_members(chat, [m for m in chat.member_list if m["userid"] != leaver])
    other.delete()
    ctx = run(wecom)
    member = GroupMember.objects.get(member_id=leaver)
    assert member.left_at is not None
    assert GroupChat.objects.get(chat_id=chat.chat_id).member_count == 2
    left = CustomerEvent.objects.get(type=CustomerEvent.Type.LEFT_GROUP)
    assert left.customer.external_userid == leaver and left.payload["chat_id"] == chat.chat_id
    gone = GroupChat.objects.get(chat_id=other.chat_id)
    assert gone.status == GroupChat.Status.DISMISSED and gone.dismissed_at is not None
    assert gone.members.count() == 3
    assert ctx.counts["groups"]["chats dismissed"] == 1
    # Back again: the same row, joined again, with a new timeline entry.
    sandbox_members(
        chat, chat.member_list + [{"userid": leaver, "type": 2, "join_time": 1_700_000_000, "join_scene": 2}]
    )
    run(wecom)
    member.refresh_from_db()
    assert member.left_at is None and member.join_scene == GroupMember.JoinScene.INVITE_LINK
    assert (
        CustomerEvent.objects.filter(
            type=CustomerEvent.Type.JOINED_GROUP, customer__external_userid=leaver
        ).count()
        == 2
    )


def test_incremental_fetches_new_chats_only(wecom, corp, customers):
    run(wecom)
    chat = corp.groups[0]
    SandboxGroupChat.objects.filter(pk=chat.pk).update(name="Renamed")
    new = SandboxGroupChat.objects.create(
        corp_id=CORP,
        chat_id="wrnew" + secrets.token_hex(8),
        name="New group",
        owner="user2",
        create_time=1_700_000_000,
        member_version="v1",
        member_list=[{"userid": "user2", "type": 1, "join_time": 1_700_000_000, "join_scene": 1}],
    )
    SandboxCall.objects.all().delete()
    run(wecom, mode="incremental")
    fetched = [
        body["chat_id"]
        for body in SandboxCall.objects.filter(path="externalcontact/groupchat/get").values_list(
            "body", flat=True
        )
    ]
    assert fetched == [new.chat_id]
    assert GroupChat.objects.get(chat_id=new.chat_id).owner.userid == "user2"
    assert GroupChat.objects.get(chat_id=chat.chat_id).name == "Member 1 group 1"


def test_inheritance_status_comes_from_the_list(wecom, corp, customers):
    run(wecom)
    SandboxGroupChat.objects.filter(pk=corp.groups[1].pk).update(status=1)
    run(wecom, mode="incremental")
    assert GroupChat.objects.get(chat_id=corp.groups[1].chat_id).status == GroupChat.Status.OWNER_DEPARTED


def test_a_customer_who_arrives_later_is_linked_to_their_memberships(wecom, corp, customers):
    run(wecom)
    late = corp.contacts[-1]
    customer = CustomerFactory(external_userid=late.external_userid)
    run(wecom, mode="incremental")
    assert GroupMember.objects.get(member_id=late.external_userid).customer == customer


@pytest.mark.parametrize("copy_from", [0, groups.sync.COPY_MIN_ROWS], ids=["copy", "insert"])
def test_text_with_tabs_newlines_backslashes_and_quotes_is_stored_as_sent(
    wecom, corp, customers, monkeypatch, copy_from
):
    # Large batches go by COPY on PostgreSQL, whose text format needs escaping; small ones by INSERT.
    monkeypatch.setattr(groups.sync, "COPY_MIN_ROWS", copy_from)
    awkward = 'tab\there\nnew line\r\\N back\\slash "quoted" 引号 \\\\ end'
    chat = corp.groups[0]
    chat.name, chat.notice, chat.admin_list = "群\t名\\N", awkward, [{"userid": "user1"}]
    first = corp.contacts[0].external_userid
    sandbox_members(
        chat,
        [
            {**m, "name": awkward, "group_nickname": "\\N", "state": "", "invitor": {"userid": "us\ter1"}}
            if m["userid"] == first
            else m
            for m in chat.member_list
        ],
    )
    run(wecom)
    stored = GroupChat.objects.get(chat_id=chat.chat_id)
    assert (stored.name, stored.notice, stored.admin_userids) == ("群\t名\\N", awkward, ["user1"])
    member = GroupMember.objects.get(group=stored, member_id=first)
    assert (member.name, member.group_nickname, member.state, member.inviter_userid) == (
        awkward[:128],
        "\\N",
        "",
        "us\ter1",
    )
    event = CustomerEvent.objects.get(type=CustomerEvent.Type.JOINED_GROUP, customer__external_userid=first)
    assert event.payload["chat_name"] == "群\t名\\N"
    # Read back and compared again, the awkward values count as unchanged.
    before = snapshot()
    assert run(wecom).counts.get("groups", {}) == {}
    assert snapshot() == before
