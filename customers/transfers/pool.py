"""The customer pool (公海): customers without an active owner, claimed with a daily limit.

- :func:`pool_add` / :func:`pool_add_many` put customers in the pool (a departed member's, by the
  policy, after a refusal, or when no colleague had room). A customer has at most one open entry
  (the unique constraint ``cust_pool_one_open_entry``); adding one twice is a no-op.
- :func:`pool_list` is the pool as every role sees it: it is corp-wide. A customer in the pool
  has no active owner, so no store or guide owns them, and the point of the pool is that any
  colleague may pick them up; a login without a role sees nothing.
- :func:`pool_claim` hands chosen entries to one member (the claimer, active and with customer
  contact), at most ``POOL_DAILY_CLAIM_LIMIT`` a day (Asia/Shanghai days). The claimer's Staff
  row is locked while today's claims are counted, so two claims at once cannot pass the limit.
  Each claim is a transfer job (kind ``claim``) per holder: WeCom still lists the customer under
  the member who held them (a departed member's customers until reassigned), and the dispatcher
  hands them over with the resigned API for a departed holder, the on-job one otherwise; for an
  employed holder WeCom's on-job rules (twice, 90 days) are checked first, as on-job transfers do.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, time
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from scrm.org.audit import audit_record
from scrm.org.models import Staff
from scrm.org.scoping import scope_for

from ..models import CustomerEvent, Follow, PoolEntry, TransferItem, TransferJob
from ..models.transfers import IN_FLIGHT
from .onjob import (
    ONJOB_MAX_TRANSFERS,
    ONJOB_PROTECTION,
    TransferBatchFiller,
    onjob_history,
    transfer_job_start_after_commit,
)

#: WeCom's day, over which the daily claim limit counts.
CLAIM_DAY_TZ = ZoneInfo("Asia/Shanghai")
#: Pool entries read per query when many are added at once.
ADD_CHUNK = 5_000

#: Why an entry was not claimed: code → what the claimer reads.
CLAIM_REFUSALS = {
    "not_found": gettext_lazy("not in the pool"),
    "already_claimed": gettext_lazy("already claimed"),
    "no_holder": gettext_lazy("no member holds the customer in WeCom any more"),
    "same_staff": gettext_lazy("the claimer already follows the customer"),
    "in_progress": gettext_lazy("already being transferred"),
    "max_transfers": gettext_lazy("already transferred twice (WeCom allows 2)"),
    "protected_90_days": gettext_lazy("transferred in the last 90 days (40128)"),
    "daily_claim_limit": gettext_lazy("today's claim limit is reached"),
}


# --- Adding ---------------------------------------------------------------------------------------


def pool_add(
    *, customer_id: int, follow_id: int | None, reason: str, source_item_id: int | None = None
) -> bool:
    """Put one customer in the pool; False when they already have an open entry."""
    follow_staff = _follow_staff([follow_id] if follow_id else [])
    now = timezone.now()
    try:
        with transaction.atomic():  # a savepoint: a duplicate must not spoil the caller's work
            PoolEntry.objects.create(
                customer_id=customer_id,
                follow_id=follow_id,
                reason=reason,
                source_item_id=source_item_id,
                entered_at=now,
            )
    except IntegrityError:
        return False
    CustomerEvent.objects.create(**_pooled_event(customer_id, follow_id, follow_staff, reason, now))
    return True


def pool_add_many(entries: Iterable[Sequence[int | None]], *, reason: str) -> int:
    """Put many customers in the pool: ``entries`` are ``(customer_id, follow_id)`` or
    ``(customer_id, follow_id, source_item_id)``. Customers with an open entry already (or
    named twice) are skipped; returns how many entered. Two queries and two inserts per 5,000."""
    rows: dict[int, tuple[int | None, int | None]] = {}
    for entry in entries:
        customer_id, follow_id, *rest = entry
        rows.setdefault(customer_id, (follow_id, rest[0] if rest else None))
    now = timezone.now()
    added = 0
    customer_ids = list(rows)
    for start in range(0, len(customer_ids), ADD_CHUNK):
        chunk = customer_ids[start : start + ADD_CHUNK]
        already = set(
            PoolEntry.objects.filter(customer_id__in=chunk, claimed_at__isnull=True).values_list(
                "customer_id", flat=True
            )
        )
        new = [
            PoolEntry(
                customer_id=customer_id,
                follow_id=rows[customer_id][0],
                source_item_id=rows[customer_id][1],
                reason=reason,
                entered_at=now,
            )
            for customer_id in chunk
            if customer_id not in already
        ]
        if not new:
            continue
        # A concurrent add may win a customer between the read and the insert: the constraint
        # keeps theirs, and only the rows stamped with this call's time are ours.
        PoolEntry.objects.bulk_create(new, ignore_conflicts=True, batch_size=1000)
        ours = list(
            PoolEntry.objects.filter(
                customer_id__in=[e.customer_id for e in new], claimed_at__isnull=True, entered_at=now
            ).values_list("customer_id", "follow_id")
        )
        follow_staff = _follow_staff([follow_id for _, follow_id in ours if follow_id])
        CustomerEvent.objects.bulk_create(
            [
                CustomerEvent(**_pooled_event(customer_id, follow_id, follow_staff, reason, now))
                for customer_id, follow_id in ours
            ],
            batch_size=1000,
        )
        added += len(ours)
    return added


def _follow_staff(follow_ids: list[int]) -> dict[int, int]:
    if not follow_ids:
        return {}
    return dict(Follow.objects.filter(id__in=follow_ids).values_list("id", "staff_id"))


def _pooled_event(customer_id, follow_id, follow_staff, reason, now) -> dict:
    return {
        "customer_id": customer_id,
        "type": CustomerEvent.Type.POOLED,
        "occurred_at": now,
        "staff_id": follow_staff.get(follow_id),
        "payload": {"reason": str(reason)},
        "source": CustomerEvent.Source.SYSTEM,
    }


# --- Reading --------------------------------------------------------------------------------------


def pool_list(*, user) -> QuerySet[PoolEntry]:
    """The open entries, newest first: corp-wide for every role (see the module's docstring)."""
    if scope_for(user).is_empty:
        return PoolEntry.objects.none()
    return PoolEntry.objects.filter(claimed_at__isnull=True).select_related("customer", "follow__staff")


def pool_claims_today(staff: Staff, *, now: datetime | None = None) -> int:
    """How many customers ``staff`` claimed since midnight (Asia/Shanghai)."""
    return PoolEntry.objects.filter(claimed_by=staff, claimed_at__gte=claim_day_start(now)).count()


def claim_day_start(now: datetime | None = None) -> datetime:
    local = timezone.localtime(now or timezone.now(), CLAIM_DAY_TZ)
    return datetime.combine(local.date(), time.min, tzinfo=CLAIM_DAY_TZ)


# --- Claiming -------------------------------------------------------------------------------------


@dataclass
class ClaimResult:
    """What a claim did: one job per holder, the entries claimed, and the others with why."""

    jobs: list[TransferJob] = field(default_factory=list)
    claimed: list[int] = field(default_factory=list)
    refused: list[tuple[int, str]] = field(default_factory=list)  # (entry id, CLAIM_REFUSALS code)

    @property
    def job(self) -> TransferJob | None:
        """The claim's job (the first, when the entries came from several holders)."""
        return self.jobs[0] if self.jobs else None


def pool_claim(
    *,
    staff: Staff,
    entry_ids: Iterable[int],
    actor=None,
    trigger: str = TransferJob.Trigger.ADMIN,
) -> ClaimResult:
    """Claim pool entries for ``staff``, in the order given, within today's limit.

    Raises ``ValidationError`` when the claimer cannot take customers at all; entries that cannot
    be claimed are returned in ``refused`` with a code of :data:`CLAIM_REFUSALS`.
    """
    ids = list(dict.fromkeys(entry_ids))
    _check_claimer(staff)
    result = ClaimResult()
    with transaction.atomic():
        held = PoolEntry.objects.filter(pk__in=ids, follow__isnull=False).values("follow_id")
        holders = set(Follow.objects.filter(id__in=held).values_list("staff_id", flat=True))
        # The claimer's row serializes their claims (the daily count); the holders' rows keep an
        # on-job plan of the same follow from racing this one (their plans lock the same rows).
        locked = {
            s.pk: s
            for s in Staff.objects.select_for_update().filter(pk__in={staff.pk, *holders}).order_by("pk")
        }
        staff = locked[staff.pk]
        _check_claimer(staff)
        now = timezone.now()
        room = max(0, settings.POOL_DAILY_CLAIM_LIMIT - pool_claims_today(staff, now=now))

        entries = {e.pk: e for e in PoolEntry.objects.select_for_update().filter(pk__in=ids)}
        follows = {
            f["id"]: f
            for f in Follow.objects.filter(
                id__in={e.follow_id for e in entries.values() if e.follow_id}
            ).values("id", "staff_id", "status", "customer_id")
        }
        claimer_has = set(
            Follow.objects.filter(
                staff=staff,
                status=Follow.Status.ACTIVE,
                customer_id__in={e.customer_id for e in entries.values()},
            ).values_list("customer_id", flat=True)
        )
        in_flight = set(
            TransferItem.objects.filter(follow_id__in=follows, status__in=IN_FLIGHT).values_list(
                "follow_id", flat=True
            )
        )
        # A customer an employed colleague still holds moves by the on-job API: WeCom's on-job
        # rules apply, checked on our history as on-job transfers check them.
        employed = {
            f["customer_id"]
            for f in follows.values()
            if f["staff_id"] in locked and locked[f["staff_id"]].status != Staff.Status.DEPARTED
        }
        history = onjob_history(list(employed)) if employed else {}
        protected_since = timezone.now() - ONJOB_PROTECTION

        by_holder: dict[int, list[PoolEntry]] = defaultdict(list)
        for entry_id in ids:
            entry = entries.get(entry_id)
            follow = follows.get(entry.follow_id) if entry else None
            if entry is None:
                reason = "not_found"
            elif entry.claimed_at is not None:
                reason = "already_claimed"
            elif follow is None or follow["status"] != Follow.Status.ACTIVE:
                reason = "no_holder"
            elif follow["staff_id"] == staff.pk or entry.customer_id in claimer_has:
                reason = "same_staff"
            elif follow["id"] in in_flight:
                reason = "in_progress"
            elif history.get(entry.customer_id, (0, None))[0] >= ONJOB_MAX_TRANSFERS:
                reason = TransferItem.Reason.MAX_TRANSFERS.value
            elif (history.get(entry.customer_id, (0, None))[1] or protected_since) > protected_since:
                reason = TransferItem.Reason.PROTECTED.value
            elif room == 0:
                reason = "daily_claim_limit"
            else:
                room -= 1
                by_holder[follow["staff_id"]].append(entry)
                continue
            result.refused.append((entry_id, reason))

        for holder_id, claimed in by_holder.items():
            job = _claim_job(
                staff=staff, holder=locked[holder_id], entries=claimed, actor=actor, trigger=trigger
            )
            PoolEntry.objects.filter(pk__in=[e.pk for e in claimed]).update(
                claimed_by=staff, claimed_at=now, claim_job=job
            )
            result.jobs.append(job)
            result.claimed.extend(e.pk for e in claimed)

        source = (
            CustomerEvent.Source.API if trigger == TransferJob.Trigger.API else CustomerEvent.Source.ADMIN
        )
        CustomerEvent.objects.bulk_create(
            [
                CustomerEvent(
                    customer_id=entry.customer_id,
                    type=CustomerEvent.Type.CLAIMED,
                    occurred_at=now,
                    staff=staff,
                    payload={"entry": entry.pk, "job": entry.claim_job_id, "from": holder_id},
                    source=source,
                )
                for holder_id, claimed in by_holder.items()
                for entry in claimed
            ],
            batch_size=1000,
        )
        for job in result.jobs:
            transfer_job_start_after_commit(job.pk)
    return result


def _claim_job(*, staff: Staff, holder: Staff, entries: list[PoolEntry], actor, trigger) -> TransferJob:
    job = TransferJob.objects.create(
        kind=TransferJob.Kind.CLAIM,
        trigger=trigger,
        handover=holder,
        takeover=staff,
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
    )
    items = [
        TransferItem(job=job, customer_id=e.customer_id, follow_id=e.follow_id, takeover=staff)
        for e in entries
    ]
    filler = TransferBatchFiller(job=job, takeover=staff)
    filler.place(items)
    TransferItem.objects.bulk_create(items, batch_size=1000)
    for entry in entries:
        entry.claim_job = job
    audit_record(
        "pool.claimed",
        target=job,
        actor=actor,
        details={
            "claimer": staff.userid,
            "holder": holder.userid,
            "entries": [e.pk for e in entries],
            "customers": len(entries),
            "trigger": trigger,
        },
    )
    return job


def _check_claimer(staff: Staff) -> None:
    if staff.status != Staff.Status.ACTIVE:
        raise ValidationError({"staff": _("%(name)s is not an active member.") % {"name": staff.name}})
    if not staff.contact_enabled:
        raise ValidationError(
            {"staff": _("%(name)s has no customer contact in WeCom.") % {"name": staff.name}}
        )
