"""Segment rules: each rule against the company fixture, the rules other apps register (groups,
live codes), validation messages, scoping of counts and samples, and the SQL shared with filters.

    ca1 (gold, poster_1, followed by sa of Store A, in group ga)
    ca2 (no tag, followed by sa)
    cb1 (silver, poster_2, followed by sb of Store B, in group gb)
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.models import Channel, LiveCode
from customers.filters import (
    filter_added,
    filter_department,
    filter_tags_all,
    filter_tags_any,
    filter_tags_none,
)
from customers.models import Customer, Follow, LifecycleStage
from customers.segments import (
    segment_count,
    segment_customers,
    segment_rule_list,
    segment_rules_clean,
    segment_sample,
)
from groups.models import GroupChat, GroupMember
from tests.factories import CustomerFactory, FollowFactory, GroupMemberFactory, TagFactory

pytestmark = pytest.mark.django_db


def names(rules: dict) -> list[str]:
    return sorted(c.name for c in segment_customers(segment_rules_clean(rules)))


# --- rules on customers' own data -------------------------------------------------------------------


def test_no_rules_match_every_customer(company):
    assert names({}) == ["张三", "李四", "王五"]
    assert segment_count({}) == 3


def test_tags_any_all_none(company):
    gold, silver = company.gold.id, company.silver.id
    assert names({"tags_any": [gold, silver]}) == ["张三", "王五"]
    assert names({"tags_all": [gold, silver]}) == []
    assert names({"tags_all": [gold]}) == ["张三"]
    assert names({"tags_none": [gold]}) == ["李四", "王五"]
    assert names({"tags_any": [gold, silver], "tags_none": [silver]}) == ["张三"]


def test_staff_and_departments(company):
    assert names({"staff": [company.sa.id]}) == ["张三", "李四"]
    assert names({"staff": [company.sa.id, company.sb.id]}) == ["张三", "李四", "王五"]
    assert names({"departments": [company.east.id]}) == ["张三", "李四"]  # subtree: Store A
    assert names({"departments": [company.store_a.id, company.store_b.id]}) == ["张三", "李四", "王五"]
    assert names({"departments": [company.hq.id], "staff": [company.sb.id]}) == ["王五"]


def test_staff_rules_count_active_follows_only(company):
    Follow.objects.filter(customer=company.ca2).update(
        status=Follow.Status.DELETED_BY_CUSTOMER, status_changed_at=timezone.now()
    )
    assert names({"staff": [company.sa.id]}) == ["张三"]
    assert names({"departments": [company.store_a.id, company.west.id]}) == ["张三", "王五"]


def test_channels(company):
    assert names({"channels": ["poster_1"]}) == ["张三"]
    assert names({"channels": ["poster_1", "poster_2"]}) == ["张三", "王五"]
    assert names({"channels": ["nowhere"]}) == []


def test_added_dates(company):
    today = timezone.localdate()
    Customer.objects.filter(pk=company.ca2.pk).update(first_added_at=timezone.now() - timedelta(days=30))
    ago = (today - timedelta(days=10)).isoformat()
    assert names({"added_after": ago}) == ["张三", "王五"]
    assert names({"added_before": ago}) == ["李四"]
    assert names({"added_after": today.isoformat(), "added_before": today.isoformat()}) == ["张三", "王五"]


def test_gender_and_lifecycle_stage(company):
    Customer.objects.filter(pk=company.ca1.pk).update(gender=Customer.Gender.FEMALE)
    Customer.objects.filter(pk=company.cb1.pk).update(
        gender=Customer.Gender.MALE, lifecycle_stage=LifecycleStage.LOYAL
    )
    assert names({"gender": [2]}) == ["张三"]
    assert names({"gender": [1, 2]}) == ["张三", "王五"]
    assert names({"lifecycle_stages": ["loyal"]}) == ["王五"]
    assert names({"lifecycle_stages": ["new", "loyal"]}) == ["张三", "李四", "王五"]


def test_spend_and_last_order_match_no_one_until_orders_arrive(company):
    assert names({"spend_min": "0.01"}) == []
    assert names({"last_order_after": "2020-01-01"}) == []
    assert names({"spend_max": "100"}) == ["张三", "李四", "王五"]  # everyone has spent 0

    now = timezone.now()
    Customer.objects.filter(pk=company.ca1.pk).update(spend_90d=Decimal("250.00"), last_order_at=now)
    Customer.objects.filter(pk=company.cb1.pk).update(
        spend_90d=Decimal("80"), last_order_at=now - timedelta(days=40)
    )
    assert names({"spend_min": "100"}) == ["张三"]
    assert names({"spend_min": 50, "spend_max": "100"}) == ["王五"]
    week_ago = (timezone.localdate() - timedelta(days=7)).isoformat()
    assert names({"last_order_after": week_ago}) == ["张三"]
    assert names({"last_order_before": week_ago}) == ["王五"]  # no order: not before anything


# --- rules registered by groups and campaigns --------------------------------------------------------


def test_the_registry_has_the_rules_of_groups_and_campaigns(company):
    keys = [rule.key for rule in segment_rule_list()]
    assert {"groups_any", "in_any_group", "live_codes"} <= set(keys)
    Channel.objects.create(state="fair", name="Spring fair")
    channels = {rule.key: rule for rule in segment_rule_list()}["channels"]
    assert ("fair", "Spring fair (fair)") in list(channels.choices())


def test_group_membership(company):
    assert names({"groups_any": [company.ga.id]}) == ["张三"]
    assert names({"groups_any": [company.ga.id, company.gb.id]}) == ["张三", "王五"]
    assert names({"in_any_group": True}) == ["张三", "王五"]
    # Member rows without a customer (staff, unknown externals) must not empty "in no group".
    GroupMember.objects.create(
        group=company.ga, member_id="sa", kind=GroupMember.Kind.STAFF, staff=company.sa
    )
    assert names({"in_any_group": False}) == ["李四"]


def test_group_membership_ends_when_leaving_or_when_dismissed(company):
    GroupMember.objects.filter(customer=company.ca1).update(left_at=timezone.now())
    GroupChat.objects.filter(pk=company.gb.pk).update(status=GroupChat.Status.DISMISSED)
    assert names({"in_any_group": True}) == []
    assert names({"groups_any": [company.ga.id, company.gb.id]}) == []
    GroupMemberFactory(group=company.ga, customer=company.ca2)
    assert names({"in_any_group": "true"}) == ["李四"]


def test_live_codes(company):
    poster = LiveCode.objects.create(
        name="Poster", channel=Channel.objects.create(state="poster_1", name="P1")
    )
    other = LiveCode.objects.create(name="Other", channel=Channel.objects.create(state="poster_2", name="P2"))
    unused = LiveCode.objects.create(name="Unused", channel=Channel.objects.create(state="unused", name="U"))
    assert names({"live_codes": [poster.id]}) == ["张三"]
    assert names({"live_codes": [poster.id, other.id]}) == ["张三", "王五"]
    assert names({"live_codes": [unused.id]}) == []
    assert names({"live_codes": [poster.id], "tags_any": [company.silver.id]}) == []


# --- validation ------------------------------------------------------------------------------------


def errors_of(rules) -> dict:
    with pytest.raises(ValidationError) as caught:
        segment_rules_clean(rules)
    return caught.value.message_dict


def test_clean_normalizes(company):
    rules = segment_rules_clean(
        {
            "tags_any": [company.gold.id, str(company.gold.id), company.silver.id],
            "tags_none": [],
            "added_after": "2026-01-05",
            "spend_min": 12.5,
            "in_any_group": "false",
            "gender": ["2"],
            "channels": [" poster_1 ", "poster_1"],
            "staff": None,
        }
    )
    assert rules == {
        "tags_any": [company.gold.id, company.silver.id],
        "added_after": "2026-01-05",
        "spend_min": "12.50",
        "in_any_group": False,
        "gender": [2],
        "channels": ["poster_1"],
    }
    assert segment_rules_clean(None) == {}


def test_clean_names_each_bad_key(company):
    deleted = TagFactory(group=company.vip_group, name="old", deleted=True)
    errors = errors_of(
        {
            "tags_any": [999999],
            "tags_none": [deleted.id],
            "tags_all": ["x"],
            "staff": [company.sa.id, 424242],
            "departments": [-1],
            "added_after": "2026-13-01",
            "gender": [7],
            "lifecycle_stages": ["vip"],
            "spend_min": "-1",
            "spend_max": "lots",
            "groups_any": [777777],
            "in_any_group": "maybe",
            "live_codes": [888888],
            "colour": "blue",
        }
    )
    assert "999999" in errors["tags_any"][0] and "tag" in errors["tags_any"][0]
    assert str(deleted.id) in errors["tags_none"][0]
    assert "not a valid id" in errors["tags_all"][0]
    assert "424242" in errors["staff"][0]
    assert "-1" in errors["departments"][0]
    assert "2026-13-01" in errors["added_after"][0]
    assert "7" in errors["gender"][0]
    assert "vip" in errors["lifecycle_stages"][0]
    assert errors["spend_min"] and errors["spend_max"]
    assert "777777" in errors["groups_any"][0]
    assert errors["in_any_group"] == ["Expected true or false."]
    assert "888888" in errors["live_codes"][0]
    assert "colour" in errors["colour"][0]


def test_clean_rejects_contradicting_ranges_and_non_objects(company):
    errors = errors_of(
        {"added_after": "2026-02-01", "added_before": "2026-01-01", "spend_min": "9", "spend_max": "1"}
    )
    assert set(errors) == {"added_before", "spend_max"}
    assert "rules" in errors_of(["tags_any"])
    assert "tags_any" in errors_of({"tags_any": {"a": 1}})


def test_a_rule_no_app_registers_matches_no_one(company):
    assert segment_customers({"retired_rule": [1]}).count() == 0


# --- counting, sampling, scoping -----------------------------------------------------------------


def test_count_and_sample_within_a_scope(company):
    rules = segment_rules_clean({"tags_any": [company.gold.id, company.silver.id]})
    assert segment_count(rules) == 2
    assert segment_count(rules, user=company.users.guide_a) == 1
    assert segment_count(rules, user=company.users.store_manager) == 1
    assert segment_count(rules, user=company.users.nobody) == 0
    assert [c.name for c in segment_sample(rules, user=company.users.guide_b)] == ["王五"]
    extra = [CustomerFactory(name=f"c{i}") for i in range(3)]
    sample = segment_sample({}, limit=2)
    assert [c.id for c in sample] == [extra[2].id, extra[1].id]  # newest first


def test_count_is_the_sql_of_the_shared_filters(company):
    """The bench's P1 audience: the segment builds exactly the query the filters chain builds."""
    FollowFactory(customer=company.cb1, staff=company.sa)
    today = timezone.localdate()
    rules = segment_rules_clean(
        {
            "tags_any": [company.gold.id, company.silver.id],
            "tags_all": [company.silver.id],
            "tags_none": [company.gold.id],
            "departments": [company.east.id],
            "added_after": (today - timedelta(days=5)).isoformat(),
            "added_before": today.isoformat(),
        }
    )
    by_hand = filter_tags_any(Customer.objects.all(), [company.gold.id, company.silver.id])
    by_hand = filter_tags_all(by_hand, [company.silver.id])
    by_hand = filter_tags_none(by_hand, [company.gold.id])
    by_hand = filter_department(by_hand, company.east)
    by_hand = filter_added(by_hand, today - timedelta(days=5), today)
    assert str(segment_customers(rules).query) == str(by_hand.query)
    assert segment_count(rules) == by_hand.count() == 1


def test_count_costs_a_fixed_number_of_queries(company, django_assert_num_queries):
    rules = segment_rules_clean(
        {"tags_any": [company.gold.id], "departments": [company.east.id], "groups_any": [company.ga.id]}
    )
    with django_assert_num_queries(2):  # the departments' paths, then the count
        assert segment_count(rules) == 1
