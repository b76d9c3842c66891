"""QUALITY.md's P1b: P1's audience materialized into per-recipient delivery rows.

``broadcast_plan`` of a broadcast whose audience is P1's segment (three tag clauses, a department
subtree, a first-added range): one ``INSERT … SELECT`` choosing each customer's sender and
applying the contact policy. Baseline in the same run: the database's raw load rate, ``COPY …
FROM STDIN`` of the same rows into the same table (PostgreSQL; elsewhere batched INSERTs). Every
run is a transaction rolled back, so the table is as it was; a plan and a load alternate.
"""

from __future__ import annotations

import io
import time
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import Max
from django.test.utils import override_settings
from django.utils import timezone

from campaigns.models import Broadcast, BroadcastRecipient
from campaigns.services.broadcasts import broadcast_plan
from customers.models import Customer
from customers.segments import segment_rules_clean
from scrm.org.models import Department

from .measure import Figure, Target
from .scenarios import (
    SEGMENT_ALL,
    SEGMENT_ANY,
    SEGMENT_DAYS,
    SEGMENT_DEPARTMENT,
    SEGMENT_NONE,
    BenchError,
    Result,
    tag_ids,
)

#: QUALITY.md: at least half of the machine's COPY rate.
COPY_SHARE = 0.5
COLUMNS = (
    "broadcast_id",
    "customer_id",
    "group_id",
    "target",
    "sender_id",
    "batch_id",
    "status",
    "reason",
    "handed_at",
    "sent_at",
)


def p1_rules() -> dict:
    """P1's audience as segment rules (bench.scenarios.p1_audience counts the same)."""
    department = Department.objects.filter(name=SEGMENT_DEPARTMENT).first()
    if department is None:
        raise BenchError(f"The data set has no department {SEGMENT_DEPARTMENT}.")
    latest = Customer.objects.aggregate(latest=Max("first_added_at"))["latest"]
    before = timezone.localdate(latest)
    return segment_rules_clean(
        {
            "tags_any": tag_ids(SEGMENT_ANY),
            "tags_all": tag_ids(SEGMENT_ALL),
            "tags_none": tag_ids(SEGMENT_NONE),
            "departments": [department.id],
            "added_after": (before - timedelta(days=SEGMENT_DAYS)).isoformat(),
            "added_before": before.isoformat(),
        }
    )


def _plan_once(rules: dict) -> tuple[float, int, dict]:
    """``(seconds, rows, counts)`` of one plan, rolled back."""
    with transaction.atomic():
        broadcast = Broadcast.objects.create(
            name="bench P1b", text="bench", rules=rules, status=Broadcast.Status.PLANNING
        )
        started = time.perf_counter()
        broadcast_plan(broadcast_id=broadcast.pk)  # the dispatch waits for a commit that never comes
        seconds = time.perf_counter() - started
        broadcast.refresh_from_db()
        rows = BroadcastRecipient.objects.filter(broadcast=broadcast).count()
        counts = {"targeted": broadcast.targeted, "eligible": broadcast.eligible}
        transaction.set_rollback(True)
    return seconds, rows, counts


def _rows_for_load(rules: dict) -> list[tuple]:
    """The rows a plan writes, as values to load again (taken from a plan that is rolled back)."""
    with transaction.atomic():
        broadcast = Broadcast.objects.create(
            name="bench P1b", text="bench", rules=rules, status=Broadcast.Status.PLANNING
        )
        broadcast_plan(broadcast_id=broadcast.pk)
        values = list(BroadcastRecipient.objects.filter(broadcast=broadcast).values_list(*COLUMNS[1:]))
        transaction.set_rollback(True)
    return values


def _load_once(values: list[tuple]) -> float:
    """Seconds to load ``values`` into the recipient table as a new broadcast's rows, rolled back."""
    table = connection.ops.quote_name(BroadcastRecipient._meta.db_table)
    with transaction.atomic():
        broadcast = Broadcast.objects.create(name="bench P1b copy", status=Broadcast.Status.PLANNING)
        if connection.vendor == "postgresql":
            data = io.StringIO()
            for row in values:
                cells = [str(broadcast.pk)] + ["\\N" if v is None else str(v) for v in row]
                data.write("\t".join(cells) + "\n")
            data.seek(0)
            raw = connection.connection.cursor()
            started = time.perf_counter()
            raw.copy_expert(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN", data, size=1 << 20)
            seconds = time.perf_counter() - started
        else:
            marks = ", ".join(["%s"] * len(COLUMNS))
            rows = [(broadcast.pk, *row) for row in values]
            with connection.cursor() as cursor:
                started = time.perf_counter()
                cursor.executemany(f"INSERT INTO {table} ({', '.join(COLUMNS)}) VALUES ({marks})", rows)
                seconds = time.perf_counter() - started
        transaction.set_rollback(True)
    return seconds


def p1b_plan(*, runs: int, warmup: int) -> Result:
    result = Result("P1b", "P1's audience planned into per-recipient rows (broadcast_plan)")
    rules = p1_rules()
    # Quiet hours would send the plan back to the schedule: measured as if in the afternoon.
    with override_settings(OUTREACH_QUIET_HOURS=""):
        values = _rows_for_load(rules)
        if not values:
            raise BenchError("P1's audience is empty: nothing to plan.")
        plan, load = Figure("broadcast_plan (INSERT … SELECT)"), Figure("")
        counts: dict = {}
        for _ in range(warmup):
            _plan_once(rules)
            _load_once(values)
        for i in range(runs):  # interleaved, alternating order, as bench.measure.sample
            steps = ("plan", "load") if i % 2 == 0 else ("load", "plan")
            for step in steps:
                if step == "plan":
                    seconds, rows, counts = _plan_once(rules)
                    if rows != len(values):
                        raise BenchError(f"a plan wrote {rows:,} rows, another {len(values):,}")
                    plan.samples.append(seconds)
                else:
                    load.samples.append(_load_once(values))
    rows = len(values)
    how = "COPY" if connection.vendor == "postgresql" else "batched INSERT"
    load.label = f"baseline: {how} of the same {rows:,} rows"
    rate = rows / plan.median if plan.median else float("inf")
    copy_rate = rows / load.median if load.median else float("inf")
    share = rate / copy_rate if copy_rate else 0
    result.figures = [plan, load]
    result.notes = [
        f"{rows:,} recipient rows ({counts.get('eligible', 0):,} eligible, "
        f"{rows - counts.get('eligible', 0):,} left out with their reason), sender chosen in SQL",
        f"plan {rate:,.0f} rows/s; {how} {copy_rate:,.0f} rows/s: {share:.0%} of the raw load rate",
    ]
    result.targets = [
        Target(f"at least {COPY_SHARE:.0%} of the {how} rate ({share:.0%})", share >= COPY_SHARE)
    ]
    return result
