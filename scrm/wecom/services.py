"""Writes of the WeCom connector: storing callbacks in the inbox and processing them once.

The inbox is what makes callbacks exactly-once (QUALITY.md R1, traps 1, 2 and 5):

- ``inbox_receive`` parses a decrypted callback, stores it under its dedupe key (WeCom's retries
  find the row and change nothing) and enqueues its processing after commit;
- ``inbox_process`` claims a row and dispatches it inside one transaction. The claim is a row lock
  taken with ``SKIP LOCKED`` where the database has it (PostgreSQL), a conditional ``UPDATE`` of
  the status otherwise (SQLite, which serialises writers). A second run of the same task finds the
  row done, or locked, and does nothing; a worker killed mid-way rolls back to a claimable row.
"""

from __future__ import annotations

import logging

from django.db import IntegrityError, connection, transaction
from django.db.models import F
from django.utils import timezone

from .errors import TransientError
from .events import CallbackEvent, dispatch, event_parse
from .models import CallbackInbox

logger = logging.getLogger(__name__)

CLAIMABLE = (CallbackInbox.Status.RECEIVED, CallbackInbox.Status.FAILED)
ERROR_LENGTH = 2000


def inbox_store(*, event: CallbackEvent, xml: str) -> tuple[CallbackInbox, bool]:
    """Store ``event`` once under its dedupe key; return ``(row, created)``.

    A concurrent insert of the same key loses on the unique constraint and gets the stored row.
    """
    try:
        with transaction.atomic():
            return CallbackInbox.objects.get_or_create(
                dedupe_key=event.dedupe_key,
                defaults={
                    # Cut to the column: an unknown, overlong name must not turn into a 500.
                    "event": (event.event or event.msg_type)[:64],
                    "change_type": event.change_type[:64],
                    "xml": xml,
                    "payload": event.payload(),
                },
            )
    except IntegrityError:
        # get_or_create already retries the get; this covers a race inside an outer transaction.
        return CallbackInbox.objects.get(dedupe_key=event.dedupe_key), False


def inbox_enqueue(*, inbox_ids: list[int]) -> None:
    """Process the given rows on the ``realtime`` queue once the current transaction commits."""
    from .tasks import callback_process  # tasks import services; imported here to keep one direction

    for inbox_id in inbox_ids:
        transaction.on_commit(lambda inbox_id=inbox_id: callback_process.delay(inbox_id))


def inbox_receive(*, event: CallbackEvent, xml: str) -> tuple[CallbackInbox, bool]:
    """Store a parsed callback once and enqueue its processing; ``(row, created)``.

    A retry of a row that is still waiting enqueues it again, in case the first enqueue was lost;
    the claim in ``inbox_process`` makes the extra task a no-op otherwise.
    """
    row, created = inbox_store(event=event, xml=xml)
    if created or row.status == CallbackInbox.Status.RECEIVED:
        inbox_enqueue(inbox_ids=[row.pk])
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
    if not rows.update(status=CallbackInbox.Status.PROCESSING, attempts=F("attempts") + 1):
        return None
    return CallbackInbox.objects.get(pk=inbox_id)


def inbox_process(*, inbox_id: int) -> CallbackInbox | None:
    """Claim the row and dispatch its event to the registered handlers; safe to run twice.

    Returns the row as done or failed, or None when there was nothing to claim (already done, or
    being processed by another worker). A handler's error rolls back that handler's writes and is
    recorded on the row; a ``TransientError`` is re-raised after it is recorded, so that the task
    retries with backoff.
    """
    transient: TransientError | None = None
    with transaction.atomic():
        row = _claim(inbox_id)
        if row is None:
            return None
        try:
            with transaction.atomic():
                dispatch(event_parse(row.xml))
        except Exception as error:  # any handler error is recorded, not lost
            logger.exception("callback %s (%s/%s) failed", row.pk, row.event, row.change_type)
            row.status = CallbackInbox.Status.FAILED
            row.last_error = f"{type(error).__name__}: {error}"[:ERROR_LENGTH]
            if isinstance(error, TransientError):
                transient = error
        else:
            row.status = CallbackInbox.Status.DONE
            row.last_error = ""
        row.processed_at = timezone.now()
        row.save(update_fields=["status", "last_error", "processed_at"])
    if transient is not None:
        raise transient
    return row


def inbox_retry(*, inbox_ids: list[int]) -> int:
    """Enqueue the failed rows among ``inbox_ids`` again; return how many were enqueued."""
    ids = list(
        CallbackInbox.objects.filter(pk__in=inbox_ids, status=CallbackInbox.Status.FAILED).values_list(
            "pk", flat=True
        )
    )
    inbox_enqueue(inbox_ids=ids)
    return len(ids)
