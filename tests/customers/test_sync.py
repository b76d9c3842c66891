"""The "customers" sync step against the sandbox over HTTP.

The sandbox is WeCom's side: tests change it with the sandbox's own services (as a member, a
customer or an admin would in WeCom) and check that a sync run brings our tables to match it.
"""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from customers.models import Customer, CustomerEvent, Follow, FollowTag, Tag, TagGroup
from customers.sync import customers_sync
from customers.wecom import tag_ids_ensure, tag_map
from scrm.org.models import Staff
from scrm.sandbox.models import (
    SandboxCall,
    SandboxExternalContact,
    SandboxFollow,
    SandboxMember,
    SandboxTag,
    SandboxTagGroup,
)
from scrm.sandbox.services import (
    sandbox_contacts_add,
    sandbox_corp_create,
    sandbox_faults_set,
    sandbox_tag_group_create,
)
from scrm.wecom.sync import SyncContext, sync_steps
from tests.wecom.test_client import CORP, SECRET, base_url, make_client  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)


def build_corp(*, members=3, contacts=3, tagged=True):
    corp = sandbox_corp_create(corp_id=CORP, contact_secret=SECRET, members=members, contacts_per_member=0)
    gold, silver = corp.tags
    for i, member in enumerate(corp.members):
        tags = [gold.tag_id] if tagged and i % 2 == 0 else [gold.tag_id, silver.tag_id] if tagged else []
        corp.contacts += sandbox_contacts_add(
            member=member, count=contacts, createtime=1_700_000_000 + i, tag_ids=tags
        )
    return corp


def staff_from_sandbox():
    """What the org step (which runs before ours) leaves: one Staff row per member."""
    Staff.objects.bulk_create(
        Staff(userid=userid, name=name)
        for userid, name in SandboxMember.objects.values_list("userid", "name")
    )


def run(client, mode="full"):
    ctx = SyncContext(client=client, mode=mode, retry_delay=0.01)
    customers_sync(ctx)
    return ctx.counts["customers"]


def sandbox_pairs():
    return {
        (ext, userid): (remark, state, add_way, createtime, sorted(tag_ids))
        for ext, userid, remark, state, add_way, createtime, tag_ids in SandboxFollow.objects.values_list(
            "contact__external_userid",
            "member__userid",
            "remark",
            "state",
            "add_way",
            "createtime",
            "tag_ids",
        )
    }


def our_pairs():
    links: dict[int, list[str]] = {}
    for follow_id, wecom_id in FollowTag.objects.values_list("follow_id", "tag__wecom_id"):
        links.setdefault(follow_id, []).append(wecom_id)
    return {
        (f.customer.external_userid, f.staff.userid): (
            f.remark,
            f.state,
            f.add_way,
            int(f.added_at.timestamp()),
            sorted(links.get(f.id, [])),
        )
        for f in Follow.objects.filter(status=Follow.Status.ACTIVE).select_related("customer", "staff")
    }


def snapshot():
    """Everything the step writes, with updated_at: equal snapshots mean nothing was written."""
    return (
        list(
            Customer.objects.order_by("id").values_list(
                "id", "external_userid", "name", "tag_ids", "updated_at"
            )
        ),
        list(Follow.objects.order_by("id").values_list("id", "status", "remark", "updated_at")),
        sorted(FollowTag.objects.values_list("id", "follow_id", "tag_id")),
        list(Tag.objects.order_by("id").values_list("id", "name", "order", "deleted", "updated_at")),
        list(TagGroup.objects.order_by("id").values_list("id", "name", "deleted", "updated_at")),
        CustomerEvent.objects.count(),
    )


def test_the_step_is_registered_after_org():
    step = next(s for s in sync_steps() if s.name == "customers")
    assert step.run is customers_sync and step.order == 200


def test_full_sync_matches_the_sandbox(make_client):  # noqa: F811
    corp = build_corp()
    # One customer followed by two members, with different tags on each follow.
    shared = corp.contacts[0]
    SandboxFollow.objects.create(
        member=corp.members[1], contact=shared, createtime=1_600_000_000, add_way=202, state="", tag_ids=[]
    )
    staff_from_sandbox()
    counts = run(make_client())

    assert set(Customer.objects.values_list("external_userid", flat=True)) == {
        c.external_userid for c in corp.contacts
    }
    assert our_pairs() == sandbox_pairs()
    assert set(TagGroup.objects.values_list("wecom_id", "name")) == {
        (g.group_id, g.name) for g in corp.tag_groups
    }
    assert set(Tag.objects.values_list("wecom_id", "name")) == {(t.tag_id, t.name) for t in corp.tags}
    customer = Customer.objects.get(external_userid=shared.external_userid)
    assert (
        customer.name == shared.name
        and customer.unionid == shared.unionid
        and customer.gender == shared.gender
    )
    # The earliest follow dates the customer; the index holds the tags of all its active follows.
    assert int(customer.first_added_at.timestamp()) == 1_600_000_000
    assert customer.tag_ids == sorted(
        Tag.objects.filter(wecom_id=corp.tags[0].tag_id).values_list("id", flat=True)
    )
    both = Customer.objects.get(external_userid=corp.contacts[3].external_userid)  # member 2: gold + silver
    assert both.tag_ids == sorted(Tag.objects.values_list("id", flat=True))
    # One "added" event per follow the sync created, dated when the pair was added.
    assert CustomerEvent.objects.filter(type="added", source="sync").count() == Follow.objects.count() == 10
    event = CustomerEvent.objects.get(customer=customer, staff__userid="user2")
    assert event.payload == {"userid": "user2", "state": "", "add_way": 202}
    assert counts["customers_created"] == 9 and counts["follows_created"] == 10


def test_a_second_run_changes_nothing(make_client):  # noqa: F811
    build_corp()
    staff_from_sandbox()
    client = make_client()
    run(client)
    before = snapshot()
    counts = run(client)
    assert snapshot() == before
    assert counts["customers_created"] == counts["customers_updated"] == 0
    assert counts["follows_created"] == counts["follows_updated"] == counts["follows_closed"] == 0
    assert counts["events"] == 0


def test_changes_in_wecom_are_picked_up(make_client):  # noqa: F811
    corp = build_corp(members=2, contacts=2)
    staff_from_sandbox()
    client = make_client()
    run(client)
    gold, silver = corp.tags
    follow = SandboxFollow.objects.get(contact=corp.contacts[0])
    follow.remark, follow.tag_ids = "VIP", [silver.tag_id]
    follow.save()
    SandboxExternalContact.objects.filter(pk=corp.contacts[1].pk).update(name="Renamed")
    SandboxTag.objects.filter(pk=silver.pk).update(name="铂金卡", order=9)

    counts = run(client)

    assert our_pairs() == sandbox_pairs()
    assert Customer.objects.get(external_userid=corp.contacts[1].external_userid).name == "Renamed"
    assert Tag.objects.get(wecom_id=silver.tag_id).name == "铂金卡"
    customer = Customer.objects.get(external_userid=corp.contacts[0].external_userid)
    assert customer.tag_ids == [Tag.objects.get(wecom_id=silver.tag_id).id]
    # The missed "edit" callback is healed with tag events from the sync.
    assert set(
        CustomerEvent.objects.filter(customer=customer, source="sync").values_list("type", flat=True)
    ) == {
        "added",
        "tagged",
        "untagged",
    }
    assert counts["customers_updated"] == 1 and counts["follows_updated"] == 1


def test_tags_deleted_in_wecom_are_deleted_and_leave_the_customers(make_client):  # noqa: F811
    corp = build_corp(members=1, contacts=2)
    staff_from_sandbox()
    client = make_client()
    run(client)
    gold = corp.tags[0]
    SandboxTag.objects.filter(pk=gold.pk).update(deleted=True)
    SandboxFollow.objects.update(tag_ids=[])
    new_group, _ = sandbox_tag_group_create(corp_id=CORP, name="来源", tags=["展会"])

    run(client)

    assert Tag.objects.get(wecom_id=gold.tag_id).deleted
    assert not FollowTag.objects.exists()
    assert all(tag_ids == [] for tag_ids in Customer.objects.values_list("tag_ids", flat=True))
    assert TagGroup.objects.get(wecom_id=new_group.group_id).tags.get().name == "展会"


def test_a_name_freed_in_wecom_can_be_taken_in_the_same_run(make_client):  # noqa: F811
    corp = build_corp(members=1, contacts=1, tagged=False)
    other, _ = sandbox_tag_group_create(corp_id=CORP, name="来源", tags=["展会"])
    staff_from_sandbox()
    client = make_client()
    run(client)
    gold, silver = corp.tags
    # In WeCom: gold deleted and silver renamed to its name; the other group deleted and the
    # first group renamed to its name.
    SandboxTag.objects.filter(pk=gold.pk).update(deleted=True)
    SandboxTag.objects.filter(pk=silver.pk).update(name="金卡")
    SandboxTagGroup.objects.filter(pk=other.pk).update(deleted=True)
    SandboxTag.objects.filter(group=other).update(deleted=True)
    SandboxTagGroup.objects.filter(pk=corp.tag_groups[0].pk).update(name="来源")

    counts = run(client)

    assert list(TagGroup.objects.filter(deleted=False).values_list("wecom_id", "name")) == [
        (corp.tag_groups[0].group_id, "来源")
    ]
    assert list(Tag.objects.filter(deleted=False).values_list("wecom_id", "name")) == [
        (silver.tag_id, "金卡")
    ]
    assert counts["tags_deleted"] == 2


def test_pages_over_more_than_100_customers_and_100_staff(make_client):  # noqa: F811
    sandbox_corp_create(corp_id=CORP, contact_secret=SECRET, members=101, contacts_per_member=2)
    staff_from_sandbox()

    run(make_client())

    assert Customer.objects.count() == 202 and Follow.objects.count() == 202
    assert our_pairs() == sandbox_pairs()
    batches = [
        len(body["userid_list"])
        for body in SandboxCall.objects.filter(path__endswith="get_by_user").values_list("body", flat=True)
    ]
    # 100 members: 200 follows in two pages of 100; then the 101st member: one page.
    assert batches == [100, 100, 1]
    assert {
        b["limit"]
        for b in SandboxCall.objects.filter(path__endswith="get_by_user").values_list("body", flat=True)
    } == {100}


def test_full_sync_ends_follows_gone_from_wecom_and_reopens_them(make_client):  # noqa: F811
    corp = build_corp(members=2, contacts=2)
    staff_from_sandbox()
    client = make_client()
    run(client)
    gone = SandboxFollow.objects.get(contact=corp.contacts[0])
    kept = {f.pk: (f.member_id, f.contact_id, f.createtime) for f in [gone]}
    gone.delete()

    counts = run(client)

    follow = Follow.objects.get(customer__external_userid=corp.contacts[0].external_userid)
    assert follow.status == Follow.Status.GONE and follow.status_changed_at is not None
    assert counts["follows_closed"] == 1
    event = CustomerEvent.objects.get(type="follow_gone")
    assert (
        event.source == "sync"
        and event.customer_id == follow.customer_id
        and event.staff_id == follow.staff_id
    )
    assert follow.customer.tag_ids == []  # no active follow carries a tag any more
    assert run(client)["follows_closed"] == 0
    assert CustomerEvent.objects.filter(type="follow_gone").count() == 1

    # The customer adds the member again: the sync reopens the follow, a new relationship.
    member_id, contact_id, _createtime = kept.popitem()[1]
    SandboxFollow.objects.create(
        member_id=member_id, contact_id=contact_id, createtime=1_800_000_000, add_way=1
    )
    run(client)
    follow.refresh_from_db()
    assert follow.status == Follow.Status.ACTIVE and int(follow.added_at.timestamp()) == 1_800_000_000
    assert CustomerEvent.objects.filter(customer=follow.customer, type="added").count() == 2


def test_members_unknown_to_us_are_fetched(make_client):  # noqa: F811
    build_corp(members=2, contacts=1)
    run(make_client())  # no org step before: both members come from user/get
    assert set(Staff.objects.values_list("userid", "name")) == {("user1", "Member 1"), ("user2", "Member 2")}
    assert Follow.objects.count() == 2
    assert SandboxCall.objects.filter(path="user/get").count() == 2


def test_incremental_fetches_only_new_pairs_and_ends_gone_ones(make_client):  # noqa: F811
    corp = build_corp(members=2, contacts=3)
    staff_from_sandbox()
    client = make_client()
    run(client)
    new = sandbox_contacts_add(member=corp.members[0], count=1, tag_ids=[corp.tags[1].tag_id])[0]
    SandboxFollow.objects.filter(contact=corp.contacts[5]).delete()
    SandboxCall.objects.all().delete()

    counts = run(client, mode="incremental")

    assert our_pairs() == sandbox_pairs()
    assert counts["follows_created"] == 1 and counts["follows_closed"] == 1
    # One new customer: one externalcontact/get beats re-reading the members' pages.
    assert list(
        SandboxCall.objects.filter(path__startswith="externalcontact/").values_list("path", "params")
    ) == [
        ("externalcontact/get_corp_tag_list", {}),
        ("externalcontact/get_follow_user_list", {}),
        ("externalcontact/list", {"userid": "user1"}),
        ("externalcontact/list", {"userid": "user2"}),
        ("externalcontact/get", {"external_userid": new.external_userid}),
    ]
    assert (
        CustomerEvent.objects.filter(customer__external_userid=new.external_userid, type="added").count() == 1
    )

    before = snapshot()
    again = run(client, mode="incremental")
    assert snapshot() == before and again["follows_created"] == again["follows_closed"] == 0


def test_incremental_reads_pages_when_that_is_cheaper(make_client):  # noqa: F811
    build_corp(members=1, contacts=150)
    staff_from_sandbox()

    run(make_client(), mode="incremental")

    assert our_pairs() == sandbox_pairs() and Follow.objects.count() == 150
    assert not SandboxCall.objects.filter(path="externalcontact/get").exists()
    assert SandboxCall.objects.filter(path="externalcontact/batch/get_by_user").count() == 2


def _statements(queries):
    """Split captured SQL into bulk writes (INSERT, and SQLite's CASE-built bulk UPDATE, both cut
    into batches by SQLite's parameter limit) and everything else."""
    # With SQLite in memory the live server shares our connection: leave the sandbox's own
    # queries (WeCom's side) and transaction bookkeeping out.
    bookkeeping = ("BEGIN", "BEGIN IMMEDIATE", "COMMIT")
    ours = [q for q in queries if '"sb_' not in q["sql"] and q["sql"] not in bookkeeping]
    bulk = [q for q in ours if q["sql"].startswith("INSERT") or " = CASE WHEN " in q["sql"]]
    return len(bulk), len(ours) - len(bulk)


@pytest.mark.parametrize("contacts", [30, 600])
def test_queries_do_not_grow_with_the_data(make_client, contacts):  # noqa: F811
    build_corp(members=1, contacts=contacts)
    staff_from_sandbox()
    client = make_client()
    client.access_token()
    with CaptureQueriesContext(connection) as first:
        run(client)
    assert Follow.objects.count() == contacts
    # A second run with changes on every follow reads and writes in bulk too.
    SandboxFollow.objects.update(remark="changed", tag_ids=[])
    with CaptureQueriesContext(connection) as second:
        counts = run(client)
    assert counts["follows_updated"] == contacts
    assert not Follow.objects.exclude(remark="changed").exists()
    for captured in (first, second):
        bulk, other = _statements(captured.captured_queries)
        # Reads and single statements are a constant handful whatever the number of rows; bulk
        # writes are one per table on PostgreSQL (1,000 rows a batch), a few more on SQLite.
        assert other <= 22, other
        assert bulk <= (8 if connection.vendor == "postgresql" else 8 + 6 * contacts // 60), bulk


def test_transient_errors_are_retried(make_client):  # noqa: F811
    build_corp(members=2, contacts=2)
    staff_from_sandbox()
    sandbox_faults_set(fail_next=2, fail_errcode=-1, fail_paths=["externalcontact/batch/get_by_user"])
    run(make_client())
    assert our_pairs() == sandbox_pairs()
    assert SandboxCall.objects.filter(path="externalcontact/batch/get_by_user", errcode=-1).count() == 2


def test_tags_unknown_to_us_are_fetched_by_id(make_client):  # noqa: F811
    """A follow may carry a tag created in WeCom after our tag list was read."""
    build_corp(members=1, contacts=1, tagged=False)
    client = make_client()
    group, (tag,) = sandbox_tag_group_create(corp_id=CORP, name="新组", tags=["新标签"])
    tags = tag_map()
    tag_ids_ensure([tag.tag_id, "etGONE"], tags, fetch=lambda ids: client.get_corp_tag_list(tag_id=ids))
    assert tags[tag.tag_id] == Tag.objects.get(wecom_id=tag.tag_id, group__wecom_id=group.group_id).id
    assert "etGONE" not in tags
    assert SandboxCall.objects.get(path="externalcontact/get_corp_tag_list").body == {
        "tag_id": sorted([tag.tag_id, "etGONE"])
    }
