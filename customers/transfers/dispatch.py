"""A job's batches handed to WeCom exactly once: claim, call, record; unknown outcomes reconciled.

WeCom's transfer calls have no idempotency key, and a second call for a customer whose first one
landed is answered 40129 at best (and starts a second transfer at worst, if the first was already
refused or taken over). So a call is made only by the holder of a claim, and a call whose outcome
nobody recorded is looked up in WeCom's own results before it is made again (the protocol of
:mod:`campaigns.services.broadcast_dispatch`):

1. **Claim.** :func:`transfer_batch_send` moves the batch ``pending`` → ``calling`` with one
   conditional UPDATE, committed on its own, and its ``planned`` items to ``sending``. The claim's
   time (``claimed_at``) is its token: of two deliveries of the same task only one gets it.
2. **Call.** ``resigned/transfer_customer`` (a departed member's customers, or a claim from the
   pool of a departed member's customer) or ``transfer_customer`` (on-job; a claim of a customer
   an active colleague still holds), one call per handover → takeover pair, ≤ 100 customers.
3. **Record.** While the claim still holds, per customer by WeCom's errcode: 0 and 40129 (already
   in progress: ours or someone else's, the results tell) ``waiting``; 40099 ``takeover_full``,
   handled as a full takeover is (:mod:`.results`); anything else ``failed`` with the errcode.
   The batch is ``done``. Once a job has no batch left to hand over, its successors are told
   (:mod:`.notices`).

Between 2 and 3:

- WeCom answered an error for the whole call: nothing was started. Transient ones (busy, rate
  limited, token) give the claim back (batch ``pending``, items ``planned``) and the task retries
  with a backoff; others (40097 the member has not left, 41054 takeover not activated, …) fail
  the items with the errcode.
- No answer (timeout, connection lost) or the worker died: the batch stays ``calling``. Once
  :func:`claim_lease` has passed since the claim, :func:`transfer_batch_reconcile` reads the
  pair's transfer results: a customer listed there (with a transfer newer than the batch) was
  handed over by that call and gets its status; the others go back to ``planned`` and the batch
  is sent again. A customer whose outcome is unknown is never sent twice.

A periodic sweep (:func:`transfer_dispatch_sweep`, every 5 minutes) reconciles batches stuck in
``calling`` and queues again pending batches whose task was lost.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from scrm.org.models import Staff
from scrm.schedules import periodic_task_ensure
from scrm.wecom.client import WecomClient, wecom_client
from scrm.wecom.errors import NetworkError, TokenError, TransientError, WecomError

from ..models import CustomerEvent, TransferBatch, TransferItem, TransferJob
from ..models.transfers import TRANSFER_BATCH_SIZE
from ..wecom import event, events_insert

logger = logging.getLogger(__name__)

BatchStatus = TransferBatch.Status
ItemStatus = TransferItem.Status
Reason = TransferItem.Reason

#: WeCom takes a customer over this long after the hand-over started (WECOM.md §10.1).
TAKEOVER_DELAY = timedelta(hours=24)
#: WeCom's clock and ours differ a little: a transfer "newer than the batch" allows this much.
CLOCK_SKEW = timedelta(minutes=5)
#: Pauses before the next attempt after a transient error (then the last one, repeatedly).
RETRY_DELAYS = (10, 30, 120, 300, 600)
#: A pending batch of a started job untouched this long lost its task: the sweep queues it again.
LOST_AFTER = timedelta(minutes=15)
#: Batches the sweep queues at most per run (the next run takes the rest).
SWEEP_LIMIT = 1000

IN_PROGRESS = 40129
TAKEOVER_FULL = 40099
#: Per-customer errcodes that have a reason of their own; any other is ``wecom_error``.
ERRCODE_REASONS = {
    40128: Reason.PROTECTED,
    40130: Reason.SAME_STAFF,
    40131: Reason.NOT_FOLLOWED,
}
#: Jobs whose batches may be sent.
STARTED = (TransferJob.Status.RUNNING, TransferJob.Status.WAITING)


def claim_lease() -> timedelta:
    """How long a claim is trusted: ``TRANSFER_CLAIM_LEASE``, never under twice the HTTP timeout
    (by then the call has ended one way or the other)."""
    seconds = max(float(settings.TRANSFER_CLAIM_LEASE), 2 * float(settings.WECOM_HTTP_TIMEOUT))
    return timedelta(seconds=seconds)


def retry_delay(attempt: int) -> int:
    """Seconds before attempt ``attempt + 1`` after a transient error."""
    return RETRY_DELAYS[min(max(attempt, 1) - 1, len(RETRY_DELAYS) - 1)]


def uses_resigned_api(kind: str, handover_status: str) -> bool:
    """``resigned/transfer_customer`` for a departed member's customers (and a claim from the pool
    of a customer a departed member still holds); ``transfer_customer`` otherwise."""
    if kind == TransferJob.Kind.RESIGNED:
        return True
    return kind == TransferJob.Kind.CLAIM and handover_status == Staff.Status.DEPARTED


def batches_queue(batch_ids: Sequence[int]) -> None:
    """Queue one send per batch once the current transaction commits."""
    ids = sorted(set(batch_ids))
    if not ids:
        return
    from ..tasks import transfer_batch_send_task

    def send() -> None:
        for batch_id in ids:
            transfer_batch_send_task.delay(batch_id)

    transaction.on_commit(send)


# --- starting a job -------------------------------------------------------------------------------


def transfer_job_start(*, job_id: int) -> int:
    """Mark the job running and hand over its pending batches (tasks after commit); returns how
    many batches were queued. Safe to run twice: a batch already claimed is left alone by its
    second task, and a done or canceled job queues nothing."""
    with transaction.atomic():
        job = TransferJob.objects.select_for_update().filter(pk=job_id).first()
        if job is None or job.status in (TransferJob.Status.DONE, TransferJob.Status.CANCELED):
            return 0
        if job.status == TransferJob.Status.PLANNED:
            TransferJob.objects.filter(pk=job.pk).update(
                status=TransferJob.Status.RUNNING, started_at=timezone.now()
            )
        ids = list(
            TransferBatch.objects.filter(job=job, status=BatchStatus.PENDING).values_list("pk", flat=True)
        )
        batches_queue(ids)
    if not ids:
        from .results import transfer_job_refresh

        transfer_job_refresh(job_id=job_id)
    return len(ids)


# --- sending one batch ----------------------------------------------------------------------------


@dataclass(frozen=True)
class _Row:
    """One item of a batch being sent."""

    item_id: int
    customer_id: int
    external_userid: str
    handover_id: int
    handover_userid: str
    handover_status: str


def _rows(batch: TransferBatch, status: str) -> list[_Row]:
    return [
        _Row(*values)
        for values in TransferItem.objects.filter(batch=batch, status=status)
        .order_by("id")
        .values_list(
            "id",
            "customer_id",
            "customer__external_userid",
            "follow__staff_id",
            "follow__staff__userid",
            "follow__staff__status",
        )
    ]


def _by_handover(rows: Iterable[_Row]) -> dict[int, list[_Row]]:
    groups: dict[int, list[_Row]] = defaultdict(list)
    for row in rows:
        groups[row.handover_id].append(row)
    return groups


def _calls(rows: Iterable[_Row]) -> list[list[_Row]]:
    """The customers of each call: one handover per call, at most WeCom's 100 (a batch holds one
    handover and ≤ 100 customers as planned; this keeps a larger one from failing as a whole)."""
    return [
        group[start : start + TRANSFER_BATCH_SIZE]
        for group in _by_handover(rows).values()
        for start in range(0, len(group), TRANSFER_BATCH_SIZE)
    ]


def _claim(batch: TransferBatch) -> datetime | None:
    """Step 1: ``pending`` → ``calling`` and its planned items → ``sending``, committed; the claim
    time, or None when another delivery got there first."""
    now = timezone.now()
    with transaction.atomic():
        claimed = TransferBatch.objects.filter(pk=batch.pk, status=BatchStatus.PENDING).update(
            status=BatchStatus.CALLING, claimed_at=now, error=""
        )
        if not claimed:
            return None
        TransferItem.objects.filter(batch=batch, status=ItemStatus.PLANNED).update(status=ItemStatus.SENDING)
    batch.status, batch.claimed_at = BatchStatus.CALLING, now
    return now


def _holding(batch: TransferBatch, claimed_at: datetime):
    """The batch, locked, while our claim still holds (None when it was taken over)."""
    return (
        TransferBatch.objects.select_for_update()
        .filter(pk=batch.pk, status=BatchStatus.CALLING, claimed_at=claimed_at)
        .first()
    )


def _call(client: WecomClient, batch: TransferBatch, job: TransferJob, rows: list[_Row]) -> list[dict]:
    first = rows[0]
    external_userids = [row.external_userid for row in rows]
    if uses_resigned_api(job.kind, first.handover_status):
        return client.resigned_transfer_customer(
            handover_userid=first.handover_userid,
            takeover_userid=batch.takeover.userid,
            external_userids=external_userids,
        )
    return client.transfer_customer(
        handover_userid=first.handover_userid,
        takeover_userid=batch.takeover.userid,
        external_userids=external_userids,
        transfer_success_msg=job.transfer_message if job.kind == TransferJob.Kind.ONJOB else "",
    )


def _started_events(rows: Sequence[_Row], batch: TransferBatch, job: TransferJob, when: datetime) -> None:
    events_insert(
        [
            event(
                customer_id=row.customer_id,
                staff_id=row.handover_id,
                type=CustomerEvent.Type.TRANSFER_STARTED.value,
                occurred_at=when,
                source=CustomerEvent.Source.SYSTEM.value,
                payload={"from": row.handover_id, "to": batch.takeover_id, "job": job.pk},
            )
            for row in rows
        ]
    )


def _record_answer(
    batch: TransferBatch, job: TransferJob, claimed_at: datetime, rows: list[_Row], answer: list[dict]
) -> bool:
    """Step 3 for one call: the items by their errcode, while our claim holds."""
    now = timezone.now()
    errcodes = {entry.get("external_userid"): entry.get("errcode") for entry in answer}
    by_code: dict[int, list[_Row]] = defaultdict(list)
    for row in rows:
        # A customer missing from the answer may have been started: only the results may tell.
        code = errcodes.get(row.external_userid, IN_PROGRESS)
        by_code[int(code) if code is not None else IN_PROGRESS].append(row)
    full: list[int] = []
    with transaction.atomic():
        if _holding(batch, claimed_at) is None:
            return False
        sending = TransferItem.objects.filter(status=ItemStatus.SENDING)
        for code, group in by_code.items():
            ids = [row.item_id for row in group]
            if code in (0, IN_PROGRESS):
                sending.filter(pk__in=ids).update(
                    status=ItemStatus.WAITING,
                    takeover_at=now + TAKEOVER_DELAY,
                    errcode=code or None,
                    reason=Reason.IN_PROGRESS if code else "",
                    updated_at=now,
                )
                if code == 0:
                    _started_events(group, batch, job, now)
            elif code == TAKEOVER_FULL:
                sending.filter(pk__in=ids).update(
                    status=ItemStatus.TAKEOVER_FULL,
                    errcode=code,
                    reason=Reason.TAKEOVER_LIMIT,
                    updated_at=now,
                )
                full += ids
            else:
                sending.filter(pk__in=ids).update(
                    status=ItemStatus.FAILED,
                    errcode=code,
                    reason=ERRCODE_REASONS.get(code, Reason.WECOM_ERROR),
                    updated_at=now,
                )
        if full:
            from .results import transfer_items_fail

            transfer_items_fail(item_ids=full, when=now)
    return True


def _record_failed(batch: TransferBatch, claimed_at: datetime, rows: list[_Row], error: WecomError) -> bool:
    """The whole call was refused: its items fail with WeCom's errcode."""
    with transaction.atomic():
        if _holding(batch, claimed_at) is None:
            return False
        TransferItem.objects.filter(pk__in=[r.item_id for r in rows], status=ItemStatus.SENDING).update(
            status=ItemStatus.FAILED,
            errcode=error.errcode,
            reason=Reason.WECOM_ERROR,
            updated_at=timezone.now(),
        )
        TransferBatch.objects.filter(pk=batch.pk).update(error=str(error)[:300])
    return True


def _release(batch: TransferBatch, claimed_at: datetime, error: str) -> bool:
    """Back to ``pending``: the call surely started nothing (an error answer, or not found)."""
    with transaction.atomic():
        if _holding(batch, claimed_at) is None:
            return False
        TransferItem.objects.filter(batch=batch, status=ItemStatus.SENDING).update(status=ItemStatus.PLANNED)
        TransferBatch.objects.filter(pk=batch.pk).update(status=BatchStatus.PENDING, error=error[:300])
    return True


def _finish(batch: TransferBatch, claimed_at: datetime) -> bool:
    """The batch is handed over (every item has its answer); the job rolls up, and once it has no
    batch left to hand over its successors are told."""
    with transaction.atomic():
        done = TransferBatch.objects.filter(
            pk=batch.pk, status=BatchStatus.CALLING, claimed_at=claimed_at
        ).update(status=BatchStatus.DONE, finished_at=timezone.now())
        if done:
            _job_after_batch(batch.job_id)
    return bool(done)


def _job_after_batch(job_id: int) -> None:
    from .results import transfer_job_refresh

    transfer_job_refresh(job_id=job_id)
    open_batches = TransferBatch.objects.filter(
        job_id=job_id, status__in=(BatchStatus.PENDING, BatchStatus.CALLING)
    )
    if not open_batches.exists():
        from ..tasks import transfer_notices_send_task

        transaction.on_commit(lambda: transfer_notices_send_task.delay(job_id))


def transfer_batch_send(*, batch_id: int, client: WecomClient | None = None) -> str | None:
    """Claim → call → record one batch; returns an error text or None.

    ``pending`` (of a started job) → claim, call, record. ``calling`` past its lease: reconcile.
    Anything else (another delivery has it, or it is done) is left alone. After a transient error
    the batch is ``pending`` again (the task retries it); after a call without an answer it stays
    ``calling`` until it can be reconciled.
    """
    batch = TransferBatch.objects.select_related("job", "takeover").filter(pk=batch_id).first()
    if batch is None:
        return None
    if batch.status == BatchStatus.CALLING:
        if batch.claimed_at is None or batch.claimed_at + claim_lease() <= timezone.now():
            return transfer_batch_reconcile(batch_id=batch.pk, client=client)
        return None
    if batch.status != BatchStatus.PENDING or batch.job.status not in STARTED:
        return None
    job = batch.job
    claimed_at = _claim(batch)
    if claimed_at is None:
        return None
    client = client or wecom_client("contact")
    refused: list[str] = []
    for rows in _calls(_rows(batch, ItemStatus.SENDING)):
        try:
            answer = _call(client, batch, job, rows)
        except (TransientError, TokenError) as error:
            if isinstance(error, NetworkError) and error.api.endswith("transfer_customer"):
                # No answer to the call itself: it may have landed. Only the reconciliation may
                # decide (our rate limiter, a token refresh or an error answer started nothing).
                TransferBatch.objects.filter(pk=batch.pk, claimed_at=claimed_at).update(
                    error=str(error)[:300]
                )
                logger.warning("transfer batch %s: outcome unknown (%s), reconciling later", batch.pk, error)
                return str(error)
            logger.info("transfer batch %s: %s; sent again later", batch.pk, error)
            _release(batch, claimed_at, str(error))
            return str(error)
        except WecomError as error:
            logger.warning("transfer batch %s refused: %s", batch.pk, error)
            refused.append(str(error))
            if not _record_failed(batch, claimed_at, rows, error):
                return str(error)
            continue
        if not _record_answer(batch, job, claimed_at, rows, answer):
            logger.error("transfer batch %s: claim lost during the call; the reconciliation has it", batch.pk)
            return _("The claim on this batch was lost during the call.")
    _finish(batch, claimed_at)
    return "; ".join(refused) or None


# --- reconciling an unknown outcome ---------------------------------------------------------------


def _from_epoch(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC) if value else None
    except (TypeError, ValueError):
        return None


def pair_results(
    client: WecomClient, *, resigned: bool, handover_userid: str, takeover_userid: str
) -> dict[str, tuple[int, datetime | None]]:
    """WeCom's transfer results of one handover → takeover pair: ``external_userid → (status,
    takeover time)``, the latest transfer of each customer (the list keeps older ones too)."""
    read = client.resigned_transfer_result_all if resigned else client.transfer_result_all
    latest: dict[str, tuple[int, datetime | None]] = {}
    for entry in read(handover_userid=handover_userid, takeover_userid=takeover_userid):
        external_userid = entry.get("external_userid") or ""
        status = int(entry.get("status") or 0)
        when = _from_epoch(entry.get("takeover_time"))
        known = latest.get(external_userid)
        if known is None or (when is not None and (known[1] is None or when >= known[1])):
            latest[external_userid] = (status, when)
    return latest


def transfer_batch_reconcile(*, batch_id: int, client: WecomClient | None = None) -> str | None:
    """Settle a batch whose call may or may not have reached WeCom (``calling`` past its lease):
    customers WeCom lists with a transfer newer than the batch get its status; the others go back
    to ``planned`` and the batch is queued again. Returns an error text when WeCom could not be
    asked now (the batch stays as it was, for the next sweep)."""
    batch = TransferBatch.objects.select_related("job", "takeover").filter(pk=batch_id).first()
    if batch is None or batch.status != BatchStatus.CALLING:
        return None
    if batch.claimed_at is not None and batch.claimed_at + claim_lease() > timezone.now():
        return None  # the claimer may still be in its call
    # Take the claim over (a fresh lease): two reconcilers cannot both settle it.
    claimed_at = timezone.now()
    if not TransferBatch.objects.filter(
        pk=batch.pk, status=BatchStatus.CALLING, claimed_at=batch.claimed_at
    ).update(claimed_at=claimed_at):
        return None
    job = batch.job
    client = client or wecom_client("contact")
    since = batch.created_at + TAKEOVER_DELAY - CLOCK_SKEW
    groups = _by_handover(_rows(batch, ItemStatus.SENDING))
    found: dict[int, tuple[list[_Row], dict[str, tuple[int, datetime | None]]]] = {}
    try:
        # Every WeCom request before the first write (SQLite has a single writer).
        for handover_id, rows in groups.items():
            first = rows[0]
            found[handover_id] = (
                rows,
                pair_results(
                    client,
                    resigned=uses_resigned_api(job.kind, first.handover_status),
                    handover_userid=first.handover_userid,
                    takeover_userid=batch.takeover.userid,
                ),
            )
    except (TransientError, TokenError) as error:
        logger.info("transfer batch %s: reconciling failed (%s), again later", batch.pk, error)
        TransferBatch.objects.filter(pk=batch.pk, claimed_at=claimed_at).update(
            claimed_at=batch.claimed_at, error=str(error)[:300]
        )
        return str(error)
    now = timezone.now()
    resend = False
    listed_results: list[tuple[int, int, datetime | None]] = []
    with transaction.atomic():
        if _holding(batch, claimed_at) is None:
            return None
        for rows, results in found.values():
            listed: list[_Row] = []
            for row in rows:
                status, when = results.get(row.external_userid, (0, None))
                if status in (1, 2, 3, 4) and when is not None and when >= since:
                    listed.append(row)
                    listed_results.append((row.item_id, status, when))
            found_ids = {row.item_id for row in listed}
            unknown = [row.item_id for row in rows if row.item_id not in found_ids]
            if listed:
                TransferItem.objects.filter(
                    pk__in=[r.item_id for r in listed], status=ItemStatus.SENDING
                ).update(status=ItemStatus.WAITING, takeover_at=now + TAKEOVER_DELAY, updated_at=now)
                _started_events(listed, batch, job, now)
            if unknown:
                TransferItem.objects.filter(pk__in=unknown, status=ItemStatus.SENDING).update(
                    status=ItemStatus.PLANNED
                )
                resend = True
        if resend:
            TransferBatch.objects.filter(pk=batch.pk).update(
                status=BatchStatus.PENDING, error=_("The first call did not reach WeCom; sent again.")
            )
            batches_queue([batch.pk])
        else:
            TransferBatch.objects.filter(pk=batch.pk).update(status=BatchStatus.DONE, finished_at=now)
    logger.info(
        "transfer batch %s reconciled: %s customers found at WeCom, %s",
        batch.pk,
        len(listed_results),
        "the rest sent again" if resend else "none to send again",
    )
    if listed_results:
        from .results import transfer_results_apply

        transfer_results_apply(listed_results)
    with transaction.atomic():
        if not resend:
            _job_after_batch(batch.job_id)
    return None


# --- the sweep ------------------------------------------------------------------------------------


def transfer_dispatch_sweep() -> int:
    """Queue again what no task is carrying: batches stuck in ``calling`` past their lease (they
    are reconciled) and pending batches of started jobs untouched for a while (their task was
    lost); notices given back after a refusal are tried again. Returns how many batches were
    queued. Runs every 5 minutes (beat)."""
    now = timezone.now()
    stale = TransferBatch.objects.filter(status=BatchStatus.CALLING, claimed_at__lt=now - claim_lease())
    lost = TransferBatch.objects.filter(
        status=BatchStatus.PENDING, job__status__in=STARTED, created_at__lt=now - LOST_AFTER
    ).filter(Q(claimed_at__isnull=True) | Q(claimed_at__lt=now - LOST_AFTER))
    ids = list(stale.order_by("id").values_list("pk", flat=True)[:SWEEP_LIMIT])
    ids += list(lost.order_by("id").values_list("pk", flat=True)[: max(SWEEP_LIMIT - len(ids), 0)])
    with transaction.atomic():
        batches_queue(ids)
    from .notices import transfer_notices_due

    jobs = transfer_notices_due()
    if jobs:
        from ..tasks import transfer_notices_send_task

        for job_id in jobs:
            transfer_notices_send_task.delay(job_id)
    return len(ids)


SWEEP_TASK_NAME = "customers: transfer dispatch sweep"


def transfer_dispatch_schedule_ensure(**kwargs: object) -> bool:
    """Create the sweep's schedule (every 5 minutes) unless one has its name."""
    return periodic_task_ensure(
        name=SWEEP_TASK_NAME,
        task="customers.tasks.transfer_dispatch_sweep_task",
        queue="default",
        description="Reconciles transfer batches cut off mid-call; queues again those whose send was lost.",
        every_seconds=300,
        using=kwargs.get("using"),
    )
