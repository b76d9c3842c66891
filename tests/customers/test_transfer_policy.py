"""Reassignment policies: which one covers a member, and who takes over each customer."""

from __future__ import annotations

from collections import Counter

import pytest
from django.utils import timezone

from customers.models import Customer, Follow, TransferItem, TransferJob, TransferPolicy
from customers.transfers.policy import (
    ResolvedPolicy,
    TakeoverAssigner,
    department_manager,
    next_takeover_for,
    next_takeovers_for,
    policy_for,
)
from scrm.org.models import Staff, StaffDepartment
from tests.factories import DepartmentFactory, FollowFactory, StaffFactory

pytestmark = pytest.mark.django_db

Strategy = TransferPolicy.Strategy


@pytest.fixture
def tree():
    """HQ (1) > East (10) > Store A (100), and HQ > West (20)."""
    hq = DepartmentFactory(wecom_id=1, name="HQ")
    east = DepartmentFactory(wecom_id=10, name="East", parent=hq)
    store = DepartmentFactory(wecom_id=100, name="Store A", parent=east, is_store=True)
    west = DepartmentFactory(wecom_id=20, name="West", parent=hq)
    return hq, east, store, west


def give_follows(staff: Staff, n: int) -> None:
    """``n`` active customers of ``staff``, written in bulk."""
    now = timezone.now()
    start = Customer.objects.count()
    customers = Customer.objects.bulk_create(
        [
            Customer(external_userid=f"wmload{staff.pk}x{start + i}", name="c", first_added_at=now)
            for i in range(n)
        ]
    )
    Follow.objects.bulk_create([Follow(customer=c, staff=staff, added_at=now) for c in customers])


def leader(staff: Staff, department) -> Staff:
    StaffDepartment.objects.update_or_create(staff=staff, department=department, defaults={"is_leader": True})
    return staff


def resolved(
    strategy: str, capacity: int = 100, successor: Staff | None = None, source=None
) -> ResolvedPolicy:
    return ResolvedPolicy(
        strategy=strategy,
        on_refusal=TransferPolicy.OnRefusal.POOL,
        capacity=capacity,
        successor_id=successor.pk if successor else None,
        source=source,
    )


def hand_out(assigner: TakeoverAssigner, n: int) -> list[int | None]:
    return [assigner.next() for _ in range(n)]


# --- which policy ---------------------------------------------------------------------------------


def test_the_members_own_department_policy_wins(tree):
    hq, east, store, _ = tree
    TransferPolicy.objects.create(strategy=Strategy.POOL)
    TransferPolicy.objects.create(department=east, strategy=Strategy.MANAGER)
    own = TransferPolicy.objects.create(department=store, strategy=Strategy.ROUND_ROBIN, capacity=50)
    staff = StaffFactory(main_department=store)
    policy = policy_for(staff)
    assert (policy.strategy, policy.capacity, policy.source) == (Strategy.ROUND_ROBIN, 50, own)


def test_the_nearest_ancestors_policy_covers_a_department_without_one(tree, settings):
    hq, east, store, _ = tree
    TransferPolicy.objects.create(department=hq, strategy=Strategy.POOL)
    nearest = TransferPolicy.objects.create(
        department=east, strategy=Strategy.LEAST_LOADED, on_refusal=TransferPolicy.OnRefusal.NEXT
    )
    staff = StaffFactory(main_department=store)
    policy = policy_for(staff)
    assert (policy.source, policy.strategy, policy.on_refusal) == (nearest, Strategy.LEAST_LOADED, "next")
    assert policy.capacity == settings.TRANSFER_TAKEOVER_CAPACITY


def test_the_corp_default_covers_the_rest(tree):
    _, east, store, west = tree
    successor = StaffFactory(main_department=west)
    default = TransferPolicy.objects.create(strategy=Strategy.SUCCESSOR, successor=successor)
    TransferPolicy.objects.create(department=east, strategy=Strategy.MANAGER)
    policy = policy_for(StaffFactory(main_department=west))
    assert (policy.source, policy.strategy, policy.successor_id) == (
        default,
        Strategy.SUCCESSOR,
        successor.pk,
    )
    assert policy_for(StaffFactory(main_department=None)).source == default


def test_without_any_policy_the_customers_go_to_the_pool(tree):
    policy = policy_for(StaffFactory(main_department=tree[2]))
    assert (policy.strategy, policy.on_refusal, policy.source) == ("pool", "pool", None)


def test_the_policy_is_found_in_one_query(tree, django_assert_num_queries):
    TransferPolicy.objects.create(department=tree[0], strategy=Strategy.POOL)
    staff = Staff.objects.select_related("main_department").get(pk=StaffFactory(main_department=tree[2]).pk)
    with django_assert_num_queries(1):
        assert policy_for(staff).source.department == tree[0]


# --- the manager ----------------------------------------------------------------------------------


def test_the_manager_is_the_main_departments_leader_else_the_nearest_ancestors(tree):
    hq, east, store, _ = tree
    staff = StaffFactory(main_department=store)
    assert department_manager(staff) is None
    top = leader(StaffFactory(main_department=hq), hq)
    assert department_manager(staff) == top
    regional = leader(StaffFactory(main_department=east), east)
    assert department_manager(staff) == regional
    store_manager = leader(StaffFactory(main_department=store), store)
    assert department_manager(staff) == store_manager
    # Not the member themself, and only an active leader with customer contact.
    assert department_manager(store_manager) == regional
    Staff.objects.filter(pk=regional.pk).update(contact_enabled=False)
    Staff.objects.filter(pk=store_manager.pk).update(status=Staff.Status.DEPARTED, departed_at=timezone.now())
    assert department_manager(staff) == top


# --- strategies -----------------------------------------------------------------------------------


def test_successor_takes_everyone_up_to_the_capacity_then_the_manager(tree):
    _, east, store, _ = tree
    handover = StaffFactory(main_department=store)
    successor = StaffFactory(main_department=store)
    give_follows(successor, 3)
    manager = leader(StaffFactory(main_department=east), east)
    assigner = TakeoverAssigner(handover=handover, policy=resolved(Strategy.SUCCESSOR, 5, successor))
    assert hand_out(assigner, 4) == [successor.pk, successor.pk, manager.pk, manager.pk]
    assert assigner.given == {successor.pk: 2, manager.pk: 2}


def test_a_departed_successor_falls_back_to_the_manager_and_without_one_to_the_pool(tree):
    _, east, store, _ = tree
    handover = StaffFactory(main_department=store)
    successor = StaffFactory(main_department=store, status=Staff.Status.DEPARTED, departed_at=timezone.now())
    assert hand_out(
        TakeoverAssigner(handover=handover, policy=resolved(Strategy.SUCCESSOR, 10, successor)), 2
    ) == [
        None,
        None,
    ]
    manager = leader(StaffFactory(main_department=east), east)
    assert hand_out(
        TakeoverAssigner(handover=handover, policy=resolved(Strategy.SUCCESSOR, 10, successor)), 2
    ) == [
        manager.pk,
        manager.pk,
    ]


def test_manager_strategy_within_capacity(tree):
    _, _, store, _ = tree
    handover = StaffFactory(main_department=store)
    manager = leader(StaffFactory(main_department=store), store)
    give_follows(manager, 1)
    assigner = TakeoverAssigner(handover=handover, policy=resolved(Strategy.MANAGER, 3))
    assert hand_out(assigner, 3) == [manager.pk, manager.pk, None]


def test_round_robin_goes_round_the_active_colleagues_of_the_main_department(tree):
    _, east, store, west = tree
    handover = StaffFactory(main_department=store)
    a, b, c = (StaffFactory(main_department=store) for _ in range(3))
    StaffFactory(main_department=store, contact_enabled=False)
    StaffFactory(main_department=store, status=Staff.Status.DEPARTED, departed_at=timezone.now())
    StaffFactory(main_department=east)  # the region is not the store
    StaffFactory(main_department=west)
    assigner = TakeoverAssigner(handover=handover, policy=resolved(Strategy.ROUND_ROBIN))
    assert hand_out(assigner, 7) == [a.pk, b.pk, c.pk, a.pk, b.pk, c.pk, a.pk]
    assert assigner.last_id == a.pk


def test_round_robin_skips_colleagues_at_capacity_and_excluded_ones(tree):
    store = tree[2]
    handover = StaffFactory(main_department=store)
    a, b, c = (StaffFactory(main_department=store) for _ in range(3))
    give_follows(b, 2)
    assigner = TakeoverAssigner(handover=handover, policy=resolved(Strategy.ROUND_ROBIN, capacity=3))
    assert hand_out(assigner, 3) == [a.pk, b.pk, c.pk]  # b is now full
    assert assigner.next(exclude=frozenset({a.pk})) == c.pk
    assert hand_out(assigner, 4) == [a.pk, c.pk, a.pk, None]  # c and a full after their 3rd
    assert assigner.given == {a.pk: 3, b.pk: 1, c.pk: 3}


def test_round_robin_continues_after_the_saved_cursor(tree):
    store = tree[2]
    policy = TransferPolicy.objects.create(department=store, strategy=Strategy.ROUND_ROBIN)
    handover = StaffFactory(main_department=store)
    a, b, c = (StaffFactory(main_department=store) for _ in range(3))
    first = TakeoverAssigner(handover=handover, policy=policy_for(handover))
    assert hand_out(first, 2) == [a.pk, b.pk]
    first.cursor_save()
    policy.refresh_from_db()
    assert policy.round_robin_last_id == b.pk
    second = TakeoverAssigner(handover=handover, policy=policy_for(handover))
    assert hand_out(second, 2) == [c.pk, a.pk]


def test_least_loaded_fills_the_lightest_first(tree):
    store = tree[2]
    handover = StaffFactory(main_department=store)
    a, b, c = (StaffFactory(main_department=store) for _ in range(3))
    give_follows(a, 5)
    give_follows(b, 2)
    # In flight to c from another job counts as load too.
    other = StaffFactory(main_department=store, status=Staff.Status.DEPARTED, departed_at=timezone.now())
    job = TransferJob.objects.create(kind=TransferJob.Kind.RESIGNED, trigger="admin", handover=other)
    for follow in [FollowFactory(staff=other) for _ in range(3)]:
        TransferItem.objects.create(job=job, customer=follow.customer, follow=follow, takeover=c)
    assigner = TakeoverAssigner(handover=handover, policy=resolved(Strategy.LEAST_LOADED, capacity=6))
    # Loads 5, 2, 3: b and c catch up with a (ties go to the lower id), then everyone in turn.
    assert hand_out(assigner, 6) == [b.pk, b.pk, c.pk, b.pk, c.pk, a.pk]
    # Capacity 6: b and c take one more each, then no one has room.
    assert hand_out(assigner, 4) == [b.pk, c.pk, None, None]
    assert assigner.given == {a.pk: 1, b.pk: 4, c.pk: 3}


def test_least_loaded_reads_the_loads_once(tree, django_assert_max_num_queries):
    store = tree[2]
    handover = StaffFactory(main_department=store)
    for _ in range(5):
        give_follows(StaffFactory(main_department=store), 2)
    assigner = TakeoverAssigner(handover=handover, policy=resolved(Strategy.LEAST_LOADED, capacity=1000))
    with django_assert_max_num_queries(3):  # colleagues, follows, in-flight items
        got = Counter(hand_out(assigner, 3000))
    assert sorted(got.values()) == [600] * 5


def test_pool_strategy_gives_no_one(tree):
    handover = StaffFactory(main_department=tree[2])
    StaffFactory(main_department=tree[2])
    assert hand_out(TakeoverAssigner(handover=handover, policy=resolved(Strategy.POOL)), 2) == [None, None]


# --- after a refusal or a full takeover -----------------------------------------------------------


def refused_item(handover, takeover, *, on_refusal, strategy=Strategy.ROUND_ROBIN, status="refused"):
    job = TransferJob.objects.create(
        kind=TransferJob.Kind.RESIGNED,
        trigger="callback",
        handover=handover,
        strategy=strategy,
        on_refusal=on_refusal,
    )
    follow = FollowFactory(staff=handover)
    reason = (
        TransferItem.Reason.CUSTOMER_REFUSED if status == "refused" else TransferItem.Reason.TAKEOVER_LIMIT
    )
    return TransferItem.objects.create(
        job=job, customer=follow.customer, follow=follow, takeover=takeover, status=status, reason=reason
    )


def test_a_refusal_goes_to_the_pool_when_the_job_says_so(tree):
    store = tree[2]
    TransferPolicy.objects.create(department=store, strategy=Strategy.ROUND_ROBIN)
    handover = StaffFactory(main_department=store, status=Staff.Status.DEPARTED, departed_at=timezone.now())
    a, _ = StaffFactory(main_department=store), StaffFactory(main_department=store)
    assert next_takeover_for(refused_item(handover, a, on_refusal="pool")) is None


def test_a_refusal_goes_to_the_next_colleague_never_one_already_refused(tree):
    store = tree[2]
    TransferPolicy.objects.create(department=store, strategy=Strategy.ROUND_ROBIN, on_refusal="next")
    handover = StaffFactory(main_department=store, status=Staff.Status.DEPARTED, departed_at=timezone.now())
    a, b, c = (StaffFactory(main_department=store) for _ in range(3))
    item = refused_item(handover, a, on_refusal="next")
    assert next_takeover_for(item) == b.pk
    # The customer refused b too (a second item of the same job): c is next, then no one.
    second = TransferItem.objects.create(
        job=item.job, customer=item.customer, follow=item.follow, takeover=b, status="refused", attempt=2
    )
    assert next_takeover_for(second) == c.pk
    third = TransferItem.objects.create(
        job=item.job, customer=item.customer, follow=item.follow, takeover=c, status="refused", attempt=3
    )
    assert next_takeover_for(third) is None


def test_a_full_takeover_goes_to_the_next_colleague_even_when_refusals_go_to_the_pool(tree):
    store = tree[2]
    TransferPolicy.objects.create(department=store, strategy=Strategy.LEAST_LOADED)
    handover = StaffFactory(main_department=store, status=Staff.Status.DEPARTED, departed_at=timezone.now())
    a, b = StaffFactory(main_department=store), StaffFactory(main_department=store)
    item = refused_item(
        handover, a, on_refusal="pool", strategy=Strategy.LEAST_LOADED, status="takeover_full"
    )
    assert next_takeover_for(item) == b.pk


def test_a_refused_successor_falls_back_to_the_manager(tree):
    _, east, store, _ = tree
    successor = StaffFactory(main_department=store)
    TransferPolicy.objects.create(strategy=Strategy.SUCCESSOR, successor=successor, on_refusal="next")
    manager = leader(StaffFactory(main_department=east), east)
    handover = StaffFactory(main_department=store, status=Staff.Status.DEPARTED, departed_at=timezone.now())
    item = refused_item(handover, successor, on_refusal="next", strategy=Strategy.SUCCESSOR)
    assert next_takeover_for(item) == manager.pk


def test_many_full_takeovers_are_spread_by_one_assigner_within_capacity(tree, django_assert_max_num_queries):
    store = tree[2]
    TransferPolicy.objects.create(department=store, strategy=Strategy.LEAST_LOADED, capacity=2)
    handover = StaffFactory(main_department=store, status=Staff.Status.DEPARTED, departed_at=timezone.now())
    full, b, c = (StaffFactory(main_department=store) for _ in range(3))
    first = refused_item(
        handover, full, on_refusal="pool", strategy=Strategy.LEAST_LOADED, status="takeover_full"
    )
    items = [first]
    for _ in range(4):
        follow = FollowFactory(staff=handover)
        items.append(
            TransferItem.objects.create(
                job=first.job, customer=follow.customer, follow=follow, takeover=full, status="takeover_full"
            )
        )
    with django_assert_max_num_queries(8):
        picks = next_takeovers_for(items)
    # b and c have room for two each; the fifth customer goes to the pool.
    assert Counter(picks.values()) == {b.pk: 2, c.pk: 2, None: 1}
    assert set(picks) == {item.pk for item in items}
