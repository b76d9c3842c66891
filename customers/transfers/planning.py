"""A departed member's customers planned into a job by the policy, and the admin's preview.

The customers planned are the member's active follows that are neither in flight in a job nor
waiting in the pool (one open pool entry per customer: a customer already there is left alone).
Planning is set-based: one read of the follows, the takeovers handed out in memory by
:class:`~.policy.TakeoverAssigner`, then items, batches, pool entries and timeline events written
in bulk: a fixed handful of queries plus one INSERT per 5,000 rows (50,000 customers plan in
a few seconds).

Other apps add to the preview through :data:`preview_extras`: callables ``(staff) -> dict`` whose
keys are fields of :class:`DeparturePreview` (``groups``) or anything else (kept in ``extras``).
The groups app, which customers may not import, registers its group count there.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Exists, OuterRef, QuerySet
from django.utils import timezone

from scrm.org.audit import audit_record
from scrm.org.models import Staff

from ..models import (
    CustomerEvent,
    Follow,
    PoolEntry,
    TransferBatch,
    TransferItem,
    TransferJob,
    TransferPolicy,
)
from ..models.transfers import IN_FLIGHT, TRANSFER_BATCH_SIZE
from ..signals import transfer_job_planned
from .policy import TakeoverAssigner, policy_for

#: A plan this large refreshes the planner's statistics of the transfer tables (PostgreSQL).
ANALYZE_AT = 5000
#: Batches per INSERT when writing a plan.
WRITE_BATCH = 1000
#: Item, pool entry and event rows per INSERT statement (see :func:`_rows_insert`).
ROWS_PER_STATEMENT = 5000
ITEM_COLUMNS = (
    "job",
    "customer",
    "follow",
    "takeover",
    "batch",
    "status",
    "reason",
    "attempt",
    "created_at",
    "updated_at",
)

#: ``(staff) -> dict`` callables that add to a :class:`DeparturePreview` (see the module doc).
preview_extras: list[Callable[[Staff], dict[str, Any]]] = []


@dataclass
class PreviewRow:
    takeover: Staff | None  # None: the pool
    customers: int


@dataclass
class DeparturePreview:
    """Who would go to whom if the member's customers were reassigned now."""

    staff: Staff
    strategy: str
    rows: list[PreviewRow] = field(default_factory=list)
    pooled: int = 0
    in_flight: int = 0  # already in a running job or the pool: left alone
    groups: int = 0
    extras: dict[str, Any] = field(default_factory=dict)

    @property
    def customers(self) -> int:
        """Customers this plan would hand over or pool."""
        return sum(row.customers for row in self.rows) + self.pooled


def _held(staff_id: int) -> tuple[Exists, Exists]:
    in_flight = TransferItem.objects.filter(follow_id=OuterRef("pk"), status__in=IN_FLIGHT)
    pooled = PoolEntry.objects.filter(customer_id=OuterRef("customer_id"), claimed_at__isnull=True)
    return Exists(in_flight), Exists(pooled)


def follows_to_plan(staff_id: int) -> QuerySet[Follow]:
    """The member's active follows not in flight in any job and whose customer is not in the pool."""
    in_flight, pooled = _held(staff_id)
    return Follow.objects.filter(staff_id=staff_id, status=Follow.Status.ACTIVE).filter(~in_flight, ~pooled)


def _assign(staff: Staff, count: int) -> tuple[TakeoverAssigner, list[int | None]]:
    """The takeover of each of ``count`` customers, in follow order: the plan and its preview
    share this, so the preview shows exactly what the plan would do."""
    assigner = TakeoverAssigner(handover=staff, policy=policy_for(staff))
    return assigner, [assigner.next() for _ in range(count)]


def departure_preview(staff: Staff) -> DeparturePreview:
    """What :func:`departure_plan` would do for ``staff`` now; writes nothing."""
    count = follows_to_plan(staff.pk).count()
    in_flight, pooled = _held(staff.pk)
    held = Follow.objects.filter(staff_id=staff.pk, status=Follow.Status.ACTIVE).filter(in_flight | pooled)
    assigner, takeovers = _assign(staff, count)
    counts = Counter(t for t in takeovers if t is not None)
    members = Staff.objects.in_bulk(list(counts))
    preview = DeparturePreview(
        staff=staff,
        strategy=assigner.policy.strategy,
        rows=[
            PreviewRow(takeover=members[staff_id], customers=n)
            for staff_id, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
        ],
        pooled=takeovers.count(None),
        in_flight=held.count(),
    )
    for extra in preview_extras:
        for key, value in (extra(staff) or {}).items():
            if key == "groups":
                setattr(preview, key, value)
            else:
                preview.extras[key] = value
    return preview


def _batches_build(job: TransferJob, takeovers: list[int | None]) -> dict[int, int]:
    """Batches of at most 100 per takeover; returns the batch id of each planned position."""
    positions: dict[int, list[int]] = {}
    for index, takeover_id in enumerate(takeovers):
        if takeover_id is not None:
            positions.setdefault(takeover_id, []).append(index)
    chunks = [
        (takeover_id, indexes[start : start + TRANSFER_BATCH_SIZE])
        for takeover_id, indexes in sorted(positions.items())
        for start in range(0, len(indexes), TRANSFER_BATCH_SIZE)
    ]
    batches = TransferBatch.objects.bulk_create(
        [TransferBatch(job=job, takeover_id=takeover_id) for takeover_id, _ in chunks], batch_size=WRITE_BATCH
    )
    return {index: batch.pk for batch, (_, indexes) in zip(batches, chunks, strict=True) for index in indexes}


def _other_work(staff: Staff) -> bool:
    """Whether another app has something of the member's to hand over (their groups), with no
    job of theirs under way (a running job plans its groups itself)."""
    running = TransferJob.objects.filter(
        handover=staff,
        kind=TransferJob.Kind.RESIGNED,
        status__in=(TransferJob.Status.PLANNED, TransferJob.Status.RUNNING, TransferJob.Status.WAITING),
    )
    if running.exists():
        return False
    return any((extra(staff) or {}).get("groups") for extra in preview_extras)


def departure_plan(*, staff_id: int, trigger: str, actor=None) -> TransferJob | None:
    """Plan a resigned job for every active follow of the departed member not already in flight
    or in the pool: items, batches of 100 per takeover, pool entries. None when nothing is left.
    Sends ``transfer_job_planned`` after commit, then starts the job when TRANSFER_AUTO_START."""
    if trigger not in TransferJob.Trigger.values:
        raise ValueError(f"unknown trigger {trigger!r}")
    with transaction.atomic():
        # The member's row is the lock: two plans for one member run one after the other, and the
        # second finds every follow in flight or pooled.
        staff = (
            Staff.objects.select_for_update(of=("self",))
            .filter(pk=staff_id, status=Staff.Status.DEPARTED)
            .select_related("main_department")
            .first()
        )
        if staff is None:
            return None
        follows = list(follows_to_plan(staff.pk).order_by("id").values_list("id", "customer_id"))
        groups_only = not follows and _other_work(staff)
        if not follows and not groups_only:
            return None
        assigner, takeovers = _assign(staff, len(follows))
        policy = assigner.policy
        distinct = sorted({t for t in takeovers if t is not None})
        # A member who leaves groups but no customers: the job exists for the groups, which go to
        # whom the policy would give the next customer.
        takeover_id = assigner.next() if groups_only else (distinct[0] if len(distinct) == 1 else None)
        assigner.cursor_save()
        now = timezone.now()
        job = TransferJob.objects.create(
            kind=TransferJob.Kind.RESIGNED,
            trigger=trigger,
            handover=staff,
            takeover_id=takeover_id,
            strategy=policy.strategy,
            on_refusal=policy.on_refusal,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
            # Nothing to hand to WeCom (every customer pooled): the job is over as it is planned.
            status=TransferJob.Status.PLANNED if distinct else TransferJob.Status.DONE,
            started_at=None if distinct else now,
            finished_at=None if distinct else now,
        )
        batch_of = _batches_build(job, takeovers)
        pool_reason = (
            TransferItem.Reason.POLICY_POOL
            if policy.strategy == TransferPolicy.Strategy.POOL
            else TransferItem.Reason.NO_TAKEOVER
        ).value  # plain values, not the choices' enum members, for the raw INSERTs
        stamp = _prepared(TransferItem, "created_at", now)
        planned = (TransferItem.Status.PLANNED.value, "", 1, stamp, stamp)  # status … updated_at
        pooled = (TransferItem.Status.POOLED.value, pool_reason, 1, stamp, stamp)
        _rows_insert(
            TransferItem,
            ITEM_COLUMNS,
            (
                (job.pk, customer_id, follow_id, takeover_id, batch_of.get(index))
                + (planned if takeover_id else pooled)
                for index, ((follow_id, customer_id), takeover_id) in enumerate(
                    zip(follows, takeovers, strict=True)
                )
            ),
        )
        if connection.vendor == "postgresql" and len(follows) >= ANALYZE_AT:
            # Thousands of fresh items and batches the planner has no statistics for yet: every
            # batch's claim, read and record would be planned as for an empty table (P7: 43 s of
            # our time for 50,000 customers without this, 11.5 s with it).
            with connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {TransferItem._meta.db_table}, {TransferBatch._meta.db_table}")
        pooled_count = takeovers.count(None)
        if pooled_count:
            _pool(job, reason=pool_reason, at=now)
        audit_record(
            "transfer_job.planned",
            target=job,
            actor=actor,
            at=now,
            details={
                "handover": staff.userid,
                "trigger": trigger,
                "strategy": policy.strategy,
                "customers": len(follows),
                "pooled": pooled_count,
                "takeovers": {str(staff_id): n for staff_id, n in Counter(takeovers).items() if staff_id},
            },
        )
        job_id = job.pk
        transaction.on_commit(lambda: _planned_announce(job_id), robust=True)
        if distinct and settings.TRANSFER_AUTO_START:
            transaction.on_commit(lambda: _start_enqueue(job_id))
    return job


def _prepared(model, name: str, value):
    """``value`` as the database takes it for ``model.name`` (a time, a JSON document)."""
    return model._meta.get_field(name).get_db_prep_save(value, connection)


def _rows_insert(model, names: tuple[str, ...], rows: Iterable[tuple]) -> None:
    """Plain ``INSERT``s of ready-made value tuples, up to ROWS_PER_STATEMENT rows a statement:
    ``bulk_create`` builds and compiles a model per row, which costs seconds at 50,000 rows.

    SQLite runs ``executemany`` in-process at no cost per row; a database server would take one
    round trip per row that way, so it gets one multi-row ``VALUES`` list per statement instead
    (within PostgreSQL's 65,535 parameters).
    """
    quote = connection.ops.quote_name
    fields = [model._meta.get_field(name) for name in names]
    head = f"INSERT INTO {quote(model._meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) VALUES "
    marks = f"({', '.join(['%s'] * len(fields))})"
    per_statement = min(ROWS_PER_STATEMENT, 65_000 // len(fields))
    rows = iter(rows)
    with connection.cursor() as cursor:
        while chunk := list(islice(rows, per_statement)):
            if connection.vendor == "sqlite":
                cursor.executemany(head + marks, chunk)
            else:
                cursor.execute(head + ", ".join([marks] * len(chunk)), [v for row in chunk for v in row])


def _pool(job: TransferJob, *, reason: str, at) -> None:
    """Pool entries and timeline events for the job's customers no one takes over."""
    entry_reason = (
        PoolEntry.Reason.POLICY if reason == TransferItem.Reason.POLICY_POOL else PoolEntry.Reason.NO_TAKEOVER
    ).value
    items = list(
        TransferItem.objects.filter(job=job, status=TransferItem.Status.POOLED).values_list(
            "pk", "customer_id", "follow_id"
        )
    )
    entered_at = _prepared(PoolEntry, "entered_at", at)
    _rows_insert(
        PoolEntry,
        ("customer", "follow", "reason", "source_item", "entered_at"),
        ((customer_id, follow_id, entry_reason, pk, entered_at) for pk, customer_id, follow_id in items),
    )
    occurred_at = _prepared(CustomerEvent, "occurred_at", at)
    payload = _prepared(CustomerEvent, "payload", {"job": job.pk, "reason": reason})
    _rows_insert(
        CustomerEvent,
        ("customer", "type", "occurred_at", "staff", "payload", "source", "created_at"),
        (
            (
                customer_id,
                CustomerEvent.Type.POOLED.value,
                occurred_at,
                job.handover_id,
                payload,
                CustomerEvent.Source.SYSTEM.value,
                occurred_at,
            )
            for _, customer_id, _ in items
        ),
    )


def _planned_announce(job_id: int) -> None:
    job = TransferJob.objects.filter(pk=job_id).select_related("handover").first()
    if job is not None:
        transfer_job_planned.send(sender=TransferJob, job=job)


def _start_enqueue(job_id: int) -> None:
    from ..tasks import transfer_job_start_task

    transfer_job_start_task.delay(job_id=job_id)
