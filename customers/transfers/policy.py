"""Which policy covers a member, and who takes over each of their customers.

A department's policy covers its subtree unless a department below has its own; the corp default
(no department) covers the rest; with nothing configured the customers go to the pool.

Colleagues (round-robin, least-loaded) are the active members with customer contact whose main
department is the handover's: a store's guides share among themselves, and a department without
stores shares within itself (docs/decisions.md). A colleague's load is their active follows, what
is in flight to them in any job, and what this assigner has given them; at the capacity they get
no more. Loads are read once per assigner with two aggregate queries, so handing out 50,000
customers costs the same few queries as handing out one.
"""

from __future__ import annotations

import heapq
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db.models import Count, Q

from scrm.org.models import Staff, StaffDepartment

from ..models import Follow, TransferItem, TransferJob, TransferPolicy
from ..models.transfers import IN_FLIGHT

Strategy = TransferPolicy.Strategy


@dataclass(frozen=True)
class ResolvedPolicy:
    """The policy in force for one member: their department's own, the nearest ancestor's, or the
    corp default; ``source`` is the row it came from (None: nothing configured, the pool)."""

    strategy: str
    on_refusal: str
    capacity: int
    successor_id: int | None = None
    source: TransferPolicy | None = None


def _lineage(staff: Staff) -> list[int]:
    """WeCom ids of the member's main department and its ancestors, nearest first."""
    if not staff.main_department_id:
        return []
    department = staff.main_department
    ids = [int(part) for part in (department.path or "").strip("/").split("/") if part.isdigit()]
    if not ids or ids[-1] != department.wecom_id:
        ids.append(department.wecom_id)
    return ids[::-1]


def policy_for(staff: Staff) -> ResolvedPolicy:
    """The policy covering ``staff``: one query reads the policies of their main department, its
    ancestors and the corp default, and the nearest wins."""
    lineage = _lineage(staff)
    rank = {wecom_id: depth for depth, wecom_id in enumerate(lineage)}
    rows = TransferPolicy.objects.filter(
        Q(department__isnull=True) | Q(department__wecom_id__in=lineage)
    ).select_related("department")
    source = min(
        rows,
        key=lambda p: rank.get(p.department.wecom_id, len(lineage)) if p.department_id else len(lineage),
        default=None,
    )
    if source is None:
        return ResolvedPolicy(
            strategy=Strategy.POOL,
            on_refusal=TransferPolicy.OnRefusal.POOL,
            capacity=settings.TRANSFER_TAKEOVER_CAPACITY,
        )
    return ResolvedPolicy(
        strategy=source.strategy,
        on_refusal=source.on_refusal,
        capacity=source.capacity or settings.TRANSFER_TAKEOVER_CAPACITY,
        successor_id=source.successor_id,
        source=source,
    )


def department_manager(staff: Staff) -> Staff | None:
    """The leader of the member's main department, else of the nearest ancestor with one
    (active, with customer contact, not the member themself)."""
    lineage = _lineage(staff)
    if not lineage:
        return None
    rank = {wecom_id: depth for depth, wecom_id in enumerate(lineage)}
    leaders = (
        StaffDepartment.objects.filter(
            department__wecom_id__in=lineage,
            is_leader=True,
            staff__status=Staff.Status.ACTIVE,
            staff__contact_enabled=True,
        )
        .exclude(staff_id=staff.pk)
        .select_related("staff", "department")
    )
    nearest = min(leaders, key=lambda m: (rank[m.department.wecom_id], m.staff_id), default=None)
    return nearest.staff if nearest else None


def _loads(staff_ids: list[int]) -> dict[int, int]:
    """Active follows plus in-flight transfer items of each member: two aggregate queries."""
    loads = dict.fromkeys(staff_ids, 0)
    if not staff_ids:
        return loads
    follows = (
        Follow.objects.filter(staff_id__in=staff_ids, status=Follow.Status.ACTIVE)
        .values("staff_id")
        .annotate(n=Count("id"))
        .values_list("staff_id", "n")
    )
    in_flight = (
        TransferItem.objects.filter(takeover_id__in=staff_ids, status__in=IN_FLIGHT)
        .values("takeover_id")
        .annotate(n=Count("id"))
        .values_list("takeover_id", "n")
    )
    for staff_id, n in [*follows, *in_flight]:
        loads[staff_id] += n
    return loads


@dataclass
class TakeoverAssigner:
    """Hands out takeovers one customer at a time by the policy, within each colleague's capacity
    (their active follows plus what is already in flight to them plus what this assigner gave).

    The candidates and their loads are read on the first :meth:`next`; after that each call works
    in memory. Round-robin remembers who took the last customer (``last_id``); :meth:`cursor_save`
    writes it on the policy so the next departure continues from there.
    """

    handover: Staff
    policy: ResolvedPolicy
    given: dict[int, int] = field(default_factory=dict)
    last_id: int | None = field(default=None, init=False)
    _base: dict[int, int] | None = field(default=None, init=False, repr=False)
    # successor / manager: the members to try, in order.
    _order: list[int] = field(default_factory=list, init=False, repr=False)
    # round-robin: colleagues who still have room, and the place of the next one to try.
    _ring: list[int] = field(default_factory=list, init=False, repr=False)
    _pos: int = field(default=0, init=False, repr=False)
    # least-loaded: (load, staff id) of the colleagues who still have room.
    _heap: list[tuple[int, int]] = field(default_factory=list, init=False, repr=False)

    # --- set-up -----------------------------------------------------------------------------------

    def _colleagues(self) -> list[int]:
        if not self.handover.main_department_id:
            return []
        return list(
            Staff.objects.filter(
                main_department_id=self.handover.main_department_id,
                status=Staff.Status.ACTIVE,
                contact_enabled=True,
            )
            .exclude(pk=self.handover.pk)
            .order_by("id")
            .values_list("id", flat=True)
        )

    def _successor(self) -> list[int]:
        successor_id = self.policy.successor_id
        if not successor_id or successor_id == self.handover.pk:
            return []
        able = Staff.objects.filter(pk=successor_id, status=Staff.Status.ACTIVE, contact_enabled=True)
        return [successor_id] if able.exists() else []

    def _prepare(self) -> None:
        strategy = self.policy.strategy
        candidates: list[int] = []
        if strategy in (Strategy.SUCCESSOR, Strategy.MANAGER):
            if strategy == Strategy.SUCCESSOR:
                candidates += self._successor()
            manager = department_manager(self.handover)
            if manager is not None and manager.pk not in candidates:
                candidates.append(manager.pk)
            self._order = candidates
        elif strategy in (Strategy.ROUND_ROBIN, Strategy.LEAST_LOADED):
            candidates = self._colleagues()
        self._base = _loads(candidates)
        if strategy == Strategy.ROUND_ROBIN:
            self._ring = [s for s in candidates if self._has_room(s)]
            cursor = self.policy.source.round_robin_last_id if self.policy.source else None
            # Continue with the first colleague after the one who took the last customer.
            self._pos = next((i for i, s in enumerate(self._ring) if cursor is None or s > cursor), 0)
        elif strategy == Strategy.LEAST_LOADED:
            self._heap = [(self._load(s), s) for s in candidates if self._has_room(s)]
            heapq.heapify(self._heap)

    def _load(self, staff_id: int) -> int:
        assert self._base is not None
        return self._base[staff_id] + self.given.get(staff_id, 0)

    def _has_room(self, staff_id: int) -> bool:
        return self._load(staff_id) < self.policy.capacity

    # --- strategies -------------------------------------------------------------------------------

    def _first_in_order(self, exclude: frozenset[int]) -> int | None:
        return next((s for s in self._order if s not in exclude and self._has_room(s)), None)

    def _round_robin(self, exclude: frozenset[int]) -> int | None:
        ring = self._ring
        tried = 0
        while ring and tried < len(ring):
            index = self._pos % len(ring)
            staff_id = ring[index]
            if not self._has_room(staff_id):
                ring.pop(index)  # full for the rest of this plan: loads only grow
                self._pos = index
                continue
            self._pos = index + 1
            if staff_id in exclude:
                tried += 1
                continue
            return staff_id
        return None

    def _least_loaded(self, exclude: frozenset[int]) -> int | None:
        heap = self._heap
        aside: list[tuple[int, int]] = []
        pick = None
        while heap:
            load, staff_id = heapq.heappop(heap)
            if load >= self.policy.capacity:
                heap.clear()  # the least loaded is full: so is everyone else
                break
            if staff_id in exclude:
                aside.append((load, staff_id))
                continue
            pick = staff_id
            heapq.heappush(heap, (load + 1, staff_id))
            break
        for entry in aside:
            heapq.heappush(heap, entry)
        return pick

    def next(self, *, exclude: frozenset[int] = frozenset()) -> int | None:
        """A takeover Staff id for one more customer, or None: the pool (by policy or for want of
        room). ``exclude``: members who must not get this customer (they refused or were full)."""
        if self._base is None:
            self._prepare()
        strategy = self.policy.strategy
        if strategy in (Strategy.SUCCESSOR, Strategy.MANAGER):
            pick = self._first_in_order(exclude)
        elif strategy == Strategy.ROUND_ROBIN:
            pick = self._round_robin(exclude)
        elif strategy == Strategy.LEAST_LOADED:
            pick = self._least_loaded(exclude)
        else:
            pick = None
        if pick is not None:
            self.given[pick] = self.given.get(pick, 0) + 1
            self.last_id = pick
        return pick

    def cursor_save(self) -> None:
        """Remember on the policy who took the last customer, for round-robin's next run."""
        source = self.policy.source
        if self.policy.strategy == Strategy.ROUND_ROBIN and source is not None and self.last_id:
            TransferPolicy.objects.filter(pk=source.pk).update(round_robin_last_id=self.last_id)
            source.round_robin_last_id = self.last_id


def next_takeover_for(item: TransferItem) -> int | None:
    """Who is offered ``item``'s customer after they refused, or after its takeover was full.

    The job's policy (re-read from the handover's department, with the job's strategy and
    refusal rule) picks again, leaving out everyone this customer already refused or found full
    in this job. None: the pool — always for a refusal when the job says so, and for on-job and
    claim jobs, whose takeover was chosen by a person.
    """
    return next_takeovers_for([item])[item.pk]


def _offered_again(item: TransferItem, job: TransferJob) -> bool:
    """Whether the policy picks again for ``item``: a resigned job, and not a refusal that the
    job sends to the pool."""
    if job.kind != TransferJob.Kind.RESIGNED:
        return False
    refused = (
        item.status == TransferItem.Status.REFUSED or item.reason == TransferItem.Reason.CUSTOMER_REFUSED
    )
    return not (refused and job.on_refusal == TransferPolicy.OnRefusal.POOL)


def next_takeovers_for(items: Iterable[TransferItem]) -> dict[int, int | None]:
    """:func:`next_takeover_for` of many items (by item id) at once: one assigner per job, so
    what the first customers are given counts against the colleagues' room for the next ones, in
    a fixed number of queries per job whatever the number of items."""
    items = list(items)
    picks: dict[int, int | None] = dict.fromkeys((item.pk for item in items), None)
    jobs = TransferJob.objects.select_related("handover__main_department").in_bulk({i.job_id for i in items})
    wanted = [item for item in items if _offered_again(item, jobs[item.job_id])]
    if not wanted:
        return picks
    tried: dict[tuple[int, int], set[int]] = defaultdict(set)
    for job_id, customer_id, takeover_id in TransferItem.objects.filter(
        job_id__in={item.job_id for item in wanted},
        customer_id__in={item.customer_id for item in wanted},
        status__in=[TransferItem.Status.REFUSED, TransferItem.Status.TAKEOVER_FULL],
        takeover_id__isnull=False,
    ).values_list("job_id", "customer_id", "takeover_id"):
        tried[(job_id, customer_id)].add(takeover_id)
    by_job: dict[int, list[TransferItem]] = defaultdict(list)
    for item in wanted:
        by_job[item.job_id].append(item)
    for job_id, job_items in by_job.items():
        job = jobs[job_id]
        resolved = policy_for(job.handover)
        policy = replace(resolved, strategy=job.strategy or resolved.strategy, on_refusal=job.on_refusal)
        assigner = TakeoverAssigner(handover=job.handover, policy=policy)
        for item in job_items:
            exclude = tried[(job_id, item.customer_id)] | ({item.takeover_id} if item.takeover_id else set())
            picks[item.pk] = assigner.next(exclude=frozenset(exclude))
        assigner.cursor_save()
    return picks
