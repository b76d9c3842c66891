"""Broadcast dispatch: sender batches handed to WeCom exactly once, results synced back.

Interface (planning, the admin and the API call these):
- :func:`broadcast_dispatch` groups a planned broadcast's eligible recipients into batches and
  enqueues one send per batch;
- :func:`broadcast_results_sync` reads ``get_groupmsg_task`` / ``get_groupmsg_send_result``;
- :func:`broadcast_remind` and :func:`broadcast_cancel` are the admin's and API's commands.

The exactly-once protocol (ARCHITECTURE.md "How a message flows", QUALITY.md R3 and traps 5-6).
WeCom's ``add_msg_template`` has no idempotency key, so a call is made only by the holder of a
claim, and a call whose outcome nobody recorded is looked up at WeCom before it is made again:

1. **Batch.** :func:`broadcast_dispatch` writes one :class:`BroadcastBatch` per sender and call
   (at most 10,000 customers or 2,000 groups, so the fewest calls the limits allow), each naming
   an id range of its sender's pending recipients (one window-function query; no recipient row is
   written), and queues one send per batch after commit.
2. **Claim.** :func:`broadcast_batch_send` moves the batch ``pending`` → ``claimed`` with a
   conditional UPDATE in its own committed transaction, recording ``claimed_at`` and a random
   ``claim_token``. Of two deliveries of the same task only one gets the claim.
3. **Call.** ``add_msg_template`` with the batch's targets, text and attachments (their media
   uploaded again first when stale).
4. **Record.** In one transaction, only while our claim token is still on the batch: the msgid
   and ``handed``; the recipients ``handed`` (``handed_at``, which the receive cap counts, and
   their ``batch``, in one UPDATE), those in ``fail_list`` ``failed``; the broadcast's ``handed``
   count.

What can go wrong between 3 and 4:

- WeCom answered an error: nothing was created. Transient ones (busy, rate limited, token) put the
  batch back to ``pending`` with a backoff; 41048 (no sendable customer) and other refusals fail
  the batch and its recipients with the reason.
- No answer (timeout, connection lost) or the worker died: the call may or may not have landed.
  The batch stays ``claimed`` (or is marked ``unknown`` by the worker that saw the timeout). Once
  ``BROADCAST_CLAIM_LEASE`` seconds have passed since the claim (longer than the HTTP timeout, so
  the call has ended one way or the other), :func:`broadcast_batch_reconcile` looks for it at
  WeCom: ``get_groupmsg_list_v2`` (corp-created messages, from one minute before the claim to now)
  gives the candidates with the same text and attachment types, none of them a msgid we already
  know; ``get_groupmsg_task`` must name our sender alone, and every recipient
  ``get_groupmsg_send_result`` lists must be one of the batch's targets (batches of one sender are
  disjoint, so this tells them apart). Found: recorded as in 4 with that msgid (targets WeCom did
  not take are ``failed``). Not found: back to ``pending`` and sent again. Nothing is written into
  the text to find it by: customers would see it.

A periodic sweep (:func:`broadcast_dispatch_sweep`) re-queues pending batches whose task was lost
(or whose backoff or quiet hours are over) and claimed batches past their lease. Quiet hours
(``OUTREACH_QUIET_HOURS``): nothing is claimed inside them; the batch waits for their end.
"""

from __future__ import annotations

import logging
import secrets
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Count, Exists, F, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from scrm.schedules import periodic_task_ensure
from scrm.wecom.client import WecomClient, wecom_client
from scrm.wecom.errors import NetworkError, TokenError, TransientError, WecomError

from ..models import Broadcast, BroadcastBatch, BroadcastRecipient
from .quiet_hours import quiet_until
from .welcome import welcome_media_ensure

logger = logging.getLogger(__name__)

BatchStatus = BroadcastBatch.Status
RecipientStatus = BroadcastRecipient.Status

#: Pauses before the next attempt after a transient WeCom error (then the last one, repeatedly).
RETRY_DELAYS = (5, 15, 60, 180, 300)
#: WeCom's "no sendable customer": nothing can be created for this batch.
NO_SENDABLE = 41048
#: How far before the claim the reconciliation looks for the message (clocks differ a little).
LIST_MARGIN = timedelta(minutes=1)
#: WeCom's reminder limit (WECOM.md §8.2).
MAX_REMINDERS = 3
REMIND_WINDOW = timedelta(hours=24)
#: Rows per UPDATE ... WHERE target IN (...) when results come back.
CHUNK = 1000
#: get_groupmsg_send_result's result status → our recipient status.
RESULT_STATUS = {1: RecipientStatus.SENT, 2: RecipientStatus.NOT_FRIEND, 3: RecipientStatus.OVER_CAP}
#: A batch still to be handed over; any other status is final.
OPEN = (BatchStatus.PENDING, BatchStatus.CLAIMED, BatchStatus.UNKNOWN)


def claim_lease() -> timedelta:
    """How long a claim is trusted: ``BROADCAST_CLAIM_LEASE``, never under twice the HTTP timeout."""
    seconds = max(float(settings.BROADCAST_CLAIM_LEASE), 2 * float(settings.WECOM_HTTP_TIMEOUT))
    return timedelta(seconds=seconds)


def _queue_sends(batch_ids: Sequence[int]) -> None:
    """Mark ``batch_ids`` queued now and queue their sends after commit."""
    if not batch_ids:
        return
    from ..tasks.broadcast_dispatch import broadcast_batch_send_task

    BroadcastBatch.objects.filter(pk__in=batch_ids).update(queued_at=timezone.now())
    ids = list(batch_ids)

    def send() -> None:
        for batch_id in ids:
            broadcast_batch_send_task.delay(batch_id)

    transaction.on_commit(send)


# --- batching -------------------------------------------------------------------------------------


def _batch_ranges(broadcast: Broadcast) -> list[tuple[int, int, int, int, int]]:
    """``(sender_id, k, first id, last id, count)`` of the batches the recipients not yet in a
    batch make: each sender's pending rows past their last batch, in id order, cut every
    ``per_call`` rows (``k``). One window-function query; nothing is written to the rows."""
    quote = connection.ops.quote_name
    recipients = quote(BroadcastRecipient._meta.db_table)
    batches = quote(BroadcastBatch._meta.db_table)
    sql = f"""
        SELECT sender_id, k, MIN(id), MAX(id), COUNT(*) FROM (
            SELECT r.id, r.sender_id,
                   (ROW_NUMBER() OVER (PARTITION BY r.sender_id ORDER BY r.id) - 1) / %s AS k
            FROM {recipients} r
            LEFT JOIN (
                SELECT sender_id, MAX(last_id) AS done FROM {batches} WHERE broadcast_id = %s
                GROUP BY sender_id
            ) b ON b.sender_id = r.sender_id
            WHERE r.broadcast_id = %s AND r.status = %s AND r.sender_id IS NOT NULL
              AND r.id > COALESCE(b.done, 0)
        ) numbered
        GROUP BY sender_id, k
        ORDER BY sender_id, k
    """
    params = [broadcast.per_call, broadcast.pk, broadcast.pk, RecipientStatus.PENDING]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return [tuple(row) for row in cursor.fetchall()]


def _batch_rows(batch: BroadcastBatch):
    """The batch's recipients: its sender's rows in its id range (the partial index on pending
    rows finds them; ``batch`` is set on them when they are handed over or fail)."""
    return BroadcastRecipient.objects.filter(
        broadcast_id=batch.broadcast_id,
        sender_id=batch.sender_id,
        id__gte=batch.first_id,
        id__lte=batch.last_id,
    )


def broadcast_dispatch(*, broadcast_id: int) -> int:
    """Batch the pending recipients by sender (≤ the call size) and enqueue their sends; returns the
    number of batches. Safe to run twice."""
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().filter(pk=broadcast_id).first()
        if broadcast is None or broadcast.status in (Broadcast.Status.CANCELED, Broadcast.Status.FAILED):
            return 0
        ranges = _batch_ranges(broadcast)
        last_seq = dict(
            BroadcastBatch.objects.filter(broadcast=broadcast)
            .values_list("sender_id")
            .annotate(n=Count("id"))
            .values_list("sender_id", "n")
        )
        batches = BroadcastBatch.objects.bulk_create(
            BroadcastBatch(
                broadcast=broadcast,
                sender_id=sender_id,
                seq=last_seq.get(sender_id, 0) + k,
                size=count,
                first_id=first,
                last_id=last,
            )
            for sender_id, k, first, last, count in ranges
        )
        now = timezone.now()
        if broadcast.status != Broadcast.Status.SENT or batches:
            Broadcast.objects.filter(pk=broadcast.pk).update(
                status=Broadcast.Status.SENDING, started_at=broadcast.started_at or now, finished_at=None
            )
        # New batches, and pending ones no task was queued for (a first run that died after its
        # commit): a send finds a batch already claimed or done and leaves it alone.
        waiting = BroadcastBatch.objects.filter(
            broadcast=broadcast, status=BatchStatus.PENDING, queued_at__isnull=True
        )
        ids = sorted({b.pk for b in batches} | set(waiting.values_list("pk", flat=True)))
        _queue_sends(ids)
        if not ids:
            _broadcast_finish_check(broadcast.pk)
    return len(batches)


# --- sending --------------------------------------------------------------------------------------


def _payload(broadcast: Broadcast) -> list[dict]:
    """The attachments in WeCom's shape, their media uploaded again first when missing or stale."""
    attachments = list(broadcast.attachments.defer("file_content").order_by("position", "id"))
    now = timezone.now()
    for attachment in attachments:
        welcome_media_ensure(attachment=attachment, now=now)
    return [{"msgtype": a.kind, a.kind: a.wecom_body()} for a in attachments]


def _targets(batch: BroadcastBatch) -> list[str]:
    return list(
        _batch_rows(batch)
        .filter(status=RecipientStatus.PENDING)
        .order_by("id")
        .values_list("target", flat=True)
    )


def _call(
    batch: BroadcastBatch, targets: list[str], attachments: list[dict], client: WecomClient | None = None
) -> dict:
    broadcast = batch.broadcast
    client = client or wecom_client()
    common = {"sender": batch.sender.userid, "text": broadcast.text, "attachments": attachments}
    if broadcast.kind == Broadcast.Kind.GROUPS:
        return client.add_msg_template(chat_type="group", chat_ids=targets, **common)
    return client.add_msg_template(chat_type="single", external_userids=targets, **common)


def _in_chunks(values: Sequence[str]) -> Iterable[list[str]]:
    for start in range(0, len(values), CHUNK):
        yield list(values[start : start + CHUNK])


def _record_handed(batch: BroadcastBatch, token: str, msgid: str, failed: Iterable[str]) -> bool:
    """Step 4: msgid, recipients and the funnel in one transaction, while our claim holds."""
    now = timezone.now()
    failed = sorted(set(failed))
    with transaction.atomic():
        done = BroadcastBatch.objects.filter(
            pk=batch.pk, status__in=(BatchStatus.CLAIMED, BatchStatus.UNKNOWN), claim_token=token
        ).update(
            status=BatchStatus.HANDED,
            msgid=msgid,
            handed_at=now,
            fail_count=len(failed),
            not_before=None,
            error="",
        )
        if not done:
            return False
        rows = _batch_rows(batch).filter(status=RecipientStatus.PENDING)
        for chunk in _in_chunks(failed):
            rows.filter(target__in=chunk).update(status=RecipientStatus.FAILED, batch=batch)
        # One write per row: status, the time the receive cap counts, and the batch.
        handed = rows.update(status=RecipientStatus.HANDED, handed_at=now, batch=batch)
        # Counted in the transaction that won the conditional update above: once per batch.
        Broadcast.objects.filter(pk=batch.broadcast_id).update(handed=F("handed") + handed)
    batch.status, batch.msgid, batch.handed_at = BatchStatus.HANDED, msgid, now
    if _broadcast_finish_check(batch.broadcast_id) == Broadcast.Status.CANCELED:
        # Canceled while the call was in flight: stop the message at WeCom too.
        _batch_cancel_at_wecom(batch)
    return True


def _record_failed(batch: BroadcastBatch, token: str, error: str) -> bool:
    """The batch and its pending recipients fail with WeCom's reason."""
    with transaction.atomic():
        done = BroadcastBatch.objects.filter(pk=batch.pk, claim_token=token, status__in=OPEN).update(
            status=BatchStatus.FAILED, error=error[:2000], not_before=None
        )
        if not done:
            return False
        _batch_rows(batch).filter(status=RecipientStatus.PENDING).update(
            status=RecipientStatus.FAILED, batch=batch
        )
    _broadcast_finish_check(batch.broadcast_id)
    return True


def _release(batch: BroadcastBatch, token: str, error: str, *, delay: float | None) -> bool:
    """Back to ``pending``: the call surely created nothing (an error answer, or not found)."""
    not_before = timezone.now() + timedelta(seconds=delay) if delay else None
    return bool(
        BroadcastBatch.objects.filter(pk=batch.pk, claim_token=token, status__in=OPEN).update(
            status=BatchStatus.PENDING, claim_token="", not_before=not_before, error=error[:2000]
        )
    )


def _retry_delay(batch: BroadcastBatch) -> int:
    return RETRY_DELAYS[min(max(batch.attempts, 1) - 1, len(RETRY_DELAYS) - 1)]


def _broadcast_finish_check(broadcast_id: int) -> str | None:
    """Once no batch is left to hand over: ``sent`` (or ``failed`` when every batch failed).
    Returns the broadcast's status as it was (one query while batches remain)."""
    batches = BroadcastBatch.objects.filter(broadcast_id=broadcast_id)
    row = (
        Broadcast.objects.filter(pk=broadcast_id)
        .annotate(open=Exists(batches.filter(status__in=OPEN)))
        .values_list("status", "open")
        .first()
    )
    if row is None or row[1]:
        return row[0] if row else None
    now = timezone.now()
    sending = Broadcast.objects.filter(pk=broadcast_id, status=Broadcast.Status.SENDING)
    if batches.exists() and not batches.exclude(status=BatchStatus.FAILED).exists():
        errors = sorted(set(batches.values_list("error", flat=True)))
        sending.update(status=Broadcast.Status.FAILED, finished_at=now, error="\n".join(errors)[:2000])
    else:
        sending.update(status=Broadcast.Status.SENT, finished_at=now)
    return row[0]


def broadcast_batch_send(*, batch_id: int, client: WecomClient | None = None) -> float | None:
    """Advance one batch by the protocol above; returns seconds to wait before trying it again
    (a transient WeCom error), or None. ``client`` defaults to the shared one (a benchmark passes
    its own, to time the HTTP wait).

    ``pending`` → claim, call, record. ``claimed`` past its lease, or ``unknown``: reconcile.
    Anything else (another delivery has it, or it is done) is left alone.
    """
    batch = BroadcastBatch.objects.select_related("broadcast", "sender").filter(pk=batch_id).first()
    if batch is None:
        return None
    now = timezone.now()
    if batch.status in (BatchStatus.CLAIMED, BatchStatus.UNKNOWN):
        if batch.claimed_at and batch.claimed_at + claim_lease() <= now:
            return broadcast_batch_reconcile(batch_id=batch.pk)
        return None
    if batch.status != BatchStatus.PENDING:
        return None
    broadcast = batch.broadcast
    if broadcast.status == Broadcast.Status.CANCELED:
        _batches_cancel_pending(broadcast.pk)
        return None
    if batch.not_before and batch.not_before > now + timedelta(seconds=1):
        return None  # an early duplicate: the retry or the sweep comes back for it
    quiet = quiet_until(now)
    if quiet is not None:
        # Nothing is claimed in quiet hours; the sweep queues it again once they are over.
        BroadcastBatch.objects.filter(pk=batch.pk, status=BatchStatus.PENDING).update(not_before=quiet)
        return None
    try:
        attachments = _payload(broadcast)
    except (TransientError, TokenError) as error:
        return _transient(batch, "", error, claimed=False)
    except WecomError as error:
        token = _claim(batch)
        if token:
            _record_failed(batch, token, _("Attachment upload failed: %(error)s") % {"error": error})
        return None
    token = _claim(batch)
    if token is None:
        return None
    targets = _targets(batch)
    if not targets:  # every recipient was canceled or failed since batching
        _record_failed(batch, token, _("No recipient left in this batch."))
        return None
    try:
        data = _call(batch, targets, attachments, client)
    except (TransientError, TokenError) as error:
        if isinstance(error, NetworkError) and error.api.endswith("add_msg_template"):
            # No answer to the call itself: it may have landed. Only the reconciliation may decide.
            # (Our rate limiter, the token refresh or an error answer mean nothing was created.)
            BroadcastBatch.objects.filter(pk=batch.pk, claim_token=token, status=BatchStatus.CLAIMED).update(
                status=BatchStatus.UNKNOWN, error=str(error)[:2000]
            )
            logger.warning("broadcast batch %s: outcome unknown (%s), reconciling later", batch.pk, error)
            return claim_lease().total_seconds()
        return _transient(batch, token, error, claimed=True)
    except WecomError as error:
        # WeCom refused it (41048 no sendable customer, a bad attachment, ...): nothing was created.
        logger.warning("broadcast batch %s failed: %s", batch.pk, error)
        _record_failed(batch, token, str(error))
        return None
    recorded = _record_handed(batch, token, data["msgid"], data.get("fail_list") or [])
    if not recorded and not BroadcastBatch.objects.filter(pk=batch.pk, msgid=data["msgid"]).exists():
        # Our claim was taken over (the call outlived the lease and the batch was reconciled):
        # another message may carry these recipients, so this one is stopped before anyone sends.
        logger.error("broadcast batch %s: claim lost during the call; canceling %s", batch.pk, data["msgid"])
        try:
            wecom_client().cancel_groupmsg_send(data["msgid"])
        except WecomError as error:
            logger.error("broadcast batch %s: cancel of %s failed: %s", batch.pk, data["msgid"], error)
    return None


def _claim(batch: BroadcastBatch) -> str | None:
    """Step 2: ``pending`` → ``claimed`` by one conditional UPDATE, committed on its own (outside
    any transaction); our token, or None when another delivery got there first."""
    token = secrets.token_hex(16)
    now = timezone.now()
    claimed = BroadcastBatch.objects.filter(
        pk=batch.pk, status=BatchStatus.PENDING, attempts=batch.attempts
    ).update(status=BatchStatus.CLAIMED, claim_token=token, claimed_at=now, attempts=batch.attempts + 1)
    if not claimed:
        return None
    batch.status, batch.claim_token, batch.claimed_at = BatchStatus.CLAIMED, token, now
    batch.attempts += 1
    return token


def _transient(batch: BroadcastBatch, token: str, error: WecomError, *, claimed: bool) -> float:
    """WeCom answered a transient error: nothing was created; try again after a pause."""
    delay = _retry_delay(batch)
    logger.info("broadcast batch %s: %s, again in %s s", batch.pk, error, delay)
    if claimed:
        _release(batch, token, str(error), delay=delay)
    else:
        BroadcastBatch.objects.filter(pk=batch.pk, status=BatchStatus.PENDING).update(
            not_before=timezone.now() + timedelta(seconds=delay), error=str(error)[:2000]
        )
    return delay


# --- reconciling an unknown outcome ---------------------------------------------------------------


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def _content_matches(item: dict, broadcast: Broadcast, kinds: list[str]) -> bool:
    text = ((item.get("text") or {}).get("content")) or ""
    listed = [a.get("msgtype") for a in item.get("attachments") or []]
    return text == (broadcast.text or "") and listed == kinds


def _message_find(batch: BroadcastBatch, targets: set[str]) -> tuple[str, set[str]] | None:
    """The msgid WeCom created for ``batch`` and the targets it took, or None (see the module
    docstring for how a candidate is told from other messages)."""
    broadcast = batch.broadcast
    client = wecom_client()
    kinds = list(broadcast.attachments.order_by("position", "id").values_list("kind", flat=True))
    known = set(BroadcastBatch.objects.exclude(msgid="").values_list("msgid", flat=True))
    start = batch.claimed_at - LIST_MARGIN
    chat_type = "group" if broadcast.kind == Broadcast.Kind.GROUPS else "single"
    listed = client.groupmsg_list_all(
        chat_type=chat_type,
        start_time=_epoch(start),
        end_time=_epoch(timezone.now() + LIST_MARGIN),
        filter_type=0,
        limit=100,
    )
    key = "chat_id" if chat_type == "group" else "external_userid"
    for item in listed:
        msgid = item.get("msgid") or ""
        if not msgid or msgid in known or item.get("creator") or not _content_matches(item, broadcast, kinds):
            continue
        senders = {task.get("userid") for task in client.groupmsg_task_all(msgid)}
        if senders != {batch.sender.userid}:
            continue
        taken = {row.get(key) for row in client.groupmsg_send_result_all(msgid, batch.sender.userid)}
        if taken and taken <= targets:
            return msgid, taken
    return None


def broadcast_batch_reconcile(*, batch_id: int) -> float | None:
    """Settle a batch whose call may or may not have reached WeCom (claimed past its lease, or
    ``unknown``): recorded as handed when WeCom has its message, else back to ``pending`` and
    queued again. Returns seconds before trying again when WeCom could not be asked now."""
    batch = BroadcastBatch.objects.select_related("broadcast", "sender").filter(pk=batch_id).first()
    if batch is None or batch.status not in (BatchStatus.CLAIMED, BatchStatus.UNKNOWN):
        return None
    lease = claim_lease()
    if batch.claimed_at is None or batch.claimed_at + lease > timezone.now():
        return None  # the claimer may still be in its call
    token = batch.claim_token
    # A claimer still holding ``claimed`` is gone (its lease passed): the outcome is now unknown.
    if batch.status == BatchStatus.CLAIMED and not BroadcastBatch.objects.filter(
        pk=batch.pk, status=BatchStatus.CLAIMED, claim_token=token
    ).update(status=BatchStatus.UNKNOWN):
        return None
    targets = set(_batch_rows(batch).filter(status=RecipientStatus.PENDING).values_list("target", flat=True))
    try:
        found = _message_find(batch, targets) if targets else None
    except (TransientError, TokenError) as error:
        delay = _retry_delay(batch)
        logger.info("broadcast batch %s: reconciling failed (%s), again in %s s", batch.pk, error, delay)
        return delay
    if found is not None:
        msgid, taken = found
        logger.info("broadcast batch %s: its message %s was found at WeCom", batch.pk, msgid)
        _record_handed(batch, token, msgid, targets - taken)
        return None
    logger.info("broadcast batch %s: no message at WeCom, sending it again", batch.pk)
    with transaction.atomic():
        if _release(batch, token, _("The first call did not reach WeCom; sent again."), delay=None):
            if batch.broadcast.status == Broadcast.Status.CANCELED:
                _batches_cancel_pending(batch.broadcast_id)
            else:
                _queue_sends([batch.pk])
    return None


# --- the sweep ------------------------------------------------------------------------------------


def broadcast_dispatch_sweep() -> int:
    """Queue again what no task is carrying: pending batches whose task was lost (queued longer
    than a lease ago) or whose pause (backoff, quiet hours) is over, and claimed or unknown batches
    past their lease. Returns how many batches were queued. Runs every minute (beat)."""
    now = timezone.now()
    lease = claim_lease()
    # A pause that is over, or no pause and no task queued within a lease (the task was lost).
    pending = BroadcastBatch.objects.filter(status=BatchStatus.PENDING).filter(
        Q(not_before__lte=now)
        | Q(not_before__isnull=True, queued_at__isnull=True)
        | Q(not_before__isnull=True, queued_at__lt=now - lease)
    )
    if quiet_until(now) is not None:
        pending = pending.none()  # they would only wait again; reconciling is fine in quiet hours
    stale = BroadcastBatch.objects.filter(
        status__in=(BatchStatus.CLAIMED, BatchStatus.UNKNOWN), claimed_at__lt=now - lease
    )
    pending_ids = set(pending.values_list("pk", flat=True))
    ids = sorted(pending_ids | set(stale.values_list("pk", flat=True)))
    with transaction.atomic():
        # Queued now: the next sweep leaves them alone unless this task is lost as well.
        BroadcastBatch.objects.filter(pk__in=pending_ids).update(not_before=None)
        _queue_sends(ids)
    return len(ids)


# --- results --------------------------------------------------------------------------------------


def _from_epoch(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(value), tz=UTC) if value else None
    except (TypeError, ValueError):
        return None


def _batch_results_sync(batch: BroadcastBatch) -> None:
    client = wecom_client()
    userid = batch.sender.userid
    now = timezone.now()
    confirmed_at = batch.confirmed_at
    if confirmed_at is None:
        for task in client.groupmsg_task_all(batch.msgid):
            if task.get("userid") == userid and task.get("status"):
                confirmed_at = _from_epoch(task.get("send_time")) or now
    if confirmed_at is None:
        BroadcastBatch.objects.filter(pk=batch.pk).update(results_synced_at=now)
        return
    key = "chat_id" if batch.broadcast.kind == Broadcast.Kind.GROUPS else "external_userid"
    # (status, send_time) → targets: one UPDATE per group of rows, not one per row.
    groups: dict[tuple[str, int], list[str]] = defaultdict(list)
    unsent: list[str] = []
    for row in client.groupmsg_send_result_all(batch.msgid, userid):
        status = RESULT_STATUS.get(row.get("status"))
        if status is None:
            unsent.append(row.get(key))
        else:
            groups[(status, int(row.get("send_time") or 0))].append(row.get(key))
    rows = BroadcastRecipient.objects.filter(batch=batch)
    with transaction.atomic():
        for (status, send_time), targets in groups.items():
            sent_at = _from_epoch(send_time) or confirmed_at
            for chunk in _in_chunks(targets):
                rows.filter(target__in=chunk).exclude(status=status).update(status=status, sent_at=sent_at)
        # The sender confirmed without these (or the message was canceled before they were sent).
        for chunk in _in_chunks(unsent):
            rows.filter(target__in=chunk, status=RecipientStatus.HANDED).update(status=RecipientStatus.UNSENT)
        BroadcastBatch.objects.filter(pk=batch.pk).update(confirmed_at=confirmed_at, results_synced_at=now)


def broadcast_results_sync(*, broadcast_id: int) -> None:
    """Sync per-sender confirmation and per-recipient status from WeCom into rows and the funnel."""
    broadcast = Broadcast.objects.filter(pk=broadcast_id).first()
    if broadcast is None:
        return
    batches = (
        BroadcastBatch.objects.select_related("broadcast", "sender")
        .filter(broadcast=broadcast)
        .exclude(msgid="")
        # A confirmed batch synced after its confirmation is final: WeCom's statuses no longer move.
        .exclude(confirmed_at__isnull=False, results_synced_at__gte=F("confirmed_at"))
        .order_by("id")
    )
    for batch in batches:
        try:
            _batch_results_sync(batch)
        except (TransientError, TokenError) as error:
            logger.info("broadcast batch %s: results not synced this time: %s", batch.pk, error)
    recipients = BroadcastRecipient.objects.filter(broadcast=broadcast)
    counts = recipients.aggregate(
        handed=Count("id", filter=Q(handed_at__isnull=False)),
        confirmed=Count("id", filter=Q(handed_at__isnull=False, batch__confirmed_at__isnull=False)),
        delivered=Count("id", filter=Q(status=RecipientStatus.SENT)),
    )
    Broadcast.objects.filter(pk=broadcast.pk).update(**counts, results_synced_at=timezone.now())


def broadcast_results_due() -> list[int]:
    """Broadcasts whose results are worth a sync: handed over within ``BROADCAST_RESULTS_DAYS``
    and with a batch not final yet."""
    since = timezone.now() - timedelta(days=settings.BROADCAST_RESULTS_DAYS)
    open_batches = (
        BroadcastBatch.objects.filter(handed_at__gte=since)
        .exclude(msgid="")
        .exclude(confirmed_at__isnull=False, results_synced_at__gte=F("confirmed_at"))
    )
    return sorted(set(open_batches.values_list("broadcast_id", flat=True)))


# --- remind and cancel ----------------------------------------------------------------------------


def broadcast_remind(*, broadcast: Broadcast) -> int:
    """Remind the senders who have not confirmed (≤3 per message in 24 hours); returns how many
    messages were reminded. Raises ``ValidationError`` with the reason when none may be."""
    if broadcast.status == Broadcast.Status.CANCELED:
        raise ValidationError(_("The broadcast was canceled."))
    waiting = BroadcastBatch.objects.filter(
        broadcast=broadcast, status=BatchStatus.HANDED, confirmed_at__isnull=True
    ).exclude(msgid="")
    ids = list(waiting.order_by("id").values_list("pk", flat=True))
    if not ids:
        raise ValidationError(_("No sender is waiting to confirm this broadcast."))
    reminded = 0
    at_limit = 0
    client = wecom_client()
    for batch_id in ids:
        # The slot is taken in a short transaction and given back if WeCom refuses: no database
        # transaction stays open across the HTTP call, and two admins cannot both take the third.
        with transaction.atomic():
            batch = BroadcastBatch.objects.select_for_update().get(pk=batch_id)
            now = timezone.now()
            recent = [t for t in batch.reminded_at if datetime.fromisoformat(t) > now - REMIND_WINDOW]
            if len(recent) >= MAX_REMINDERS:
                at_limit += 1
                continue
            stamp = now.isoformat()
            batch.reminded_at = [*recent, stamp]
            batch.save(update_fields=["reminded_at"])
        try:
            client.remind_groupmsg_send(batch.msgid)
        except WecomError as error:
            logger.warning("broadcast batch %s: reminder refused: %s", batch.pk, error)
            if error.errcode == 45009:  # WeCom's own count says the limit is reached: keep the slot
                at_limit += 1
                continue
            with transaction.atomic():
                batch = BroadcastBatch.objects.select_for_update().get(pk=batch_id)
                batch.reminded_at = [t for t in batch.reminded_at if t != stamp]
                batch.save(update_fields=["reminded_at"])
            raise ValidationError(_("WeCom refused the reminder: %(error)s") % {"error": error}) from error
        reminded += 1
    if not reminded:
        raise ValidationError(
            _("Every waiting sender was already reminded %(n)s times in the last 24 hours.")
            % {"n": MAX_REMINDERS}
        )
    return reminded


def _batches_cancel_pending(broadcast_id: int) -> None:
    with transaction.atomic():
        BroadcastBatch.objects.filter(broadcast_id=broadcast_id, status=BatchStatus.PENDING).update(
            status=BatchStatus.CANCELED, not_before=None
        )
        BroadcastRecipient.objects.filter(broadcast_id=broadcast_id, status=RecipientStatus.PENDING).update(
            status=RecipientStatus.CANCELED
        )


def _batch_cancel_at_wecom(batch: BroadcastBatch) -> None:
    """Stop a handed message at WeCom; its recipients not sent yet are canceled."""
    try:
        wecom_client().cancel_groupmsg_send(batch.msgid)
    except WecomError as error:
        logger.warning("broadcast batch %s: cancel refused: %s", batch.pk, error)
        BroadcastBatch.objects.filter(pk=batch.pk).update(error=str(error)[:2000])
        return
    with transaction.atomic():
        BroadcastBatch.objects.filter(pk=batch.pk, status=BatchStatus.HANDED).update(
            status=BatchStatus.CANCELED
        )
        BroadcastRecipient.objects.filter(batch=batch, status=RecipientStatus.HANDED).update(
            status=RecipientStatus.CANCELED
        )


def broadcast_cancel(*, broadcast: Broadcast) -> None:
    """Stop a broadcast: nothing more is handed over; handed messages are canceled at WeCom.

    Pending batches and recipients are canceled at once; a batch in the middle of its call is
    canceled at WeCom as soon as its msgid is recorded. Results already sent stay as synced.
    Only a launched broadcast can be canceled (``ValidationError`` otherwise).
    """
    with transaction.atomic():
        locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if locked.status in (Broadcast.Status.DRAFT, Broadcast.Status.CANCELED, Broadcast.Status.FAILED):
            raise ValidationError(_("Only a launched broadcast can be canceled."))
        now = timezone.now()
        Broadcast.objects.filter(pk=broadcast.pk).update(status=Broadcast.Status.CANCELED, canceled_at=now)
        _batches_cancel_pending(broadcast.pk)
    broadcast.status, broadcast.canceled_at = Broadcast.Status.CANCELED, now
    handed = BroadcastBatch.objects.select_related("broadcast").filter(
        broadcast=broadcast, status=BatchStatus.HANDED
    )
    for batch in handed.exclude(msgid="").order_by("id"):
        _batch_cancel_at_wecom(batch)


# --- schedules ------------------------------------------------------------------------------------

SWEEP_TASK_NAME = "campaigns: broadcast dispatch sweep"
RESULTS_TASK_NAME = "campaigns: broadcast results sync"


def broadcast_dispatch_schedule_ensure(**kwargs: object) -> bool:
    """Create the sweep's schedule (every minute) and the results sync's (every 5 minutes)."""
    sweep = periodic_task_ensure(
        name=SWEEP_TASK_NAME,
        task="campaigns.tasks.broadcast_dispatch.broadcast_dispatch_sweep_task",
        queue="default",
        description="Queues broadcast batches again whose send was lost, paused or cut off mid-call.",
        every_seconds=60,
        using=kwargs.get("using"),
    )
    results = periodic_task_ensure(
        name=RESULTS_TASK_NAME,
        task="campaigns.tasks.broadcast_dispatch.broadcast_results_sync_due_task",
        queue="default",
        description="Syncs senders' confirmations and recipients' results of recent broadcasts.",
        every_seconds=300,
        using=kwargs.get("using"),
    )
    return sweep or results
