"""The demo generator: shapes, proportions, the tag index, determinism, idempotency, logins."""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from datetime import date, datetime, time, timedelta
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models import Count, Sum
from django.utils import timezone

from campaigns.models import Channel, ChannelDay
from customers.models import Customer, CustomerEvent, Follow, FollowTag, Tag, TagGroup
from customers.selectors import customer_list
from customers.services import customer_tag_ids_refresh
from groups.models import GroupChat, GroupMember
from scrm.demo.generator import DemoSize
from scrm.demo.services import (
    DEFAULT_PASSWORD,
    DemoDataExists,
    connection_kept,
    demo_seed,
    wecom_client_for_demo,
)
from scrm.org.models import Department, Operator, Role, Staff
from scrm.sandbox.models import (
    SandboxCall,
    SandboxExternalContact,
    SandboxFollow,
    SandboxGroupChat,
    SandboxMember,
)
from scrm.wecom.models import SyncRun

pytestmark = pytest.mark.django_db

BASE = date(2026, 11, 23)


def seed(customers: int = 300, seed: int = 7, **kwargs):
    return demo_seed(customers=customers, seed=seed, base_date=BASE, **kwargs)


def digest() -> str:
    """A fingerprint of the key columns of every demo table, rows named by their WeCom ids.

    Our primary keys are the sync's choice (the company arrives through the sandbox), so rows and
    references are compared by external_userid, userid, chat_id and the tags' WeCom ids.
    """
    tag_wecom = dict(Tag.objects.values_list("id", "wecom_id"))
    queries = [
        Department.objects.values_list("wecom_id", "name", "parent__wecom_id", "path", "is_store"),
        Staff.objects.values_list(
            "userid", "name", "main_department__wecom_id", "position", "status", "departed_at"
        ),
        TagGroup.objects.values_list("wecom_id", "name", "order"),
        Tag.objects.values_list("wecom_id", "group__wecom_id", "name"),
        Channel.objects.values_list("state", "name"),
        Customer.objects.values_list(
            "external_userid",
            "name",
            "gender",
            "unionid",
            "first_added_at",
            "lifecycle_stage",
            "custom_fields",
            "updated_at",
        ),
        Follow.objects.values_list(
            "customer__external_userid",
            "staff__userid",
            "added_at",
            "add_way",
            "state",
            "status",
            "status_changed_at",
            "remark",
        ),
        FollowTag.objects.values_list(
            "follow__customer__external_userid", "follow__staff__userid", "tag__wecom_id"
        ),
        GroupChat.objects.values_list(
            "chat_id", "name", "owner__userid", "member_count", "status", "store__wecom_id"
        ),
        GroupMember.objects.values_list("group__chat_id", "member_id", "joined_at", "left_at", "join_scene"),
        CustomerEvent.objects.values_list(
            "customer__external_userid", "type", "occurred_at", "staff__userid", "payload"
        ),
    ]
    h = hashlib.sha256()
    for query in queries:
        for row in sorted(repr(row) for row in query):
            h.update(row.encode())
    for external_userid, tag_ids in sorted(Customer.objects.values_list("external_userid", "tag_ids")):
        h.update(repr((external_userid, sorted(tag_wecom[t] for t in tag_ids))).encode())
    return h.hexdigest()


def test_builds_a_small_realistic_company():
    result = seed()
    size = DemoSize.for_customers(300)
    assert result.counts["customers.Customer"] == Customer.objects.count() == 300
    assert Staff.objects.count() == size.staff == 10
    assert Department.objects.filter(is_store=True).count() == size.stores == 3
    assert GroupChat.objects.count() == size.groups == 6
    assert TagGroup.objects.count() == 30 and Tag.objects.count() == 300

    hq = Department.objects.get(parent=None)
    assert hq.path == "/1/" and hq.name == "鲜语烘焙总部"
    store = Department.objects.get(name="上海南京路店")
    assert store.path.startswith("/1/") and store.path.endswith(f"/{store.wecom_id}/") and store.is_store
    assert store.path == f"{store.parent.path}{store.wecom_id}/"
    assert {s.position for s in Staff.objects.all()} <= {"店长", "副店长", "导购", "高级导购", "会员专员"}
    assert Staff.objects.filter(position="店长").count() == 3
    assert Staff.objects.filter(status="departed", departed_at__isnull=False).exists()  # transfers are shown
    # The channel analytics hold the year already: every past day's adds through a channel.
    rolled = ChannelDay.objects.aggregate(adds=Sum("adds"))["adds"]
    assert rolled == Follow.objects.exclude(state="").count() > 0

    ids = re.compile(r"^w[mo][A-Za-z0-9]{30}$")
    assert all(ids.match(e) for e in Customer.objects.values_list("external_userid", flat=True))
    assert (
        Customer.objects.filter(type=Customer.Type.WECOM).exclude(external_userid__startswith="wo").count()
        == 0
    )
    assert Customer.objects.exclude(unionid="").exists()
    assert all(
        re.match(r"^wr[A-Za-z0-9]{30}$", c) for c in GroupChat.objects.values_list("chat_id", flat=True)
    )
    assert all(t.startswith("et") for t in Tag.objects.values_list("wecom_id", flat=True))
    assert Tag.objects.filter(group__name="会员等级", name="钻石会员").exists()
    assert any(re.search(r"[\u4e00-\u9fff]", n) for n in Customer.objects.values_list("name", flat=True))

    # Channels: follows carry states that name real channels, such as the Nanjing Road poster.
    assert Channel.objects.filter(state="poster_nanjinglu", name="上海南京路店门店海报").exists()
    states = set(Follow.objects.exclude(state="").values_list("state", flat=True))
    assert states and states <= set(Channel.objects.values_list("state", flat=True))
    assert Follow.objects.values("add_way").distinct().count() >= 5

    # Ended follows say when; everything happened in the year before the base date.
    assert (
        not Follow.objects.exclude(status=Follow.Status.ACTIVE)
        .filter(status_changed_at__isnull=True)
        .exists()
    )
    assert Follow.objects.filter(status=Follow.Status.DELETED_BY_CUSTOMER).exists()
    start = timezone.make_aware(datetime.combine(BASE - timedelta(days=366), time.min))
    end = timezone.make_aware(datetime.combine(BASE, time.min))
    assert not CustomerEvent.objects.exclude(occurred_at__gte=start, occurred_at__lt=end).exists()
    assert not Follow.objects.exclude(added_at__gte=start, added_at__lt=end).exists()
    kinds = set(CustomerEvent.objects.values_list("type", flat=True))
    assert {"added", "joined_group", "order", "message_received", "deleted_by_customer"} <= kinds

    # Groups: every kind, bound to stores, with staff and customer members.
    assert GroupChat.objects.filter(store__is_store=True).count() == 6
    assert GroupMember.objects.filter(kind=GroupMember.Kind.STAFF).exists()
    for group in GroupChat.objects.all():
        current = group.members.filter(left_at__isnull=True).count()
        assert group.member_count == current
    assert set(Customer.objects.values_list("lifecycle_stage", flat=True)) >= {"churned", "retained"}


def test_customer_tag_ids_are_the_tags_of_active_follows():
    seed()
    expected: dict[int, set[int]] = defaultdict(set)
    for customer_id, tag_id in FollowTag.objects.filter(follow__status=Follow.Status.ACTIVE).values_list(
        "follow__customer_id", "tag_id"
    ):
        expected[customer_id].add(tag_id)
    stored = dict(Customer.objects.values_list("id", "tag_ids"))
    assert stored == {cid: sorted(expected.get(cid, ())) for cid in stored}
    # The service that maintains the index agrees with what the generator computed.
    customer_tag_ids_refresh(list(stored))
    assert dict(Customer.objects.values_list("id", "tag_ids")) == stored
    # And some customers have tags only on follows that ended, which the index leaves out.
    assert any(
        FollowTag.objects.filter(follow__customer_id=cid).exists() and not tags
        for cid, tags in stored.items()
    )


def test_same_seed_same_rows_and_another_seed_other_rows():
    seed(seed=7)
    first = digest()
    seed(seed=7, reset=True)
    assert digest() == first
    seed(seed=8, reset=True)
    assert digest() != first


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the child process only runs on PostgreSQL")
def test_generating_in_a_child_process_gives_the_same_rows():
    seed(customers=400)
    in_process = digest()
    result = seed(customers=400, reset=True, child_process=True)
    assert digest() == in_process
    assert result.counts["customers.Customer"] == 400


def test_second_run_adds_nothing():
    seed()
    before = {m: m.objects.count() for m in (Customer, Follow, Staff, Department, GroupChat, CustomerEvent)}
    with pytest.raises(DemoDataExists):
        seed()
    out = StringIO()
    call_command("seed_demo", "--customers", "50", stdout=out)
    assert "Nothing to do" in out.getvalue()
    assert {m: m.objects.count() for m in before} == before


def test_refuses_to_mix_with_an_existing_organisation():
    Department.objects.create(wecom_id=1, name="Existing HQ", path="/1/")
    with pytest.raises(CommandError, match="--reset"):
        call_command("seed_demo", "--customers", "50", stdout=StringIO())
    assert not Customer.objects.exists()


def test_command_prints_a_summary_and_reset_rebuilds():
    out = StringIO()
    call_command("seed_demo", "--customers", "120", "--seed", "3", "--base-date", "2026-11-23", stdout=out)
    text = out.getvalue()
    assert "Demo company built in" in text and "120 customers" in text and "marketing" in text
    call_command("seed_demo", "--customers", "80", "--reset", "--base-date", "2026-11-23", stdout=StringIO())
    assert Customer.objects.count() == 80


def test_demo_logins_have_their_roles(monkeypatch):
    monkeypatch.delenv("DEMO_ADMIN_PASSWORD", raising=False)
    result = seed()
    User = get_user_model()
    marketing, manager, guide = (
        User.objects.get(username=n) for n in ("marketing", "store_manager", "guide")
    )
    for user in (marketing, manager, guide):
        assert user.check_password(DEFAULT_PASSWORD) and user.is_staff and not user.is_superuser
    assert Operator.objects.get(user=marketing).role == Role.MARKETING_MANAGER
    operator = Operator.objects.get(user=manager)
    assert operator.role == Role.STORE_MANAGER
    assert [d.name for d in operator.departments.all()] == ["上海区域"]
    assert Operator.objects.get(user=guide).role == Role.GUIDE
    staff = Staff.objects.get(user=guide)
    assert staff.id == result.facts.guide_staff_id and staff.status == "active"
    assert staff.main_department.name == "上海南京路店"

    # Their scopes: everything, the Shanghai region's customers, the guide's own.
    everyone = Customer.objects.count()
    assert customer_list(user=marketing).count() == everyone
    shanghai = customer_list(user=manager).count()
    own = customer_list(user=guide).count()
    assert 0 < own < shanghai < everyone
    assert own == Follow.objects.filter(staff=staff, status=Follow.Status.ACTIVE).values("customer").count()


def test_demo_password_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("DEMO_ADMIN_PASSWORD", "another-secret-42")
    seed(customers=40)
    assert get_user_model().objects.get(username="guide").check_password("another-secret-42")


def test_proportions_follow_the_large_data_set():
    """At 4,000 customers the ratios are those of the million-customer set (QUALITY.md)."""
    result = seed(customers=4000, seed=11)
    n = result.counts
    customers = n["customers.Customer"]
    assert 1.15 <= n["customers.Follow"] / customers <= 1.4  # ~1.3M follows for 1M customers
    assert 2.7 <= n["customers.FollowTag"] / n["customers.Follow"] <= 3.6  # ~4M assignments
    assert 1.7 <= n["groups.GroupMember"] / customers <= 2.3  # ~2M memberships
    assert n["groups.GroupChat"] == customers // 50  # 20,000 groups
    assert 3 <= n["customers.CustomerEvent"] / customers <= 6  # a few million events
    several = Follow.objects.values("customer").annotate(n=Count("id")).filter(n__gt=1).count()
    assert 0.1 <= several / customers <= 0.35  # some customers follow several staff
    large = DemoSize.for_customers(1_000_000)
    assert (large.regions, large.stores, large.staff, large.groups) == (20, 200, 2000, 20_000)


def test_the_company_arrives_through_the_sandbox_and_the_sync():
    """WeCom's half is in the sandbox; our tables got it from a full sync over the real client."""
    seed(customers=400)
    corp_id = settings.WECOM_CORP_ID
    run = SyncRun.objects.get()
    assert (run.mode, run.trigger, run.status) == ("full", "demo", "done")
    assert SandboxCall.objects.filter(path="externalcontact/batch/get_by_user", errcode=0).exists()
    assert SandboxCall.objects.filter(path="externalcontact/groupchat/get", errcode=0).exists()

    # Every friendship WeCom holds is an active follow of ours, with the same corp tags, and back.
    tag_wecom = dict(Tag.objects.values_list("id", "wecom_id"))
    ours = {
        (f.customer.external_userid, f.staff.userid): sorted(tag_wecom[t.tag_id] for t in f.tag_links.all())
        for f in Follow.objects.filter(status=Follow.Status.ACTIVE)
        .select_related("customer", "staff")
        .prefetch_related("tag_links")
    }
    theirs = {
        (f.contact.external_userid, f.member.userid): sorted(f.tag_ids)
        for f in SandboxFollow.objects.filter(member__corp_id=corp_id).select_related("contact", "member")
    }
    assert ours == theirs and len(ours) > 400
    # History WeCom no longer shows was added by WeCom ids: ended follows, staff who left, groups
    # that were dismissed; and only we know which departments are stores.
    assert Follow.objects.exclude(status=Follow.Status.ACTIVE).exists()
    departed = set(Staff.objects.filter(status="departed").values_list("userid", flat=True))
    assert departed and not SandboxMember.objects.filter(corp_id=corp_id, userid__in=departed).exists()
    assert set(GroupChat.objects.exclude(status="dismissed").values_list("chat_id", flat=True)) == set(
        SandboxGroupChat.objects.filter(corp_id=corp_id).values_list("chat_id", flat=True)
    )
    assert Department.objects.filter(is_store=True).count() == DemoSize.for_customers(400).stores
    # Customers nobody follows any more are ours only.
    assert Customer.objects.count() == 400
    assert SandboxExternalContact.objects.filter(corp_id=corp_id).count() < 400


class DemoClient:
    """The demo's in-process client, keeping the test's database connection open between calls."""

    def __init__(self):
        self.kept = connection_kept()
        self.kept.__enter__()
        self.client = wecom_client_for_demo()

    def __getattr__(self, name):
        return getattr(self.client, name)

    def close(self):
        self.client.close()
        self.kept.__exit__(None, None, None)


def test_batch_get_by_user_pages_by_keyset_through_the_client():
    """Pages of the sandbox's batch/get_by_user, read through the real client, list every pair once."""
    seed(customers=400)
    client = DemoClient()
    try:
        userids = client.get_follow_user_list()
        seen: list[tuple[str, str]] = []
        cursor = ""
        pages = 0
        while True:
            page = client.batch_get_by_user(userids, cursor=cursor, limit=7)  # boundaries inside members
            pages += 1
            seen += [
                (item["follow_info"]["userid"], item["external_contact"]["external_userid"])
                for item in page["external_contact_list"]
            ]
            assert all("tag_id" in item["follow_info"] for item in page["external_contact_list"])
            cursor = page["next_cursor"]
            if not cursor:
                break
    finally:
        client.close()
    expected = set(
        SandboxFollow.objects.filter(member__corp_id=settings.WECOM_CORP_ID).values_list(
            "member__userid", "contact__external_userid"
        )
    )
    assert len(seen) == len(set(seen)) == len(expected) and set(seen) == expected
    assert pages == -(-len(expected) // 7)
