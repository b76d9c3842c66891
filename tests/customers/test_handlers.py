"""Callback handlers for customers and corp tags: encrypted callbacks through /wecom/callback/,
look-ups answered by the sandbox over HTTP.

Each test changes the sandbox first (what happened in WeCom), then delivers the callback WeCom
sends about it, as WeCom does: the same event three times where retries matter.
"""

from __future__ import annotations

import time

import pytest
from django.core.cache import cache

from customers.models import (
    Customer,
    CustomerEvent,
    Follow,
    FollowPersonalTag,
    FollowTag,
    PersonalTag,
    Tag,
    TagGroup,
)
from customers.sync import customers_sync
from customers.wecom import ContactEntry, contacts_apply, staff_ids_resolve, tag_map
from scrm.org.models import Staff
from scrm.sandbox.models import SandboxFollow, SandboxTag, SandboxTagGroup
from scrm.sandbox.services import sandbox_contacts_add, sandbox_corp_create, sandbox_tag_group_create
from scrm.wecom.client import wecom_client, wecom_clients_close
from scrm.wecom.models import CallbackInbox
from scrm.wecom.sync import SyncContext
from tests.wecom.conftest import deliver, eager_celery  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def corp(live_server, settings):
    """A sandbox corp under our configured corp id and secret, with the API pointed at it."""
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    wecom_clients_close()
    cache.clear()  # no token of an earlier test's sandbox
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID, contact_secret=settings.WECOM_SECRET, members=2, contacts_per_member=0
    )
    yield corp
    wecom_clients_close()


def event_xml(corp_id, event, change_type, create_time=None, **fields):
    extra = "".join(f"<{name}><![CDATA[{value}]]></{name}>" for name, value in fields.items())
    return (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{event}]]></Event><ChangeType><![CDATA[{change_type}]]></ChangeType>{extra}</xml>"
    )


def contact_event(corp, change_type, external, user="user1", create_time=None, **fields):
    return event_xml(
        corp.corp_id,
        "change_external_contact",
        change_type,
        create_time,
        UserID=user,
        ExternalUserID=external,
        **fields,
    )


def tag_event(corp, change_type, wecom_id, tag_type="tag"):
    return event_xml(corp.corp_id, "change_external_tag", change_type, Id=wecom_id, TagType=tag_type)


def thrice(deliver, xml):  # noqa: F811
    for _ in range(3):
        assert deliver(xml).status_code == 200


def inbox_done():
    rows = list(CallbackInbox.objects.values_list("status", "last_error"))
    assert all(status == CallbackInbox.Status.DONE for status, _ in rows), rows
    return len(rows)


def added(corp, *, member=0, tags=()):
    return sandbox_contacts_add(member=corp.members[member], count=1, tag_ids=list(tags))[0]


# --- change_external_contact ----------------------------------------------------------------------


def test_add_creates_customer_follow_and_one_event(corp, deliver):  # noqa: F811
    gold = corp.tags[0]
    contact = added(corp, tags=[gold.tag_id])
    xml = contact_event(
        corp, "add_external_contact", contact.external_userid, State="ad_7", WelcomeCode="WC1"
    )

    thrice(deliver, xml)

    assert inbox_done() == 1
    customer = Customer.objects.get()
    assert (customer.external_userid, customer.name) == (contact.external_userid, contact.name)
    follow = Follow.objects.get()
    assert (follow.staff.userid, follow.status, follow.state, follow.add_way) == (
        "user1",
        "active",
        "sandbox",
        1,
    )
    assert Staff.objects.get().userid == "user1"  # fetched with user/get: the org sync had not run
    assert list(FollowTag.objects.values_list("tag__wecom_id", flat=True)) == [gold.tag_id]
    assert customer.tag_ids == [Tag.objects.get(wecom_id=gold.tag_id).id]
    event = CustomerEvent.objects.get()
    assert (event.type, event.source, event.staff_id) == ("added", "wecom", follow.staff_id)
    assert event.payload == {
        "userid": "user1",
        "state": "ad_7",
        "add_way": 1,
        "welcome_code": "WC1",
        "half": False,
    }


def test_two_customers_adding_the_same_staff_in_the_same_second_are_both_processed(corp, deliver):  # noqa: F811
    first, second = added(corp), added(corp)
    now = int(time.time())
    for contact in (first, second):
        deliver(contact_event(corp, "add_external_contact", contact.external_userid, create_time=now))
    assert inbox_done() == 2
    assert Customer.objects.count() == 2 and Follow.objects.count() == 2
    assert CustomerEvent.objects.filter(type="added").count() == 2


def test_add_half_records_the_pair_once_with_the_later_add(corp, deliver):  # noqa: F811
    contact = added(corp)
    thrice(deliver, contact_event(corp, "add_half_external_contact", contact.external_userid))
    deliver(
        contact_event(corp, "add_external_contact", contact.external_userid, create_time=int(time.time()) + 5)
    )
    assert inbox_done() == 2
    assert Follow.objects.get().status == "active"
    event = CustomerEvent.objects.get()
    assert event.payload["half"] is True


def test_add_also_records_the_customers_other_follows(corp, deliver):  # noqa: F811
    contact = added(corp, member=1)
    SandboxFollow.objects.create(
        member=corp.members[0], contact=contact, createtime=int(time.time()), add_way=202
    )
    deliver(contact_event(corp, "add_external_contact", contact.external_userid))
    assert set(Follow.objects.values_list("staff__userid", flat=True)) == {"user1", "user2"}
    assert set(CustomerEvent.objects.values_list("staff__userid", "type")) == {
        ("user1", "added"),
        ("user2", "added"),
    }


def test_edit_updates_remark_and_tags_with_events(corp, deliver):  # noqa: F811
    gold, silver = corp.tags
    contact = added(corp, tags=[gold.tag_id])
    deliver(contact_event(corp, "add_external_contact", contact.external_userid))
    follow = SandboxFollow.objects.get(contact=contact)
    follow.remark, follow.description, follow.tag_ids = "大客户", "prefers email", [silver.tag_id]
    follow.save()

    thrice(deliver, contact_event(corp, "edit_external_contact", contact.external_userid))

    assert inbox_done() == 2
    ours = Follow.objects.get()
    assert (ours.remark, ours.description) == ("大客户", "prefers email")
    silver_id = Tag.objects.get(wecom_id=silver.tag_id).id
    assert list(FollowTag.objects.values_list("tag_id", flat=True)) == [silver_id]
    assert Customer.objects.get().tag_ids == [silver_id]
    events = {e.type: e.payload for e in CustomerEvent.objects.exclude(type="added")}
    assert events["tagged"]["tags"] == [{"id": silver_id, "name": "银卡"}]
    assert events["untagged"]["tags"] == [{"id": Tag.objects.get(wecom_id=gold.tag_id).id, "name": "金卡"}]
    assert events["profile_updated"]["changes"] == {
        "remark": [contact.name[:20], "大客户"],
        "description": ["added in the sandbox", "prefers email"],
    }
    # Another edit callback with nothing new (e.g. only remark mobiles changed) adds no events.
    deliver(
        contact_event(
            corp, "edit_external_contact", contact.external_userid, create_time=int(time.time()) + 9
        )
    )
    assert CustomerEvent.objects.count() == 4


@pytest.mark.parametrize(
    ("change_type", "fields", "status"),
    [
        ("del_external_contact", {}, "deleted_by_staff"),
        ("del_external_contact", {"Source": "DELETE_BY_TRANSFER"}, "transferred"),
        ("del_follow_user", {}, "deleted_by_customer"),
    ],
)
def test_deletions_end_the_follow_once(corp, deliver, change_type, fields, status):  # noqa: F811
    contact = added(corp, tags=[corp.tags[0].tag_id])
    deliver(contact_event(corp, "add_external_contact", contact.external_userid))
    SandboxFollow.objects.filter(contact=contact).delete()

    thrice(
        deliver,
        contact_event(corp, change_type, contact.external_userid, create_time=int(time.time()) + 1, **fields),
    )

    assert inbox_done() == 2
    follow = Follow.objects.get()
    assert follow.status == status and follow.status_changed_at is not None
    assert Customer.objects.get().tag_ids == []  # tags count on active follows only
    event = CustomerEvent.objects.exclude(type="added").get()
    expected_type = "transferred" if status == "transferred" else status
    assert (event.type, event.source, event.staff_id) == (expected_type, "wecom", follow.staff_id)


def test_a_quick_re_add_is_a_new_relationship(corp, deliver):  # noqa: F811
    contact = added(corp)
    now = int(time.time())
    deliver(contact_event(corp, "add_external_contact", contact.external_userid, create_time=now))
    follow = SandboxFollow.objects.get(contact=contact)
    follow.delete()
    deliver(contact_event(corp, "del_follow_user", contact.external_userid, create_time=now + 30))
    SandboxFollow.objects.create(member=follow.member, contact=contact, createtime=now + 60, add_way=1)
    thrice(
        deliver, contact_event(corp, "add_external_contact", contact.external_userid, create_time=now + 60)
    )

    assert inbox_done() == 3
    ours = Follow.objects.get()
    assert ours.status == "active" and int(ours.added_at.timestamp()) == now + 60
    kinds = list(CustomerEvent.objects.order_by("occurred_at", "id").values_list("type", flat=True))
    assert kinds == ["added", "deleted_by_customer", "added"]


def test_a_deletion_callback_names_the_cause_of_a_follow_the_sync_found_gone(corp, deliver):  # noqa: F811
    contact = added(corp)
    now = int(time.time())
    deliver(contact_event(corp, "add_external_contact", contact.external_userid, create_time=now))
    SandboxFollow.objects.filter(contact=contact).delete()
    customers_sync(SyncContext(client=wecom_client("contact"), mode="full", retry_delay=0.01))
    assert Follow.objects.get().status == "gone"

    deliver(contact_event(corp, "del_external_contact", contact.external_userid, create_time=now + 5))

    follow = Follow.objects.get()
    assert follow.status == "deleted_by_staff"
    kinds = list(CustomerEvent.objects.order_by("id").values_list("type", "source"))
    assert kinds == [("added", "wecom"), ("follow_gone", "sync"), ("deleted_by_staff", "wecom")]


def test_a_deletion_older_than_the_follow_is_ignored(corp, deliver):  # noqa: F811
    contact = added(corp)
    deliver(contact_event(corp, "add_external_contact", contact.external_userid))
    added_at = int(Follow.objects.get().added_at.timestamp())
    deliver(contact_event(corp, "del_follow_user", contact.external_userid, create_time=added_at - 60))
    assert Follow.objects.get().status == "active"


def test_a_deletion_of_an_unknown_pair_is_done_without_change(corp, deliver):  # noqa: F811
    deliver(contact_event(corp, "del_follow_user", "wmUNKNOWN"))
    assert inbox_done() == 1 and not Follow.objects.exists()


def test_transfer_fail_is_an_event_and_leaves_the_follow(corp, deliver):  # noqa: F811
    contact = added(corp)
    deliver(contact_event(corp, "add_external_contact", contact.external_userid))
    thrice(
        deliver,
        contact_event(
            corp, "transfer_fail", contact.external_userid, user="user2", FailReason="customer_refused"
        ),
    )
    assert inbox_done() == 2
    assert Follow.objects.get().status == "active"
    event = CustomerEvent.objects.get(type="transfer_failed")
    assert event.payload == {"userid": "user2", "fail_reason": "customer_refused"}
    assert event.staff.userid == "user2"


def test_transfer_fail_for_a_customer_we_missed_fetches_it(corp, deliver):  # noqa: F811
    contact = added(corp)
    deliver(contact_event(corp, "transfer_fail", contact.external_userid, FailReason="customer_limit_exceed"))
    assert inbox_done() == 1
    assert (
        CustomerEvent.objects.get(type="transfer_failed").customer.external_userid == contact.external_userid
    )


def test_wecom_errors_are_recorded_for_retry(corp, deliver, settings):  # noqa: F811
    settings.WECOM_API_BASE = "http://127.0.0.1:9/cgi-bin"  # WeCom unreachable
    wecom_clients_close()
    contact = added(corp)
    deliver(contact_event(corp, "add_external_contact", contact.external_userid))
    row = CallbackInbox.objects.get()
    assert row.status == CallbackInbox.Status.FAILED and "NetworkError" in row.last_error
    assert not Customer.objects.exists()


# --- change_external_tag --------------------------------------------------------------------------


def test_tag_create_update_delete_and_shuffle(corp, deliver):  # noqa: F811
    group, (a, b) = sandbox_tag_group_create(corp_id=corp.corp_id, name="来源", tags=["展会", "官网"])
    thrice(deliver, tag_event(corp, "create", group.group_id, "tag_group"))
    ours = TagGroup.objects.get(wecom_id=group.group_id)
    assert set(ours.tags.values_list("wecom_id", "name")) == {(a.tag_id, "展会"), (b.tag_id, "官网")}

    SandboxTag.objects.filter(pk=a.pk).update(name="线下展会")
    deliver(tag_event(corp, "update", a.tag_id))
    assert Tag.objects.get(wecom_id=a.tag_id).name == "线下展会"

    SandboxTag.objects.filter(pk=a.pk).update(order=5)
    SandboxTag.objects.filter(pk=b.pk).update(order=9)
    deliver(tag_event(corp, "shuffle", group.group_id, ""))
    assert list(Tag.objects.filter(group=ours).order_by("-order").values_list("wecom_id", flat=True)) == [
        b.tag_id,
        a.tag_id,
    ]

    # A tag on a customer, then the whole group is deleted in WeCom: one callback for the group.
    contact = added(corp, tags=[a.tag_id])
    deliver(contact_event(corp, "add_external_contact", contact.external_userid))
    assert Customer.objects.get().tag_ids == [Tag.objects.get(wecom_id=a.tag_id).id]
    SandboxTagGroup.objects.filter(pk=group.pk).update(deleted=True)
    SandboxTag.objects.filter(group=group).update(deleted=True)
    thrice(deliver, tag_event(corp, "delete", group.group_id, "tag_group"))

    assert inbox_done() == 5
    ours.refresh_from_db()
    assert ours.deleted and not ours.tags.filter(deleted=False).exists()
    assert not FollowTag.objects.exists() and Customer.objects.get().tag_ids == []


def test_tag_delete_of_one_tag(corp, deliver):  # noqa: F811
    gold, silver = corp.tags
    deliver(tag_event(corp, "create", corp.tag_groups[0].group_id, "tag_group"))
    SandboxTag.objects.filter(pk=gold.pk).update(deleted=True)
    deliver(tag_event(corp, "delete", gold.tag_id))
    assert Tag.objects.get(wecom_id=gold.tag_id).deleted
    assert not Tag.objects.get(wecom_id=silver.tag_id).deleted
    assert not TagGroup.objects.get().deleted


def test_tag_created_in_wecom_is_found_when_a_follow_carries_it(corp, deliver):  # noqa: F811
    """The tag's own create callback was missed: the add handler fetches the unknown tag by id."""
    group, (tag,) = sandbox_tag_group_create(corp_id=corp.corp_id, name="新组", tags=["新标签"])
    contact = added(corp, tags=[tag.tag_id])
    deliver(contact_event(corp, "add_external_contact", contact.external_userid))
    assert list(FollowTag.objects.values_list("tag__wecom_id", "tag__group__wecom_id")) == [
        (tag.tag_id, group.group_id)
    ]


# --- Personal tags (the sandbox does not emulate them; the mapping is checked on WeCom's JSON) -----


def test_personal_tags_of_externalcontact_get_are_kept_per_follow(db):
    staff_ids = {"alice": Staff.objects.create(userid="alice", name="Alice").id}
    contact = {"external_userid": "wmP", "name": "P", "type": 1, "gender": 2}

    def follow(*tags):
        return {"userid": "alice", "createtime": 1_700_000_000, "add_way": 1, "tags": list(tags)}

    personal = {"group_name": "", "tag_name": "老朋友", "type": 2}
    grouped = {"group_name": "兴趣", "tag_name": "跑步", "type": 2}
    strategy = {"group_name": "规则组", "tag_name": "S", "tag_id": "stX", "type": 3}
    contacts_apply(
        [ContactEntry.from_get(contact, follow(personal, grouped, strategy))],
        staff_ids=staff_ids,
        tags=tag_map(),
    )
    assert set(FollowPersonalTag.objects.values_list("tag__group_name", "tag__name")) == {
        ("", "老朋友"),
        ("兴趣", "跑步"),
    }

    contacts_apply([ContactEntry.from_get(contact, follow(grouped))], staff_ids=staff_ids, tags=tag_map())
    assert list(FollowPersonalTag.objects.values_list("tag__name", flat=True)) == ["跑步"]
    assert PersonalTag.objects.count() == 2  # the staff member's own tag list keeps the other one
    # Rows from batch/get_by_user carry no personal tags: they are left as they are.
    contacts_apply(
        [ContactEntry.from_batch({"external_contact": contact, "follow_info": follow()})],
        staff_ids=staff_ids,
        tags={},
    )
    assert FollowPersonalTag.objects.count() == 1
    assert staff_ids_resolve(["alice", "nobody"]) == staff_ids
