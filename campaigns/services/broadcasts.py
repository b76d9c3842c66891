"""Broadcast planning: audience, contact policy, preview and recipient rows (PRODUCT.md D2, D3).

Interface (other services call these):
- :func:`broadcast_create` makes and launches a broadcast in one go (automatic senders: SOP steps,
  group SOP posts); idempotent on ``origin_key``.
- :func:`broadcast_plan` materializes the audience into recipient rows in bulk and applies the
  contact policy; the dispatch (``broadcast_dispatch``) takes it from there.

The life cycle up to the dispatch: ``draft`` → (:func:`broadcast_launch`) ``scheduled`` when it has
a time in the future or is launched inside quiet hours, else ``planning`` → (:func:`broadcast_plan`,
a task on the ``bulk`` queue) ``sending``, with one :class:`BroadcastRecipient` per targeted customer
or group. :func:`broadcast_due` (beat, every minute) moves due scheduled broadcasts to ``planning``,
or to ``failed`` when found more than ``SOP_MISSED_GRACE_HOURS`` late.

Planning is one ``INSERT … SELECT … ON CONFLICT DO NOTHING`` (QUALITY.md P1b): the sender is chosen
in SQL (:data:`SENDER_RULES`), every suppressed target keeps its row with its reason, and planning
twice writes nothing twice. The funnel's first two counts are recomputed from the rows.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import EmptyResultSet, ValidationError
from django.db import IntegrityError, connection, transaction
from django.db.models import Count, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Customer, Follow
from groups.models import GroupChat
from scrm.org.models import Staff
from scrm.schedules import periodic_task_ensure

from ..models import Broadcast, BroadcastAttachment, BroadcastRecipient
from ..models.welcome import MAX_ATTACHMENTS, TEXT_MAX_BYTES
from .contact_policy import receive_capped_sql, receive_window
from .quiet_hours import quiet_until

logger = logging.getLogger(__name__)

Status = Broadcast.Status
Reason = BroadcastRecipient.Reason

#: How a customer followed by several staff gets one sender: the ORDER BY over their active follows
#: (with an active staff member). WeCom itself hands a customer to the member who most recently
#: added them, so that is the default.
SENDER_RULES = {
    "last_added": ("f.added_at DESC", "f.id DESC"),
    "first_added": ("f.added_at ASC", "f.id ASC"),
}
SENDER_RULE_LABELS = {
    "last_added": "the staff member who added the customer most recently",
    "first_added": "the staff member who added the customer first",
}
#: The keys of a group broadcast's rules; a group matching any of them is targeted.
GROUP_RULE_KEYS = ("owners", "group_tags", "stores", "groups")
#: Recipients per page of the API's and the admin's lists.
DUE_TASK_NAME = "campaigns: broadcasts due"


# --- validation and saving --------------------------------------------------------------------------


def _screen(*texts: str) -> list[str]:
    """The sensitive-word screen (campaigns.services.content); blocking words raise."""
    from .content import sensitive_words_check

    return sensitive_words_check(*[t for t in texts if t])


def _texts(broadcast: Broadcast, attachments: Iterable[BroadcastAttachment]) -> list[str]:
    texts = [broadcast.text]
    for attachment in attachments:
        texts += [attachment.title, attachment.description]
    return texts


def _group_rules_clean(rules) -> dict:
    if not isinstance(rules, dict):
        raise ValidationError({"rules": [_("Rules must be a JSON object.")]})
    unknown = sorted(set(rules) - set(GROUP_RULE_KEYS))
    if unknown:
        raise ValidationError(
            {
                "rules": [
                    _("Unknown keys: %(keys)s. Use %(known)s.")
                    % {"keys": ", ".join(unknown), "known": ", ".join(GROUP_RULE_KEYS)}
                ]
            }
        )
    clean = {}
    for key in GROUP_RULE_KEYS:
        values = rules.get(key) or []
        if not isinstance(values, list) or not all(
            isinstance(v, int) and not isinstance(v, bool) for v in values
        ):
            raise ValidationError({"rules": [_("%(key)s must be a list of ids.") % {"key": key}]})
        if values:
            clean[key] = sorted(set(values))
    if not clean:
        raise ValidationError(
            {"rules": [_("Choose the groups: by owner, group tag, store or a list of groups.")]}
        )
    return clean


def _audience_clean(broadcast: Broadcast) -> None:
    """Normalize the audience in place; raises ValidationError when there is none or it is bad."""
    if broadcast.kind == Broadcast.Kind.GROUPS:
        broadcast.rules = _group_rules_clean(broadcast.rules)
        broadcast.segment = None
        return
    if broadcast.customer_ids is not None:
        ids = broadcast.customer_ids
        if not isinstance(ids, list) or not all(isinstance(v, int) for v in ids):
            raise ValidationError({"customer_ids": [_("A list of customer ids.")]})
        broadcast.customer_ids = sorted(set(ids))
        return
    rules = broadcast.rules or {}
    if rules:
        from customers.segments import segment_rules_clean

        try:
            broadcast.rules = segment_rules_clean(rules)
        except ValidationError as error:
            raise ValidationError({"rules": error.messages}) from None
    if broadcast.segment_id is None and not broadcast.rules:
        raise ValidationError({"segment": [_("Choose a segment or give rules: an audience is required.")]})


def broadcast_validate(*, broadcast: Broadcast, attachments: list[BroadcastAttachment] | None) -> None:
    """WeCom's limits, the audience and the sensitive words; ``ValidationError`` by field.

    With ``attachments=None`` the broadcast alone is checked (a form, before its inline); with the
    list, also the attachments and that there is a text or an attachment.
    """
    errors: dict[str, list] = {}
    if broadcast.sender_rule not in SENDER_RULES:
        errors["sender_rule"] = [_("Unknown sender rule.")]
    if len(broadcast.text.encode()) > TEXT_MAX_BYTES:
        errors["text"] = [_("At most 4000 bytes (about 1,300 Chinese characters).")]
    if attachments is not None and len(attachments) > MAX_ATTACHMENTS:
        errors["attachments"] = [_("At most 9 attachments.")]
    elif attachments is not None:
        problems = []
        for number, attachment in enumerate(attachments, start=1):
            attachment.broadcast = broadcast
            try:
                attachment.full_clean(exclude=["broadcast"])
            except ValidationError as error:
                problems += [f"#{number}: {text}" for text in error.messages]
        if problems:
            errors["attachments"] = problems
    if attachments is not None and not broadcast.text.strip() and not attachments:
        errors.setdefault("text", []).append(_("Give a text, an attachment, or both."))
    try:
        _audience_clean(broadcast)
    except ValidationError as error:
        for key, messages in error.message_dict.items():
            errors.setdefault(key, []).extend(messages)
    if errors:
        raise ValidationError(errors)
    _screen(*_texts(broadcast, attachments or ()))


def broadcast_save(
    *, broadcast: Broadcast, attachments: Iterable[BroadcastAttachment] | None = None
) -> Broadcast:
    """Validate and save a draft (and, when given, replace its attachments by ``attachments``).

    Checks WeCom's limits (text ≤ 4000 bytes, ≤ 9 attachments of WeCom's shapes), the audience
    and the sensitive words (a blocking word is a ``ValidationError`` naming it). Only drafts may
    be changed: a launched broadcast is what was sent.
    """
    if broadcast.pk and Broadcast.objects.filter(pk=broadcast.pk).exclude(status=Status.DRAFT).exists():
        raise ValidationError(_("Only drafts can be changed; this broadcast was launched."))
    broadcast.status = Status.DRAFT if not broadcast.pk else broadcast.status
    broadcast.full_clean(exclude=["segment", "rules"])
    new = list(attachments) if attachments is not None else None
    current = new if new is not None else (list(broadcast.attachments.all()) if broadcast.pk else [])
    broadcast_validate(broadcast=broadcast, attachments=current)
    with transaction.atomic():
        broadcast.save()
        if new is not None:
            broadcast.attachments.exclude(pk__in=[a.pk for a in new if a.pk]).delete()
            for position, attachment in enumerate(new):
                attachment.broadcast = broadcast
                attachment.position = position
                attachment.save()
    return broadcast


def broadcast_delete(*, broadcast: Broadcast) -> None:
    """Delete a draft; launched broadcasts stay, as the record of what was sent."""
    if broadcast.status != Status.DRAFT:
        raise ValidationError(_("Only drafts can be deleted; cancel a launched broadcast instead."))
    broadcast.delete()


# --- launching and the schedule ---------------------------------------------------------------------


def _plan_later(broadcast_id: int) -> None:
    from ..tasks.broadcasts import broadcast_plan_task

    transaction.on_commit(lambda: broadcast_plan_task.delay(broadcast_id))


def broadcast_launch(*, broadcast: Broadcast, now: datetime | None = None) -> Broadcast:
    """Launch a draft: now, or at its ``scheduled_at``.

    A broadcast launched (or falling due) inside quiet hours waits for their end: it is scheduled
    at :func:`~campaigns.services.quiet_hours.quiet_until`. Otherwise it is planned right away by a
    task on the ``bulk`` queue.
    """
    now = now or timezone.now()
    with transaction.atomic():
        locked = Broadcast.objects.select_for_update().get(pk=broadcast.pk)
        if locked.status != Status.DRAFT:
            raise ValidationError(_("This broadcast was launched already."))
        attachments = list(locked.attachments.all())
        broadcast_validate(broadcast=locked, attachments=attachments)
        if locked.scheduled_at and locked.scheduled_at > now:
            locked.status = Status.SCHEDULED
        elif (until := quiet_until(now)) is not None:
            locked.status, locked.scheduled_at = Status.SCHEDULED, until
        else:
            locked.status = Status.PLANNING
            locked.started_at = now
            _plan_later(locked.pk)
        locked.error = ""
        locked.save(
            update_fields=[
                "status",
                "scheduled_at",
                "started_at",
                "error",
                "rules",
                "customer_ids",
                "updated_at",
            ]
        )
    broadcast.refresh_from_db()
    return broadcast


def broadcast_due(*, now: datetime | None = None) -> int:
    """Start the scheduled broadcasts that fell due; returns how many were started.

    Claimed with ``SELECT … FOR UPDATE SKIP LOCKED``: two beats never start one twice. One found
    more than ``SOP_MISSED_GRACE_HOURS`` late (the scheduler or the workers were down) is failed
    with the reason rather than sent hours after its moment; one due inside quiet hours waits for
    their end.
    """
    now = now or timezone.now()
    grace = timedelta(hours=settings.SOP_MISSED_GRACE_HOURS)
    started = 0
    with transaction.atomic():
        due = list(
            Broadcast.objects.select_for_update(skip_locked=True)
            .filter(status=Status.SCHEDULED, scheduled_at__lte=now)
            .order_by("scheduled_at", "id")[:100]
        )
        for broadcast in due:
            fields = ["status", "error", "updated_at"]
            if now - broadcast.scheduled_at > grace:
                broadcast.status = Status.FAILED
                broadcast.finished_at = now
                broadcast.error = _(
                    "Missed: found %(hours).1f hours after its time (more than %(grace)s), "
                    "so it was not sent."
                ) % {
                    "hours": (now - broadcast.scheduled_at).total_seconds() / 3600,
                    "grace": settings.SOP_MISSED_GRACE_HOURS,
                }
                fields.append("finished_at")
            elif (until := quiet_until(now)) is not None:
                broadcast.scheduled_at = until
                fields.append("scheduled_at")
            else:
                broadcast.status = Status.PLANNING
                broadcast.started_at = now
                fields.append("started_at")
                _plan_later(broadcast.pk)
                started += 1
            broadcast.save(update_fields=fields)
    return started


def broadcast_due_schedule_ensure(**kwargs: object) -> bool:
    """Create the every-minute schedule of :func:`broadcast_due` unless one has its name."""
    return periodic_task_ensure(
        name=DUE_TASK_NAME,
        task="campaigns.tasks.broadcasts.broadcast_due_task",
        queue="default",
        description="Starts scheduled broadcasts when they fall due (after quiet hours).",
        every_seconds=60,
        using=kwargs.get("using"),
    )


def broadcast_create(
    *,
    kind: str,
    name: str,
    text: str = "",
    attachments: Sequence[dict] = (),
    segment_id: int | None = None,
    rules: dict | None = None,
    customer_ids: Sequence[int] | None = None,
    scheduled_at: datetime | None = None,
    origin: str = Broadcast.Origin.SOP,
    origin_key: str | None = None,
) -> Broadcast:
    """Create a broadcast and launch it (now or at ``scheduled_at``).

    ``attachments`` are dicts of :class:`~campaigns.models.AttachmentContent` fields. For groups,
    ``rules`` is ``{"owners", "group_tags", "stores", "groups"}``. ``customer_ids`` names the
    customers outright (an SOP step's due enrolments) instead of a segment or rules. A second call
    with the same ``origin_key`` returns the first broadcast and creates nothing.
    """
    if origin_key and (found := Broadcast.objects.filter(origin_key=origin_key).first()):
        return found
    broadcast = Broadcast(
        kind=kind,
        name=name[:128],
        text=text,
        segment_id=segment_id,
        rules=rules or {},
        customer_ids=list(customer_ids) if customer_ids is not None else None,
        scheduled_at=scheduled_at,
        origin=origin,
        origin_key=origin_key,
    )
    try:
        with transaction.atomic():
            broadcast_save(
                broadcast=broadcast, attachments=[BroadcastAttachment(**item) for item in attachments]
            )
            broadcast_launch(broadcast=broadcast)
    except (IntegrityError, ValidationError):
        # A concurrent call with the same key won the race (its row is the unique key's).
        found = Broadcast.objects.filter(origin_key=origin_key).first() if origin_key else None
        if found is None:
            raise
        return found
    return broadcast


def broadcast_sync_request(*, broadcast: Broadcast) -> None:
    """Queue a sync of the senders' confirmations and the recipients' results from WeCom (the
    dispatch's ``broadcast_results_sync``, on the ``default`` queue): one call per sender batch."""
    if broadcast.status in (Status.DRAFT, Status.SCHEDULED, Status.PLANNING) or broadcast.planned_at is None:
        raise ValidationError(_("Nothing was handed to WeCom yet."))
    from ..tasks.broadcast_dispatch import broadcast_results_sync_task

    broadcast_id = broadcast.pk
    transaction.on_commit(lambda: broadcast_results_sync_task.delay(broadcast_id))


# --- the audience in SQL ----------------------------------------------------------------------------


def _customer_audience_sql(broadcast: Broadcast) -> tuple[str, list]:
    """``SELECT id, external_userid, opted_out_at`` of the targeted customers (unscoped: the
    broadcast's audience, not its author's view)."""
    customers = Customer.objects.all()
    if broadcast.customer_ids is not None:
        customers = customers.filter(id__in=broadcast.customer_ids)
    else:
        from customers.segments import segment_filter

        if broadcast.segment_id is not None:
            customers = segment_filter(customers, broadcast.segment.rules or {})
        if broadcast.rules:
            customers = segment_filter(customers, broadcast.rules)
    try:
        sql, params = (
            customers.order_by().values("id", "external_userid", "opted_out_at").query.sql_with_params()
        )
    except EmptyResultSet:  # rules that can match no one (an empty list of ids)
        table = Customer._meta.db_table
        return f"SELECT id, external_userid, opted_out_at FROM {table} WHERE 1 = 0", []
    return sql, list(params)


def _customer_rows_sql(broadcast: Broadcast, *, now: datetime, with_sender: bool = True) -> tuple[str, list]:
    """``SELECT customer_id, target, sender_id, status, reason`` for every targeted customer.

    Suppression, first reason wins: opted out (the customer's wish), no active follow by an active
    staff member (no longer a friend of anyone who could send), then the receive cap. The sender
    is the first active follow by :data:`SENDER_RULES`: ``DISTINCT ON`` over the audience's
    follows on PostgreSQL (one sort), a correlated ``LIMIT 1`` elsewhere. The preview asks only
    whether a sender exists (``with_sender=False``: a hashed ``GROUP BY`` or an ``EXISTS``).
    """
    audience, audience_params = _customer_audience_sql(broadcast)
    window = receive_window(moment=now)
    capped, capped_params = receive_capped_sql(broadcast_id=broadcast.pk or 0, window=window)
    follows, staff = Follow._meta.db_table, Staff._meta.db_table
    active_follow = "f.status = 'active' AND s.status = 'active'"
    order = ", ".join(SENDER_RULES.get(broadcast.sender_rule, SENDER_RULES["last_added"]))
    if connection.vendor == "postgresql":
        # The audience is evaluated once (a CTE read twice is materialized): its rows, and the
        # follows of its customers.
        if with_sender:
            chosen = f"""SELECT DISTINCT ON (f.customer_id) f.customer_id, f.staff_id
                FROM {follows} f JOIN {staff} s ON s.id = f.staff_id JOIN aud ON aud.id = f.customer_id
                WHERE {active_follow}
                ORDER BY f.customer_id, {order}"""
        else:  # whether there is a sender at all: hashed, no sort
            chosen = f"""SELECT f.customer_id, MIN(f.staff_id) AS staff_id
                FROM {follows} f JOIN {staff} s ON s.id = f.staff_id JOIN aud ON aud.id = f.customer_id
                WHERE {active_follow}
                GROUP BY f.customer_id"""
        prefix = f"WITH aud AS ({audience}), snd AS ({chosen})"
        sender = "snd.staff_id"
        source = "aud c LEFT JOIN snd ON snd.customer_id = c.id"
    else:
        prefix = ""
        if with_sender:
            sender = f"""(SELECT f.staff_id FROM {follows} f JOIN {staff} s ON s.id = f.staff_id
                WHERE f.customer_id = c.id AND {active_follow} ORDER BY {order} LIMIT 1)"""
        else:
            sender = f"""(CASE WHEN EXISTS (
                SELECT 1 FROM {follows} f JOIN {staff} s ON s.id = f.staff_id
                WHERE f.customer_id = c.id AND {active_follow}
            ) THEN 0 END)"""
        source = f"({audience}) c"
    sql = f"""
        SELECT x.id AS customer_id, x.external_userid AS target, x.sender_id,
            CASE WHEN x.reason = '' THEN 'pending' ELSE 'suppressed' END AS status, x.reason
        FROM (
            {prefix}
            SELECT c.id, c.external_userid, {sender} AS sender_id,
                CASE WHEN c.opted_out_at IS NOT NULL THEN '{Reason.OPTED_OUT}'
                     WHEN {sender} IS NULL THEN '{Reason.NO_FOLLOW}'
                     WHEN cap.target IS NOT NULL THEN '{Reason.RECEIVE_CAP}'
                     ELSE '' END AS reason
            FROM {source}
            LEFT JOIN ({capped}) cap ON cap.target = c.external_userid
        ) x
    """
    return sql, [*audience_params, *capped_params]


def _group_rows_sql(broadcast: Broadcast, *, now: datetime) -> tuple[str, list]:
    """``SELECT group_id, target, sender_id, status, reason`` for every targeted group: the owner
    sends; a dismissed group, one without an active owner or one at the receive cap is left out."""
    rules = broadcast.rules or {}
    q = Q(pk__in=[])
    if rules.get("owners"):
        q |= Q(owner_id__in=rules["owners"])
    if rules.get("group_tags"):
        q |= Q(tags__in=rules["group_tags"])
    if rules.get("stores"):
        q |= Q(store_id__in=rules["stores"])
    if rules.get("groups"):
        q |= Q(id__in=rules["groups"])
    try:
        audience, audience_params = (
            GroupChat.objects.filter(q).order_by().values("id").query.sql_with_params()
        )
    except EmptyResultSet:  # no criterion: no group
        audience, audience_params = f"SELECT id FROM {GroupChat._meta.db_table} WHERE 1 = 0", ()
    capped, capped_params = receive_capped_sql(
        broadcast_id=broadcast.pk or 0, window=receive_window(moment=now)
    )
    groups, staff = GroupChat._meta.db_table, Staff._meta.db_table
    sql = f"""
        SELECT g.id AS group_id, g.chat_id AS target,
            CASE WHEN s.id IS NOT NULL THEN g.owner_id END AS sender_id,
            CASE WHEN g.status = 'dismissed' OR g.dismissed_at IS NOT NULL OR s.id IS NULL
                   OR cap.target IS NOT NULL THEN 'suppressed' ELSE 'pending' END AS status,
            CASE WHEN g.status = 'dismissed' OR g.dismissed_at IS NOT NULL THEN '{Reason.GROUP_DISMISSED}'
                 WHEN s.id IS NULL THEN '{Reason.NO_OWNER}'
                 WHEN cap.target IS NOT NULL THEN '{Reason.RECEIVE_CAP}'
                 ELSE '' END AS reason
        FROM {groups} g
        LEFT JOIN {staff} s ON s.id = g.owner_id AND s.status = 'active'
        LEFT JOIN ({capped}) cap ON cap.target = g.chat_id
        WHERE g.id IN ({audience})
    """
    return sql, [*capped_params, *audience_params]


# --- preview and planning ---------------------------------------------------------------------------


def _counts(rows: Iterable[tuple[str, str, int]]) -> dict:
    """The funnel's first counts from (status, reason, count) groups."""
    suppressed = {reason: 0 for reason in Reason.values}
    targeted = 0
    for status, reason, count in rows:
        targeted += count
        if status == BroadcastRecipient.Status.SUPPRESSED:
            suppressed[reason] = suppressed.get(reason, 0) + count
    left_out = sum(suppressed.values())
    return {
        "targeted": targeted,
        "eligible": targeted - left_out,
        "suppressed": suppressed,
        "suppressed_total": left_out,
        "no_longer_friends": suppressed[Reason.NO_FOLLOW],
    }


def broadcast_preview(*, broadcast: Broadcast, now: datetime | None = None) -> dict:
    """What planning now would give, counted in SQL without writing a row: ``targeted``,
    ``eligible``, ``suppressed`` by reason (and ``suppressed_total``), ``no_longer_friends``.

    A planned broadcast's preview counts its rows instead (what was actually planned).
    """
    if broadcast.planned_at is not None:
        rows = _rows_counted(broadcast)
        return _counts((s if s == "suppressed" else "pending", r, n) for s, r, n in rows)
    now = now or timezone.now()
    if broadcast.kind == Broadcast.Kind.GROUPS:
        sql, params = _group_rows_sql(broadcast, now=now)
    else:
        sql, params = _customer_rows_sql(broadcast, now=now, with_sender=False)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT t.status, t.reason, COUNT(*) FROM ({sql}) t GROUP BY t.status, t.reason", params
        )
        return _counts(cursor.fetchall())


def _rows_counted(broadcast: Broadcast) -> list[tuple[str, str, int]]:
    return list(
        BroadcastRecipient.objects.filter(broadcast=broadcast)
        .values("status", "reason")
        .annotate(n=Count("id"))
        .order_by()
        .values_list("status", "reason", "n")
    )


def _insert_rows(broadcast: Broadcast, *, now: datetime) -> tuple[int, list[tuple[str, str, int]]]:
    """Insert the rows; ``(new rows, (status, reason, count) of all the broadcast's rows)``.

    A first plan (no row yet, the broadcast locked) inserts plainly and, on PostgreSQL, counts what
    it inserted in the same statement (``WITH ins AS (INSERT … RETURNING)``): no second pass over
    the rows and no speculative insertion. A later run (a redelivered task) skips existing targets
    with ``ON CONFLICT DO NOTHING`` and recounts.
    """
    table = BroadcastRecipient._meta.db_table
    if broadcast.kind == Broadcast.Kind.GROUPS:
        sql, params = _group_rows_sql(broadcast, now=now)
        columns, values = "group_id, customer_id", "t.group_id, NULL"
    else:
        sql, params = _customer_rows_sql(broadcast, now=now)
        columns, values = "customer_id, group_id", "t.customer_id, NULL"
    fresh = not BroadcastRecipient.objects.filter(broadcast=broadcast).exists()
    insert = f"""
        INSERT INTO {table}
            (broadcast_id, {columns}, target, sender_id, batch_id, status, reason, handed_at, sent_at)
        SELECT %s, {values}, t.target, t.sender_id, NULL, t.status, t.reason, NULL, NULL
        FROM ({sql}) t
        WHERE true
        {"" if fresh else "ON CONFLICT (broadcast_id, target) DO NOTHING"}
    """
    with connection.cursor() as cursor:
        if fresh and connection.vendor == "postgresql":
            cursor.execute(
                f"WITH ins AS ({insert} RETURNING status, reason) "
                "SELECT status, reason, COUNT(*) FROM ins GROUP BY status, reason",
                [broadcast.pk, *params],
            )
            counted = [tuple(row) for row in cursor.fetchall()]
            return sum(row[2] for row in counted), counted
        cursor.execute(insert, [broadcast.pk, *params])
        inserted = max(cursor.rowcount, 0)
    return inserted, _rows_counted(broadcast)


def broadcast_plan(*, broadcast_id: int, now: datetime | None = None) -> None:
    """Write one recipient row per targeted customer or group, in bulk, each with its sender or
    its suppression reason, and the funnel's first counts; then start the dispatch.

    One transaction, with the broadcast row locked: a second run (a redelivered task) inserts
    nothing new (``ON CONFLICT DO NOTHING`` on (broadcast, target)) and recounts the same figures.
    Only a ``planning`` or ``sending`` broadcast is planned. Inside quiet hours it goes back to
    ``scheduled`` at their end. Content that now holds a blocking sensitive word fails it.
    """
    from .broadcast_dispatch import broadcast_dispatch

    now = now or timezone.now()
    with transaction.atomic():
        broadcast = Broadcast.objects.select_for_update().filter(pk=broadcast_id).first()
        if broadcast is None or broadcast.status not in (Status.PLANNING, Status.SENDING):
            return
        if broadcast.status == Status.PLANNING and (until := quiet_until(now)) is not None:
            broadcast.status, broadcast.scheduled_at = Status.SCHEDULED, until
            broadcast.save(update_fields=["status", "scheduled_at", "updated_at"])
            return
        try:
            _screen(*_texts(broadcast, broadcast.attachments.all()))
        except ValidationError as error:
            broadcast.status, broadcast.finished_at = Status.FAILED, now
            broadcast.error = " ".join(error.messages)
            broadcast.save(update_fields=["status", "finished_at", "error", "updated_at"])
            return
        inserted, counted = _insert_rows(broadcast, now=now)
        counts = _counts(counted)
        broadcast.targeted, broadcast.eligible = counts["targeted"], counts["eligible"]
        broadcast.planned_at = broadcast.planned_at or now
        broadcast.status = Status.SENDING
        broadcast.save(update_fields=["targeted", "eligible", "planned_at", "status", "updated_at"])
        logger.info(
            "broadcast %s planned: %s new rows, %s eligible", broadcast_id, inserted, counts["eligible"]
        )
        transaction.on_commit(lambda: broadcast_dispatch(broadcast_id=broadcast_id))
