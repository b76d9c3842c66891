"""Writes of the WeCom connector: storing callbacks in the inbox and processing them once.

The inbox is what makes callbacks exactly-once (QUALITY.md R1, traps 1, 2 and 5):

- ``inbox_receive`` parses a decrypted callback, stores it under its dedupe key (WeCom's retries
  find the row and change nothing) and, after commit, makes sure a drain is on its way for the
  row's slot (``inbox_kick``);
- ``inbox_drain`` works through the received rows of one slot, row by row, until none is left;
- ``inbox_process`` claims a row and dispatches it inside one transaction. The claim is a row lock
  taken with ``SKIP LOCKED`` where the database has it (PostgreSQL), a conditional ``UPDATE`` of
  the status otherwise (SQLite, which serialises writers). A second run of the same task finds the
  row done, or locked, and does nothing; a worker killed mid-way rolls back to a claimable row
  (on SQLite the claim commits first and each handler commits on its own, so that handlers
  waiting on WeCom do not hold the single writer's lock; such a row stays "processing" until
  ``inbox_sweep`` reclaims it).

Why drains and not one task per callback: publishing a Celery message was about half of a
callback's CPU in the web server (docs/benchmarks.md, P2). The inbox already is the queue; the
broker only needs to wake a drainer, and one pending wake-up per slot is enough. A slot is
``id % WECOM_INBOX_DRAIN_SLOTS``, so each process of the realtime worker can drain its own slot
without the others' rows getting in its way, and welcome messages never wait behind bulk work.
"""

from __future__ import annotations

import logging
from contextlib import nullcontext
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, connection, transaction
from django.db.models import F, QuerySet
from django.utils import timezone

from scrm.schedules import periodic_task_ensure

from .errors import TransientError
from .events import CallbackEvent, dispatch, event_parse
from .models import CallbackInbox

logger = logging.getLogger(__name__)

CLAIMABLE = (CallbackInbox.Status.RECEIVED, CallbackInbox.Status.FAILED)
ERROR_LENGTH = 2000

DEFAULT_DRAIN_SLOTS = 2
DRAIN_BATCH = 200
#: Seconds the "drain pending or running" mark of a slot lives. A running drainer renews it every
#: batch; a drainer that died lets it expire, and the next callback (or the sweep) kicks again.
DRAIN_MARK_TIMEOUT = 60
#: The sweep kicks the drain of rows still "received" this long after they arrived.
SWEEP_RECEIVED_AFTER = timedelta(minutes=1)
#: The sweep hands a row left "processing" (its worker was killed) back to the drain after this
#: long. A handler makes a few WeCom calls of at most WECOM_HTTP_TIMEOUT (10 s) each, plus the
#: rate limiter's waits: a minute at worst. Reclaiming a row whose handler still runs would
#: process it twice, so the margin is wide.
SWEEP_PROCESSING_AFTER = timedelta(minutes=15)
#: First wait before a row that failed with a transient WeCom error is tried again (then doubled).
TRANSIENT_RETRY_DELAY = 5
TRANSIENT_RETRY_MAX_DELAY = 300
SWEEP_TASK_NAME = "wecom: callback inbox sweep"


def inbox_store(*, event: CallbackEvent, xml: str) -> tuple[CallbackInbox, bool]:
    """Store ``event`` once under its dedupe key; return ``(row, created)``.

    Most callbacks are new, so the insert comes first and the unique constraint decides: a retry
    of WeCom's, or a concurrent insert of the same key, fails on it and reads the stored row. Outside
    a transaction (the callback view) that is one statement, committed at once; inside one, a
    savepoint keeps the outer transaction usable after the conflict.
    """
    savepoint = transaction.atomic() if connection.in_atomic_block else nullcontext()
    try:
        with savepoint:
            row = CallbackInbox.objects.create(
                dedupe_key=event.dedupe_key,
                # Cut to the column: an unknown, overlong name must not turn into a 500.
                event=(event.event or event.msg_type)[:64],
                change_type=event.change_type[:64],
                xml=xml,
                payload=event.payload(),
            )
        return row, True
    except IntegrityError:
        return CallbackInbox.objects.get(dedupe_key=event.dedupe_key), False


def drain_slots() -> int:
    return max(1, int(getattr(settings, "WECOM_INBOX_DRAIN_SLOTS", DEFAULT_DRAIN_SLOTS)))


def drain_slot(inbox_id: int) -> int:
    return inbox_id % drain_slots()


def drain_mark(slot: int) -> str:
    """Cache key present while a drain of ``slot`` is pending or running."""
    return f"wecom:inbox:drain:{slot}"


def drain_kick(*, slot: int, force: bool = False) -> bool:
    """Publish a drain of ``slot`` unless one is pending or running; return whether it published.

    Must run after the rows it is about commit: see ``inbox_drain`` for why that makes a failed
    ``add`` safe. ``force`` publishes even when the mark says a drain is on its way (the sweep,
    for rows that waited too long: that drain may have died); a second drainer is harmless.
    """
    from .tasks import callback_drain  # tasks import services; imported here to keep one direction

    mark = drain_mark(slot)
    if force:
        cache.set(mark, 1, timeout=DRAIN_MARK_TIMEOUT)
    elif not cache.add(mark, 1, timeout=DRAIN_MARK_TIMEOUT):
        return False
    try:
        callback_drain.delay(slot)
    except Exception:
        # The broker refused: without this the mark would hold back every kick until it expires.
        cache.delete(mark)
        raise
    return True


def inbox_kick(*, inbox_ids: list[int]) -> None:
    """Once the current transaction commits, make sure the slots of these rows get drained."""
    for slot in sorted({drain_slot(inbox_id) for inbox_id in inbox_ids}):
        transaction.on_commit(lambda slot=slot: drain_kick(slot=slot))


def inbox_receive(*, event: CallbackEvent, xml: str) -> tuple[CallbackInbox, bool]:
    """Store a parsed callback once and see that its slot gets drained; ``(row, created)``.

    A retry of a row that is still waiting kicks its slot again, in case the first drain was
    lost; when a drain is pending that costs one cache ``add`` and publishes nothing.
    """
    row, created = inbox_store(event=event, xml=xml)
    if created or row.status == CallbackInbox.Status.RECEIVED:
        inbox_kick(inbox_ids=[row.pk])
    return row, created


def _claim(inbox_id: int) -> CallbackInbox | None:
    rows = CallbackInbox.objects.filter(pk=inbox_id, status__in=CLAIMABLE)
    if connection.features.has_select_for_update_skip_locked:
        row = rows.select_for_update(skip_locked=True).first()
        if row is None:
            return None
        row.status = CallbackInbox.Status.PROCESSING
        row.attempts += 1
        row.save(update_fields=["status", "attempts"])
        return row
    # processed_at holds the claim's time while the row is processing (the sweep reads it).
    claimed = rows.update(
        status=CallbackInbox.Status.PROCESSING, attempts=F("attempts") + 1, processed_at=timezone.now()
    )
    if not claimed:
        return None
    return CallbackInbox.objects.get(pk=inbox_id)


def inbox_process(*, inbox_id: int) -> CallbackInbox | None:
    """Claim the row and dispatch its event to the registered handlers; safe to run twice.

    Returns the row as done or failed, or None when there was nothing to claim (already done, or
    being processed by another worker). A handler's error rolls back that handler's writes and is
    recorded on the row; a ``TransientError`` is re-raised after it is recorded, so that the task
    retries with backoff.
    """
    if not connection.features.has_select_for_update_skip_locked:
        return _process_one_writer(inbox_id)
    transient: TransientError | None = None
    with transaction.atomic():
        row = _claim(inbox_id)
        if row is None:
            return None
        try:
            with transaction.atomic():
                dispatch(event_parse(row.xml))
        except Exception as error:  # any handler error is recorded, not lost
            transient = _outcome_record(row, error)
        else:
            _outcome_record(row, None)
    if transient is not None:
        raise transient
    return row


def _process_one_writer(inbox_id: int) -> CallbackInbox | None:
    """``inbox_process`` for SQLite, which has one writer at a time.

    Handlers wait on WeCom, and the sandbox answering them records each call in the same
    database: a write transaction held across those waits would lock it out, and a transaction
    that read before the wait cannot write after it (its snapshot is stale: "database is
    locked"). So the claim (a conditional UPDATE) commits on its own and the handlers run in
    autocommit: each fetches from WeCom first, then writes in its own short atomic blocks, which
    begin IMMEDIATE (settings) and so wait for the lock instead of failing. A failing handler may
    leave the writes it committed before the error; the retry runs it again, which handlers'
    idempotence allows. A worker killed mid-way leaves the row "processing" until the sweep.
    """
    row = _claim(inbox_id)
    if row is None:
        return None
    try:
        dispatch(event_parse(row.xml))
    except Exception as error:  # any handler error is recorded, not lost
        if _outcome_record(row, error) is not None:
            raise  # transient: recorded, and raised for the task to retry
    else:
        _outcome_record(row, None)
    return row


def _outcome_record(row: CallbackInbox, error: Exception | None) -> TransientError | None:
    """Record on the row that its handlers succeeded, or how they failed; returns the error when
    it is transient, for the caller to raise (after its transaction) so that the task retries."""
    if error is None:
        row.status, row.last_error = CallbackInbox.Status.DONE, ""
    else:
        logger.exception("callback %s (%s/%s) failed", row.pk, row.event, row.change_type)
        row.status = CallbackInbox.Status.FAILED
        row.last_error = f"{type(error).__name__}: {error}"[:ERROR_LENGTH]
    row.processed_at = timezone.now()
    row.save(update_fields=["status", "last_error", "processed_at"])
    return error if isinstance(error, TransientError) else None


def inbox_retry(*, inbox_ids: list[int]) -> int:
    """Hand the failed rows among ``inbox_ids`` back to the drain; return how many.

    They go back to "received" and their slots are kicked after commit, the same path as a new
    callback: no per-row task, however many rows an administrator selects.
    """
    ids = list(
        CallbackInbox.objects.filter(pk__in=inbox_ids, status=CallbackInbox.Status.FAILED).values_list(
            "pk", flat=True
        )
    )
    # The status condition again: a row a transient retry claimed meanwhile is left to it.
    count = CallbackInbox.objects.filter(pk__in=ids, status=CallbackInbox.Status.FAILED).update(
        status=CallbackInbox.Status.RECEIVED
    )
    inbox_kick(inbox_ids=ids)
    return count


# --- The drain ------------------------------------------------------------------------------------


def _waiting(slot: int, slots: int) -> QuerySet[CallbackInbox]:
    """Received rows of ``slot``: found through the (status, id) index, then filtered by slot."""
    return (
        CallbackInbox.objects.filter(status=CallbackInbox.Status.RECEIVED)
        .alias(drain_slot=F("pk") % slots)
        .filter(drain_slot=slot)
    )


def _waiting_exists(slot: int, slots: int) -> bool:
    """Whether a received row of ``slot`` is left that no one is working on.

    On PostgreSQL a row another drainer has claimed is locked but still "received" to everyone
    else until that drainer commits; ``SKIP LOCKED`` leaves it out, so that this drainer does not
    spin on a row that is already being processed.
    """
    rows = _waiting(slot, slots)
    if not connection.features.has_select_for_update_skip_locked:
        return rows.exists()
    with transaction.atomic():
        return bool(list(rows.select_for_update(skip_locked=True).values_list("pk", flat=True)[:1]))


def _transient_retry(row: CallbackInbox) -> None:
    """A row failed with a transient WeCom error: try it again later, with backoff."""
    from .tasks import callback_process

    delay = min(TRANSIENT_RETRY_MAX_DELAY, TRANSIENT_RETRY_DELAY * 2 ** max(0, row.attempts - 1))
    transaction.on_commit(lambda: callback_process.apply_async((row.pk,), countdown=delay))


def _drain_pass(slot: int, slots: int) -> int:
    """Process every received row of ``slot`` once, in id order, a batch of ids at a time."""
    processed, after = 0, 0
    while True:
        # Still at it: renew the mark so that it does not expire under a long drain.
        cache.set(drain_mark(slot), 1, timeout=DRAIN_MARK_TIMEOUT)
        ids = list(
            _waiting(slot, slots)
            .filter(pk__gt=after)
            .order_by("pk")
            .values_list("pk", flat=True)[:DRAIN_BATCH]
        )
        if not ids:
            return processed
        for inbox_id in ids:
            try:
                row = inbox_process(inbox_id=inbox_id)
            except TransientError:
                # Recorded on the row as failed; it comes back after a backoff, not in this drain.
                row = CallbackInbox.objects.get(pk=inbox_id)
                _transient_retry(row)
            if row is not None:  # None: done meanwhile, or claimed by another drainer
                processed += 1
        after = ids[-1]


def inbox_drain(*, slot: int) -> int:
    """Process the received rows of ``slot`` until none is left; return how many were processed.

    Each row goes through ``inbox_process``, so its claim is the one a single task would take:
    a second drainer of the same slot (a mark that expired, a redelivered message) skips the
    rows being processed, and a row is processed once.

    Why no row is ever left behind. A callback commits its row, then ``add``s the slot's mark
    (``inbox_kick`` runs after commit). If the ``add`` succeeds, it publishes a drain that will
    see the row. If it fails, the mark was present at that moment: a drainer is pending or
    running and has not yet deleted the mark. This drainer, when it finds nothing more, deletes
    the mark and only then looks once more. That last look comes after the delete, which comes
    after the failed ``add``, which came after the row's commit: the row is visible to it. If it
    finds rows and can take the mark again, it drains them; if it cannot, a callback took the
    mark after the delete and has published a drain that will. The one gap is a drainer that
    died holding the mark: the mark expires after ``DRAIN_MARK_TIMEOUT`` and the next callback
    or ``inbox_sweep`` kicks again.
    """
    slots = drain_slots()
    processed = 0
    while True:
        processed += _drain_pass(slot, slots)
        cache.delete(drain_mark(slot))
        if not _waiting_exists(slot, slots):
            return processed
        if not cache.add(drain_mark(slot), 1, timeout=DRAIN_MARK_TIMEOUT):
            return processed  # a callback took the mark after the delete: its drain follows


def inbox_sweep() -> dict[str, int]:
    """Heal what a lost drain or a killed worker left (every minute, from beat).

    Rows "processing" since longer than ``SWEEP_PROCESSING_AFTER`` go back to "received" (only
    SQLite commits that status; PostgreSQL rolls a killed worker's claim back by itself). Slots
    with rows "received" for longer than ``SWEEP_RECEIVED_AFTER`` (or just reclaimed) get a drain,
    whatever their mark says.
    """
    now = timezone.now()
    stuck = CallbackInbox.objects.filter(
        status=CallbackInbox.Status.PROCESSING, processed_at__lt=now - SWEEP_PROCESSING_AFTER
    )
    reclaimed_ids = list(stuck.values_list("pk", flat=True)[:10_000])
    reclaimed = 0
    if reclaimed_ids:
        reclaimed = stuck.filter(pk__in=reclaimed_ids).update(
            status=CallbackInbox.Status.RECEIVED,
            last_error="interrupted: the worker stopped while processing it",
        )
        logger.warning("callback inbox: %s rows left processing were handed back to the drain", reclaimed)
    slots = drain_slots()
    late_slots = set(
        CallbackInbox.objects.filter(
            status=CallbackInbox.Status.RECEIVED, received_at__lt=now - SWEEP_RECEIVED_AFTER
        )
        .annotate(drain_slot=F("pk") % slots)
        .order_by()  # no ordering by id, or DISTINCT would be per row
        .values_list("drain_slot", flat=True)
        .distinct()
    )
    late_slots |= {inbox_id % slots for inbox_id in reclaimed_ids}
    # Forced: a row this late means the drain that the mark announces is not coming (it died,
    # or its message was lost), or is far behind; at most one extra drain per slot a minute.
    kicked = sum(drain_kick(slot=slot, force=True) for slot in sorted(late_slots))
    return {"reclaimed": reclaimed, "late_slots": len(late_slots), "kicked": kicked}


def sweep_schedule_ensure(**kwargs: object) -> bool:
    """Create the inbox sweep's schedule (every minute, realtime queue) unless one has its name."""
    return periodic_task_ensure(
        name=SWEEP_TASK_NAME,
        task="scrm.wecom.tasks.callback_sweep",
        queue="realtime",
        description="Kicks callbacks left waiting and hands back those a stopped worker left.",
        every_seconds=60,
        using=kwargs.get("using"),
    )
