"""Shared fixtures: a small company with two stores, their staff and customers, and one login per role.

    HQ (1)
    ├── East region (10)
    │   └── Store A (100)   guide_a (staff sa) follows customers ca1, ca2; owns group ga
    └── West region (20)
        └── Store B (200)   guide_b (staff sb) follows customer cb1; owns group gb

store_manager manages East region; marketing and admin see everything; nobody sees nothing.
"""

from __future__ import annotations

from types import SimpleNamespace

import pytest
from django.core.cache import cache

from customers.services import customer_tag_ids_refresh
from scrm.org.models import Role
from scrm.org.services import operator_assign
from tests.factories import (
    CustomerFactory,
    DepartmentFactory,
    FollowFactory,
    FollowTagFactory,
    GroupChatFactory,
    GroupMemberFactory,
    StaffFactory,
    TagFactory,
    TagGroupFactory,
    UserFactory,
)


@pytest.fixture(autouse=True)
def _clear_cache():
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def company(db):
    hq = DepartmentFactory(wecom_id=1, name="HQ")
    east = DepartmentFactory(wecom_id=10, name="East region", parent=hq)
    west = DepartmentFactory(wecom_id=20, name="West region", parent=hq)
    store_a = DepartmentFactory(wecom_id=100, name="Store A", parent=east, is_store=True)
    store_b = DepartmentFactory(wecom_id=200, name="Store B", parent=west, is_store=True)

    users = SimpleNamespace(
        admin=UserFactory(username="admin1", is_superuser=True),
        marketing=UserFactory(username="marketing"),
        store_manager=UserFactory(username="east_manager"),
        guide_a=UserFactory(username="guide_a"),
        guide_b=UserFactory(username="guide_b"),
        nobody=UserFactory(username="nobody"),
    )
    operator_assign(user=users.marketing, role=Role.MARKETING_MANAGER)
    operator_assign(user=users.store_manager, role=Role.STORE_MANAGER, departments=[east])
    operator_assign(user=users.guide_a, role=Role.GUIDE)
    operator_assign(user=users.guide_b, role=Role.GUIDE)

    sa = StaffFactory(userid="sa", name="Guide A", main_department=store_a, user=users.guide_a)
    sb = StaffFactory(userid="sb", name="Guide B", main_department=store_b, user=users.guide_b)

    vip_group = TagGroupFactory(name="会员等级")
    gold = TagFactory(group=vip_group, name="金卡")
    silver = TagFactory(group=vip_group, name="银卡")

    ca1 = CustomerFactory(name="张三")
    ca2 = CustomerFactory(name="李四")
    cb1 = CustomerFactory(name="王五")
    fa1 = FollowFactory(customer=ca1, staff=sa, state="poster_1")
    FollowFactory(customer=ca2, staff=sa)
    fb1 = FollowFactory(customer=cb1, staff=sb, state="poster_2")
    FollowTagFactory(follow=fa1, tag=gold)
    FollowTagFactory(follow=fb1, tag=silver)
    customer_tag_ids_refresh([ca1.id, ca2.id, cb1.id])

    ga = GroupChatFactory(name="Store A VIPs", owner=sa, store=store_a)
    gb = GroupChatFactory(name="Store B fans", owner=sb, store=store_b)
    GroupMemberFactory(group=ga, customer=ca1)
    GroupMemberFactory(group=gb, customer=cb1)

    return SimpleNamespace(
        hq=hq,
        east=east,
        west=west,
        store_a=store_a,
        store_b=store_b,
        users=users,
        sa=sa,
        sb=sb,
        gold=gold,
        silver=silver,
        vip_group=vip_group,
        ca1=ca1,
        ca2=ca2,
        cb1=cb1,
        ga=ga,
        gb=gb,
    )
