"""On-job transfers (在职继承) of chosen customers or a segment, WeCom's rules checked first.

:func:`onjob_transfer_create` plans one job from an active member (the handover) to a colleague
(the takeover). Every chosen customer becomes an item; before anything reaches WeCom each one is
checked, in this order, and the first rule that applies blocks it (status ``blocked``, with the
reason, so the admin sees who stays and why):

1. ``not_followed``: the handover has no active follow of the customer;
2. ``in_progress``: the follow already has an item in flight (planned, sending or waiting);
3. ``same_staff``: the takeover already follows the customer;
4. ``max_transfers``: WeCom allows two on-job transfers per customer, and ours show two;
5. ``protected_90_days`` (WeCom's 40128): the last on-job transfer finished less than 90 days ago.

WeCom keeps this history itself and tells nobody; ours is what we can check before calling: the
items ``done`` of on-job jobs, and of pool claims whose holder was still employed when the claim
completed (those go through the same on-job API). The rest are planned in batches of at most 100,
and the job is started after commit. Everything is set-based: a few queries per 5,000 customers
and ``bulk_create``, so 100,000 customers plan in seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from scrm.org.audit import audit_record
from scrm.org.models import Staff

from ..models import Customer, Follow, Segment, TransferBatch, TransferItem, TransferJob
from ..models.transfers import IN_FLIGHT, TRANSFER_BATCH_SIZE
from ..segments import segment_customers

#: The most customers one on-job transfer may name (a segment is counted before planning).
ONJOB_MAX_CUSTOMERS = 100_000
#: WeCom's limit on the text the customers see (``transfer_success_msg``).
ONJOB_MESSAGE_MAX = 200
#: WeCom: a customer is transferred on-job at most twice …
ONJOB_MAX_TRANSFERS = 2
#: … and not again within 90 days of the last one (errcode 40128).
ONJOB_PROTECTION = timedelta(days=90)
ERRCODE_TOO_FREQUENT = 40128

#: Customers read per round of planning queries (well under SQLite's 32,766 variables).
PLAN_CHUNK = 5_000

Reason = TransferItem.Reason
ItemStatus = TransferItem.Status


def onjob_transfer_create(
    *,
    handover: Staff,
    takeover: Staff,
    customer_ids: Iterable[int] | None = None,
    segment: Segment | None = None,
    message: str = "",
    actor=None,
    trigger: str = TransferJob.Trigger.ADMIN,
) -> TransferJob:
    """Plan an on-job transfer of the chosen customers (or a segment's) from ``handover`` to
    ``takeover``; customers WeCom would refuse are kept as blocked items with the reason.

    Raises ``ValidationError`` (keyed by argument name) for a request that cannot run at all.
    The job starts after commit when at least one customer is planned; a job of blocked
    customers only is finished at once.
    """
    message = (message or "").strip()
    ids = _validate(
        handover=handover, takeover=takeover, customer_ids=customer_ids, segment=segment, message=message
    )
    with transaction.atomic():
        # Plans from the same handover are serialized: two at once would both find a follow free
        # and the second would break the one-in-flight-per-follow constraint.
        handover = Staff.objects.select_for_update().get(pk=handover.pk)
        if handover.status == Staff.Status.DEPARTED:
            raise ValidationError({"handover": _departed_message(handover)})
        if ids is None:
            ids = segment_customer_ids(segment, limit=ONJOB_MAX_CUSTOMERS + 1)
            if len(ids) > ONJOB_MAX_CUSTOMERS:
                raise ValidationError({"segment": _too_many_message()})
            if not ids:
                raise ValidationError({"segment": _("The segment matches no customer now.")})
        job = TransferJob.objects.create(
            kind=TransferJob.Kind.ONJOB,
            trigger=trigger,
            handover=handover,
            takeover=takeover,
            segment=segment,
            transfer_message=message,
            created_by=actor if getattr(actor, "is_authenticated", False) else None,
        )
        planner = TransferBatchFiller(job=job, takeover=takeover)
        blocked: Counter[str] = Counter()
        for chunk in _chunks(ids, PLAN_CHUNK):
            items = onjob_items_check(job=job, handover=handover, takeover=takeover, customer_ids=chunk)
            planner.place([item for item in items if item.status == ItemStatus.PLANNED])
            blocked.update(item.reason for item in items if item.status == ItemStatus.BLOCKED)
            TransferItem.objects.bulk_create(items, batch_size=1000)
        if planner.planned == 0:
            TransferJob.objects.filter(pk=job.pk).update(
                status=TransferJob.Status.DONE, finished_at=timezone.now()
            )
            job.refresh_from_db()
        audit_record(
            "transfer_job.created",
            target=job,
            actor=actor,
            details={
                "kind": job.kind,
                "handover": handover.userid,
                "takeover": takeover.userid,
                "segment": segment.pk if segment else None,
                "customers": len(ids),
                "planned": planner.planned,
                "batches": planner.batches,
                "blocked": dict(blocked),
                "trigger": trigger,
            },
        )
        if planner.planned:
            transfer_job_start_after_commit(job.pk)
    return job


def onjob_items_check(
    *, job: TransferJob, handover: Staff, takeover: Staff, customer_ids: Sequence[int]
) -> list[TransferItem]:
    """Unsaved items for ``customer_ids`` (at most a few thousand): planned, or blocked with the
    first of WeCom's on-job rules that would refuse them. Three queries, whatever the count."""
    follows: dict[int, int] = {}  # customer → the handover's active follow
    takeover_has: set[int] = set()
    for customer_id, staff_id, follow_id in Follow.objects.filter(
        customer_id__in=customer_ids, staff_id__in=[handover.pk, takeover.pk], status=Follow.Status.ACTIVE
    ).values_list("customer_id", "staff_id", "id"):
        if staff_id == handover.pk:
            follows[customer_id] = follow_id
        else:
            takeover_has.add(customer_id)
    in_flight = set(
        TransferItem.objects.filter(follow_id__in=follows.values(), status__in=IN_FLIGHT).values_list(
            "follow_id", flat=True
        )
    )
    history = onjob_history(customer_ids)
    protected_since = timezone.now() - ONJOB_PROTECTION

    items = []
    for customer_id in customer_ids:
        follow_id = follows.get(customer_id)
        times, last = history.get(customer_id, (0, None))
        reason, errcode = "", None
        if follow_id is None:
            reason = Reason.NOT_FOLLOWED
        elif follow_id in in_flight:
            reason = Reason.IN_PROGRESS
        elif customer_id in takeover_has:
            reason = Reason.SAME_STAFF
        elif times >= ONJOB_MAX_TRANSFERS:
            reason, errcode = Reason.MAX_TRANSFERS, ERRCODE_TOO_FREQUENT
        elif last is not None and last > protected_since:
            reason, errcode = Reason.PROTECTED, ERRCODE_TOO_FREQUENT
        items.append(
            TransferItem(
                job=job,
                customer_id=customer_id,
                follow_id=follow_id,
                takeover=takeover,
                status=ItemStatus.BLOCKED if reason else ItemStatus.PLANNED,
                reason=reason,
                errcode=errcode,
            )
        )
    return items


def onjob_history(customer_ids: Sequence[int]) -> dict[int, tuple[int, object]]:
    """``{customer: (on-job transfers done, when the last one finished)}`` from our own records.

    On-job transfers are the items ``done`` of on-job jobs, and of claim jobs whose holder had not
    departed when the item finished (a claim from an employed holder uses the on-job API too).
    """
    departed = "job__handover__departed_at"
    holder_employed = Q(**{f"{departed}__isnull": True}) | Q(**{f"{departed}__gt": F("updated_at")})
    onjob = Q(job__kind=TransferJob.Kind.ONJOB) | (Q(job__kind=TransferJob.Kind.CLAIM) & holder_employed)
    rows = (
        TransferItem.objects.filter(onjob, customer_id__in=customer_ids, status=ItemStatus.DONE)
        .values("customer_id")
        .annotate(times=Count("id"), last=Max("updated_at"))
        .values_list("customer_id", "times", "last")
    )
    return {customer_id: (times, last) for customer_id, times, last in rows}


def segment_customer_ids(segment: Segment, *, limit: int) -> list[int]:
    """The ids of the customers a segment matches now (all of them, not a viewer's scope)."""
    return list(segment_customers(segment.rules or {}).order_by("id").values_list("id", flat=True)[:limit])


def transfer_job_start_after_commit(job_id: int) -> None:
    """Hand the job to the dispatcher once the plan is committed: through its Celery task when
    the dispatcher has one, else in-process."""
    from .. import tasks

    task = getattr(tasks, "transfer_job_start_task", None)
    if task is not None:
        transaction.on_commit(lambda: task.delay(job_id=job_id))
        return

    def start():
        from .dispatch import transfer_job_start

        transfer_job_start(job_id=job_id)

    transaction.on_commit(start)


class TransferBatchFiller:
    """Puts planned items into batches of at most 100, filling the last one before a new one."""

    def __init__(self, *, job: TransferJob, takeover: Staff):
        self.job = job
        self.takeover = takeover
        self.planned = 0
        self.batches = 0
        self._current: TransferBatch | None = None
        self._room = 0

    def place(self, items: list[TransferItem]) -> None:
        fresh_needed = max(0, len(items) - self._room)
        fresh = TransferBatch.objects.bulk_create(
            [
                TransferBatch(job=self.job, takeover=self.takeover)
                for _ in range(-(-fresh_needed // TRANSFER_BATCH_SIZE))
            ]
        )
        self.batches += len(fresh)
        new_batches = iter(fresh)
        for item in items:
            if self._room == 0:
                self._current, self._room = next(new_batches), TRANSFER_BATCH_SIZE
            item.batch = self._current
            self._room -= 1
        self.planned += len(items)


def _validate(*, handover, takeover, customer_ids, segment, message) -> list[int] | None:
    """The request's errors, all at once; returns the chosen ids (None: the segment's)."""
    errors: dict[str, list[str]] = {}
    if handover.pk == takeover.pk:
        errors.setdefault("takeover", []).append(_("The takeover must be another member than the handover."))
    if handover.status == Staff.Status.DEPARTED:
        errors.setdefault("handover", []).append(_departed_message(handover))
    elif handover.status != Staff.Status.ACTIVE:
        errors.setdefault("handover", []).append(
            _("%(name)s is not an active member.") % {"name": handover.name}
        )
    if takeover.status != Staff.Status.ACTIVE:
        errors.setdefault("takeover", []).append(
            _("%(name)s is not an active member and cannot take customers over.") % {"name": takeover.name}
        )
    elif not takeover.contact_enabled:
        errors.setdefault("takeover", []).append(
            _("%(name)s has no customer contact in WeCom and cannot take customers over.")
            % {"name": takeover.name}
        )
    if len(message) > ONJOB_MESSAGE_MAX:
        errors.setdefault("message", []).append(
            _("At most %(max)d characters (WeCom's limit).") % {"max": ONJOB_MESSAGE_MAX}
        )
    ids = None
    chosen = list(dict.fromkeys(customer_ids or []))
    if chosen and segment is not None:
        errors.setdefault("customer_ids", []).append(_("Choose customers or a segment, not both."))
    elif not chosen and segment is None:
        errors.setdefault("customer_ids", []).append(_("Choose the customers to transfer, or a segment."))
    elif chosen:
        if len(chosen) > ONJOB_MAX_CUSTOMERS:
            errors.setdefault("customer_ids", []).append(_too_many_message())
        else:
            unknown = _unknown_customers(chosen)
            if unknown:
                errors.setdefault("customer_ids", []).append(
                    _("Unknown customer ids: %(ids)s.") % {"ids": ", ".join(map(str, unknown[:20]))}
                )
            ids = sorted(chosen)
    if errors:
        raise ValidationError(errors)
    return ids


def _unknown_customers(ids: list[int]) -> list[int]:
    known: set[int] = set()
    for chunk in _chunks(ids, PLAN_CHUNK):
        known.update(Customer.objects.filter(id__in=chunk).values_list("id", flat=True))
    return sorted(set(ids) - known)


def _departed_message(handover: Staff) -> str:
    return _(
        "%(name)s has departed: their customers are reassigned by the departed member's transfer "
        "(离职继承), not an on-job one."
    ) % {"name": handover.name}


def _too_many_message() -> str:
    return _("At most %(max)s customers per transfer; split it up.") % {"max": f"{ONJOB_MAX_CUSTOMERS:,}"}


def _chunks(values: Sequence[int], size: int):
    for start in range(0, len(values), size):
        yield values[start : start + size]
