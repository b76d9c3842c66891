import pytest

from customers.selectors import customer_list, follow_list
from groups.selectors import group_list
from scrm.org.selectors import department_list, staff_list

pytestmark = pytest.mark.django_db


def names(qs):
    return sorted(str(o) for o in qs)


@pytest.mark.parametrize(
    ("who", "customers", "groups"),
    [
        ("admin", ["张三", "李四", "王五"], ["Store A VIPs", "Store B fans"]),
        ("marketing", ["张三", "李四", "王五"], ["Store A VIPs", "Store B fans"]),
        ("store_manager", ["张三", "李四"], ["Store A VIPs"]),
        ("guide_a", ["张三", "李四"], ["Store A VIPs"]),
        ("guide_b", ["王五"], ["Store B fans"]),
        ("nobody", [], []),
    ],
)
def test_each_role_sees_its_own_customers_and_groups(company, who, customers, groups):
    user = getattr(company.users, who)
    assert names(customer_list(user=user)) == sorted(customers)
    assert names(group_list(user=user)) == sorted(groups)


def test_store_manager_sees_the_subtree_of_their_region(company):
    user = company.users.store_manager
    assert names(department_list(user=user)) == ["East region", "Store A"]
    assert [s.userid for s in staff_list(user=user)] == ["sa"]


def test_guide_loses_a_customer_who_deleted_them(company):
    follow = company.ca2.follows.get()
    follow.status = follow.Status.DELETED_BY_CUSTOMER
    follow.status_changed_at = follow.added_at
    follow.save()
    assert names(customer_list(user=company.users.guide_a)) == ["张三"]
    # the manager still sees the lost customer: churn is their business
    assert "李四" in names(customer_list(user=company.users.store_manager))
    assert follow not in follow_list(user=company.users.guide_a)


def test_a_new_role_takes_effect_on_the_same_user_object(company):
    from scrm.org.models import Role
    from scrm.org.services import operator_assign, operator_remove

    user = company.users.guide_a
    assert names(customer_list(user=user)) == ["张三", "李四"]
    operator_assign(user=user, role=Role.MARKETING_MANAGER)
    assert len(customer_list(user=user)) == 3
    operator_remove(user=user)
    assert names(customer_list(user=user)) == []
