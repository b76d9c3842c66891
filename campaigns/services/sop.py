"""Customer SOP services (PRODUCT.md E1): rules, enrolment, the minute tick, exits.

Every service takes ``now`` (or an anchor) from its caller: the Celery task passes the wall clock,
tests pass a fixed one.

- :func:`sop_rule_save` validates and writes a rule with its steps.
- :func:`sop_enrol` enrols customers (idempotent: ``INSERT … ON CONFLICT DO NOTHING`` on the
  enrolment's unique constraints) and plans their occurrences, due times computed once.
- :func:`sop_follow_added` is the channel / live code trigger, called by the add handler.
- :func:`sop_tagged_enrol` reads the timeline's tagged events after a cursor kept in the database.
- :func:`sop_segment_enrol` enrols a segment's new matches with one ``INSERT … SELECT``.
- :func:`sop_exits_run` ends enrolments whose exit condition holds.
- :func:`sop_occurrences_run` claims due occurrences (``FOR UPDATE SKIP LOCKED``) and creates
  their staff tasks or broadcasts in the same transaction, so two beats never do a step twice.
- :func:`sop_tick` is all of the above, once a minute.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.db.models import Exists, F, Max, OuterRef, Q, QuerySet, Subquery
from django.utils.translation import gettext as _

from customers.models import Customer, CustomerEvent, Follow, FollowTag
from scrm.schedules import periodic_task_ensure

from ..models import SopCursor, SopEnrolment, SopOccurrence, SopRule, SopStep, SopStepAttachment, StaffTask
from ..models.welcome import MAX_ATTACHMENTS, TEXT_MAX_BYTES
from .quiet_hours import quiet_until

logger = logging.getLogger(__name__)

__all__ = [
    "SopEntrant",
    "SopTickResult",
    "sop_enrol",
    "sop_exits_run",
    "sop_follow_added",
    "sop_occurrences_run",
    "sop_rule_delete",
    "sop_rule_errors",
    "sop_rule_save",
    "sop_schedule_ensure",
    "sop_segment_enrol",
    "sop_segments_run",
    "sop_step_due",
    "sop_step_errors",
    "sop_tagged_enrol",
    "sop_tick",
]

TICK_TASK_NAME = "campaigns.sop_tick"
TAGGED_CURSOR = "tagged_events"
#: Rows claimed or planned per transaction: short locks, bounded memory.
BATCH = 500
#: Tagged events read per tick at most (the rest wait for the next minute).
TAGGED_MAX_PER_TICK = 20_000
#: The stored exit reasons (English, like the skipped reasons: they are records, not messages).
EXIT_FOLLOW_DELETED = "follow deleted"
EXIT_TAG_REMOVED = "tag removed"
EXIT_GOAL_REACHED = "goal tag reached"

_ATTACHMENT_FIELDS = [
    "kind",
    "title",
    "link_url",
    "description",
    "pic_url",
    "appid",
    "page",
    "file_name",
    "file_content",
    "file_size",
    "media_id",
    "media_uploaded_at",
]


class SopEntrant(NamedTuple):
    """A customer entering an SOP: who does the tasks, and from which moment the steps count."""

    customer_id: int
    staff_id: int
    anchor_at: datetime


# --- Rules -----------------------------------------------------------------------------------


def sop_rule_errors(rule: SopRule) -> dict[str, list[str]]:
    """What is wrong with ``rule``'s own fields, by field (empty when nothing is)."""
    errors: dict[str, list[str]] = defaultdict(list)
    needs = {
        SopRule.Trigger.CHANNEL: "channel",
        SopRule.Trigger.LIVE_CODE: "live_code",
        SopRule.Trigger.TAGGED: "trigger_tag",
        SopRule.Trigger.SEGMENT: "segment",
    }
    if rule.trigger not in needs:
        errors["trigger"].append(_("Choose a trigger."))
    else:
        for trigger, field in needs.items():
            value = getattr(rule, f"{field}_id")
            if trigger == rule.trigger and value is None:
                errors[field].append(_("This trigger needs it."))
            elif trigger != rule.trigger and value is not None:
                errors[field].append(_("Only the matching trigger uses it; leave it empty."))
    if rule.trigger == SopRule.Trigger.SEGMENT and rule.allow_reenrol:
        # A segment is a state, not an event: a customer still in it would be enrolled again at
        # every evaluation.
        errors["allow_reenrol"].append(_("Re-enrolment needs an event trigger (channel, live code, tag)."))
    try:
        ZoneInfo(rule.time_zone or "")
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"].append(_("Unknown time zone %(name)s.") % {"name": rule.time_zone})
    if rule.goal_tag_id is not None and rule.goal_tag_id == rule.trigger_tag_id:
        errors["goal_tag"].append(_("The goal tag cannot be the trigger tag."))
    return errors


def sop_step_errors(step: SopStep, attachments: Sequence[SopStepAttachment]) -> list[str]:
    """What is wrong with one step (its offset, its content, its attachments)."""
    errors: list[str] = []
    by_hours = step.hours is not None
    by_day = step.day is not None or step.at_time is not None
    if by_hours == by_day:
        errors.append(_("Give either a day and a time (day N at HH:MM) or a number of hours after."))
    elif by_day and (step.day is None or step.at_time is None):
        errors.append(_("A day offset needs both the day and the time."))
    if not (step.text.strip() or attachments or step.material_ids):
        errors.append(_("Give the content: a text, attachments or library materials."))
    if step.material_ids:
        from ..models import Material

        found = set(Material.objects.filter(pk__in=list(step.material_ids)).values_list("pk", flat=True))
        missing = sorted(set(step.material_ids) - found)
        if missing:
            errors.append(_("No library material %(ids)s.") % {"ids": ", ".join(str(pk) for pk in missing)})
    if len(step.text.encode()) > TEXT_MAX_BYTES:
        errors.append(_("The text is longer than WeCom's %(max)s bytes.") % {"max": TEXT_MAX_BYTES})
    if len(attachments) > MAX_ATTACHMENTS:
        errors.append(_("At most %(count)s attachments.") % {"count": MAX_ATTACHMENTS})
    for attachment in attachments:
        for messages in attachment.attachment_errors().values():
            errors.extend(str(m) for m in messages)
    return errors


@transaction.atomic
def sop_rule_save(
    *,
    rule: SopRule,
    steps: Sequence[tuple[SopStep, Sequence[SopStepAttachment] | None]] | None = None,
    user=None,
) -> SopRule:
    """Validate and save ``rule``; with ``steps``, replace its steps by them, in order.

    Each step comes with its attachments (None keeps a saved step's attachments). Raises
    :class:`ValidationError` with a message per field (``steps``: one per bad step, numbered).
    Texts are screened by the sensitive-word list. Enrolments already planned keep their
    occurrences; a removed step's occurrences go with it.
    """
    from .content import sensitive_words_check

    errors = sop_rule_errors(rule)
    step_items = list(steps) if steps is not None else None
    if step_items is not None:
        for number, (step, attachments) in enumerate(step_items, start=1):
            saved = (
                list(step.attachments.all()) if attachments is None and step.pk else list(attachments or ())
            )
            for message in sop_step_errors(step, saved):
                errors["steps"].append(_("Step %(n)s: %(message)s") % {"n": number, "message": message})
    if errors:
        raise ValidationError(dict(errors))
    texts = [rule.name] + [step.text for step, _a in step_items or ()]
    sensitive_words_check(*texts)
    if rule.pk is None and user is not None and user.is_authenticated:
        rule.created_by = user
    rule.save()
    if step_items is not None:
        keep = [step.pk for step, _a in step_items if step.pk]
        rule.steps.exclude(pk__in=keep).delete()
        for position, (step, attachments) in enumerate(step_items):
            step.rule = rule
            step.position = position
            step.save()
            if attachments is not None:
                kept = [a.pk for a in attachments if a.pk]
                step.attachments.exclude(pk__in=kept).delete()
                for index, attachment in enumerate(attachments):
                    attachment.step = step
                    attachment.position = index
                    attachment.save()
    return rule


@transaction.atomic
def sop_rule_delete(*, rule: SopRule) -> None:
    """Delete a rule with its steps, enrolments and occurrences; its staff tasks still open are
    canceled (done ones stay as the staff's record)."""
    keys = [
        f"sop:{pk}"
        for pk in SopOccurrence.objects.filter(
            enrolment__rule=rule, status=SopOccurrence.Status.DONE
        ).values_list("pk", flat=True)
    ]
    _tasks_cancel(keys=keys, reason="SOP deleted")
    rule.delete()


# --- Enrolment -------------------------------------------------------------------------------


def sop_step_due(*, step: SopStep, anchor_at: datetime, tz: ZoneInfo) -> datetime:
    """When ``step`` falls due for an enrolment anchored at ``anchor_at``.

    "N hours after": the anchor plus N hours. "Day N at HH:MM": the anchor's local date (in the
    rule's time zone) plus N days, at HH:MM; on day 0, a time already past at the anchor runs at
    once (at the anchor). A due time inside the quiet hours moves to their end.
    """
    if step.hours is not None:
        due = anchor_at + timedelta(hours=step.hours)
    else:
        day = anchor_at.astimezone(tz).date() + timedelta(days=step.day or 0)
        due = datetime.combine(day, step.at_time, tzinfo=tz)
        due = max(due, anchor_at)
    return quiet_until(due) or due


def _occurrences_plan(*, rule: SopRule, enrolments: QuerySet[SopEnrolment], now: datetime) -> int:
    """Create the occurrences of the enrolments not planned yet; returns how many enrolments."""
    steps = list(rule.steps.all())
    tz = ZoneInfo(rule.time_zone)
    planned = 0
    while True:
        chunk = list(enrolments.filter(planned_at__isnull=True).values_list("id", "anchor_at")[:BATCH])
        if not chunk:
            return planned
        rows = [
            SopOccurrence(enrolment_id=pk, step=step, due_at=sop_step_due(step=step, anchor_at=anchor, tz=tz))
            for pk, anchor in chunk
            for step in steps
        ]
        SopOccurrence.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
        ids = [pk for pk, _a in chunk]
        fields: dict[str, object] = {"planned_at": now}
        if not steps:  # nothing to do: completed as soon as it began
            fields.update(status=SopEnrolment.Status.COMPLETED, exited_at=now)
        SopEnrolment.objects.filter(pk__in=ids).update(**fields)
        planned += len(ids)


@transaction.atomic
def sop_enrol(*, rule: SopRule, entrants: Iterable[SopEntrant], now: datetime) -> int:
    """Enrol these customers in ``rule`` and plan their occurrences; return how many are new.

    Idempotent: a customer with an active enrolment in the rule, or (without re-enrolment) any
    enrolment, is left as is, by the unique constraints rather than by a prior read, so two
    concurrent triggers enrol once. With re-enrolment, the new enrolment's ``sequence`` follows
    the customer's last one.
    """
    entrants = list({e.customer_id: e for e in entrants}.values())
    if not entrants:
        return 0
    customer_ids = [e.customer_id for e in entrants]
    last: dict[int, int] = {}
    if rule.allow_reenrol:
        last = dict(
            SopEnrolment.objects.filter(rule=rule, customer_id__in=customer_ids)
            .values("customer_id")
            .annotate(last=Max("sequence"))
            .values_list("customer_id", "last")
        )
    rows = [
        SopEnrolment(
            rule=rule,
            customer_id=e.customer_id,
            staff_id=e.staff_id,
            anchor_at=e.anchor_at,
            sequence=last.get(e.customer_id, 0) + 1,
        )
        for e in entrants
    ]
    SopEnrolment.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return _occurrences_plan(
        rule=rule,
        enrolments=SopEnrolment.objects.filter(rule=rule, customer_id__in=customer_ids),
        now=now,
    )


def sop_follow_added(*, follow: Follow, state: str, added_at: datetime, now: datetime) -> int:
    """The channel and live code triggers: enrol the customer of a new ``follow`` in every active
    rule whose channel, or live code's channel, has ``state``; the follow's staff member gets the
    tasks, and the steps count from ``added_at``."""
    if not state:
        return 0
    rules = SopRule.objects.filter(active=True).filter(
        Q(trigger=SopRule.Trigger.CHANNEL, channel__state=state)
        | Q(trigger=SopRule.Trigger.LIVE_CODE, live_code__channel__state=state)
    )
    entrant = SopEntrant(follow.customer_id, follow.staff_id, added_at)
    return sum(sop_enrol(rule=rule, entrants=[entrant], now=now) for rule in rules)


def _latest_staff(customer_ids: Iterable[int]) -> dict[int, int]:
    """``{customer_id: staff_id}`` of each customer's most recent active follow."""
    staff: dict[int, int] = {}
    rows = (
        Follow.objects.filter(customer_id__in=list(customer_ids), status=Follow.Status.ACTIVE)
        .order_by("customer_id", "added_at", "id")
        .values_list("customer_id", "staff_id")
    )
    for customer_id, staff_id in rows:
        staff[customer_id] = staff_id  # the last one wins: the newest
    return staff


def sop_tagged_enrol(*, now: datetime) -> int:
    """The tagged trigger: read the timeline's tagged events after the cursor and enrol their
    customers in the active rules triggered by one of the tags; return how many were enrolled.

    The cursor row is locked (skipping when another tick holds it) and moved in the same
    transaction as the enrolments, so each event is read once. The first run starts at the
    newest event: rules do not act on tags put before the engine ran, nor before they existed.
    The tagger gets the tasks when they follow the customer, else the newest follow's staff.
    """
    enrolled = 0
    read = 0
    while read < TAGGED_MAX_PER_TICK:
        with transaction.atomic():
            if not SopCursor.objects.filter(name=TAGGED_CURSOR).exists():
                newest = CustomerEvent.objects.aggregate(m=Max("id"))["m"] or 0
                SopCursor.objects.bulk_create(
                    [SopCursor(name=TAGGED_CURSOR, position=newest)], ignore_conflicts=True
                )
            cursor = SopCursor.objects.select_for_update(skip_locked=True).filter(name=TAGGED_CURSOR).first()
            if cursor is None:
                return enrolled  # another tick is reading
            events = list(
                CustomerEvent.objects.filter(pk__gt=cursor.position, type=CustomerEvent.Type.TAGGED)
                .order_by("pk")
                .values_list("pk", "customer_id", "staff_id", "payload", "occurred_at", "created_at")[:BATCH]
            )
            if not events:
                return enrolled
            rules = list(
                SopRule.objects.filter(active=True, trigger=SopRule.Trigger.TAGGED, trigger_tag__isnull=False)
            )
            by_tag: dict[int, list[SopRule]] = defaultdict(list)
            for rule in rules:
                by_tag[rule.trigger_tag_id].append(rule)
            wanted: dict[int, dict[int, tuple[int | None, datetime]]] = defaultdict(dict)
            for _pk, customer_id, staff_id, payload, occurred_at, created_at in events:
                tag_ids = {t.get("id") for t in (payload or {}).get("tags", []) if isinstance(t, dict)}
                for tag_id in tag_ids:
                    for rule in by_tag.get(tag_id, ()):
                        if created_at >= rule.created_at:
                            wanted[rule.pk].setdefault(customer_id, (staff_id, occurred_at))
            customers = {c for entrants in wanted.values() for c in entrants}
            newest = _latest_staff(customers)
            following = set(
                Follow.objects.filter(customer_id__in=customers, status=Follow.Status.ACTIVE).values_list(
                    "customer_id", "staff_id"
                )
            )
            for rule in rules:
                entrants = []
                for customer_id, (tagger, occurred_at) in wanted.get(rule.pk, {}).items():
                    staff_id = tagger if (customer_id, tagger) in following else newest.get(customer_id)
                    if staff_id is not None:  # no active follow: no one to do the steps
                        entrants.append(SopEntrant(customer_id, staff_id, occurred_at))
                enrolled += sop_enrol(rule=rule, entrants=entrants, now=now)
            cursor.position = events[-1][0]
            cursor.save(update_fields=["position", "updated_at"])
            read += len(events)
    return enrolled


def sop_segment_enrol(*, rule: SopRule, now: datetime) -> int:
    """The segment trigger: enrol, anchored at ``now``, every customer the rule's segment matches
    who was never enrolled in the rule and has an active follow (the newest one's staff gets the
    tasks). One ``INSERT … SELECT … ON CONFLICT DO NOTHING``, then the occurrences in batches."""
    from customers.segments import segment_customers

    newest_staff = (
        Follow.objects.filter(customer_id=OuterRef("pk"), status=Follow.Status.ACTIVE)
        .order_by("-added_at", "-id")
        .values("staff_id")[:1]
    )
    source = (
        Customer.objects.filter(pk__in=segment_customers(rule.segment.rules).values("pk"))
        .exclude(Exists(SopEnrolment.objects.filter(rule=rule, customer_id=OuterRef("pk"))))
        .annotate(customer_pick=F("pk"), staff_pick=Subquery(newest_staff))
        .filter(staff_pick__isnull=False)
        .order_by()
        .values_list("customer_pick", "staff_pick")
    )
    sql, params = source.query.sql_with_params()
    quote = connection.ops.quote_name
    table = quote(SopEnrolment._meta.db_table)
    columns = ", ".join(
        quote(SopEnrolment._meta.get_field(name).column)
        for name in (
            "rule",
            "customer",
            "staff",
            "sequence",
            "anchor_at",
            "status",
            "exit_reason",
            "created_at",
        )
    )
    stamp = connection.ops.adapt_datetimefield_value(now)
    with transaction.atomic():
        with connection.cursor() as cursor:
            # "WHERE true": SQLite needs a WHERE to parse ON CONFLICT after INSERT … SELECT.
            cursor.execute(
                f"INSERT INTO {table} ({columns}) "
                f"SELECT %s, src.customer_pick, src.staff_pick, 1, %s, %s, '', %s "
                f"FROM ({sql}) src WHERE true ON CONFLICT DO NOTHING",
                [rule.pk, stamp, SopEnrolment.Status.ACTIVE, stamp, *params],
            )
            inserted = cursor.rowcount
        _occurrences_plan(rule=rule, enrolments=SopEnrolment.objects.filter(rule=rule), now=now)
    return max(inserted, 0)


def sop_segments_run(*, now: datetime) -> int:
    """Evaluate the active segment rules not evaluated for ``SOP_SEGMENT_EVERY_MINUTES``.

    Each rule is taken by a compare-and-set on its ``segment_evaluated_at``, so of two ticks
    only one evaluates it.
    """
    every = timedelta(minutes=settings.SOP_SEGMENT_EVERY_MINUTES)
    enrolled = 0
    due = SopRule.objects.filter(active=True, trigger=SopRule.Trigger.SEGMENT, segment__isnull=False).filter(
        Q(segment_evaluated_at__isnull=True) | Q(segment_evaluated_at__lte=now - every)
    )
    for rule in due.select_related("segment"):
        taken = SopRule.objects.filter(pk=rule.pk, segment_evaluated_at=rule.segment_evaluated_at).update(
            segment_evaluated_at=now
        )
        if taken:
            enrolled += sop_segment_enrol(rule=rule, now=now)
    return enrolled


# --- Exits -----------------------------------------------------------------------------------


def _tasks_cancel(*, keys: Sequence[str], reason: str, now: datetime | None = None) -> int:
    canceled = 0
    for start in range(0, len(keys), 1000):
        canceled += StaffTask.objects.filter(
            source_key__in=keys[start : start + 1000], status=StaffTask.Status.OPEN
        ).update(status=StaffTask.Status.CANCELED, status_changed_at=now, note=reason[:500])
    return canceled


def _enrolments_exit(*, ids: Sequence[int], reason: str, now: datetime) -> int:
    """End these enrolments with ``reason``: pending occurrences skipped, open tasks canceled."""
    exited = SopEnrolment.objects.filter(pk__in=ids, status=SopEnrolment.Status.ACTIVE).update(
        status=SopEnrolment.Status.EXITED, exit_reason=reason, exited_at=now
    )
    SopOccurrence.objects.filter(enrolment_id__in=ids, status=SopOccurrence.Status.PENDING).update(
        status=SopOccurrence.Status.SKIPPED, skipped_reason=reason
    )
    keys = [
        f"sop:{pk}"
        for pk in SopOccurrence.objects.filter(
            enrolment_id__in=ids, status=SopOccurrence.Status.DONE, step__action=SopStep.Action.STAFF_TASK
        ).values_list("pk", flat=True)
    ]
    _tasks_cancel(keys=keys, reason=reason, now=now)
    return exited


def sop_exits_run(*, now: datetime) -> int:
    """End the active enrolments whose rule's exit condition holds; return how many.

    Follow deleted: the enrolment's staff member and customer are no longer active contacts.
    Tag removed: no active follow of the customer carries the rule's tag any more. Goal tag
    reached: one does. Set-based: one query per condition finds them, whatever their number.
    """
    active = SopEnrolment.objects.filter(status=SopEnrolment.Status.ACTIVE)
    follow_alive = Follow.objects.filter(
        customer_id=OuterRef("customer_id"), staff_id=OuterRef("staff_id"), status=Follow.Status.ACTIVE
    )

    def carries(tag_field: str) -> Exists:
        return Exists(
            FollowTag.objects.filter(
                follow__customer_id=OuterRef("customer_id"),
                follow__status=Follow.Status.ACTIVE,
                tag_id=OuterRef(f"rule__{tag_field}_id"),
            )
        )

    checks = [
        (active.filter(rule__exit_on_follow_deleted=True).exclude(Exists(follow_alive)), EXIT_FOLLOW_DELETED),
        (active.filter(rule__goal_tag__isnull=False).filter(carries("goal_tag")), EXIT_GOAL_REACHED),
        (
            active.filter(rule__exit_tag_removed__isnull=False).exclude(carries("exit_tag_removed")),
            EXIT_TAG_REMOVED,
        ),
    ]
    exited = 0
    for queryset, reason in checks:
        while True:
            with transaction.atomic():
                ids = list(queryset.values_list("pk", flat=True)[:BATCH])
                if not ids:
                    break
                exited += _enrolments_exit(ids=ids, reason=reason, now=now)
    return exited


# --- Occurrences -----------------------------------------------------------------------------


@dataclass
class SopRunResult:
    done: int = 0
    skipped: int = 0
    postponed: int = 0
    tasks: int = 0
    broadcasts: int = 0


def _attachments_of(step_ids: Iterable[int]) -> dict[int, list[SopStepAttachment]]:
    found: dict[int, list[SopStepAttachment]] = defaultdict(list)
    for attachment in SopStepAttachment.objects.filter(step_id__in=list(step_ids)).order_by("position", "id"):
        found[attachment.step_id].append(attachment)
    return found


def _task_for(occurrence: SopOccurrence, attachments: list[SopStepAttachment]) -> StaffTask:
    step, enrolment = occurrence.step, occurrence.enrolment
    return StaffTask(
        staff_id=enrolment.staff_id,
        customer_id=enrolment.customer_id,
        kind=StaffTask.Kind.CUSTOMER_SOP,
        title=(step.title or f"{enrolment.rule.name}: {step.offset_label}")[:200],
        content={
            "text": step.text,
            "attachments": [a.summary() for a in attachments],
            "material_ids": list(step.material_ids or []),
        },
        due_at=occurrence.due_at,
        source_key=occurrence.task_key,
    )


def _work_do(batch: list[SopOccurrence], result: SopRunResult) -> None:
    """The staff tasks and broadcasts of claimed occurrences (inside the claiming transaction)."""
    from .broadcasts import broadcast_create
    from .stafftasks import staff_tasks_create

    attachments = _attachments_of({o.step_id for o in batch})
    tasks = [
        _task_for(o, attachments[o.step_id]) for o in batch if o.step.action == SopStep.Action.STAFF_TASK
    ]
    if tasks:
        result.tasks += staff_tasks_create(tasks=tasks)
    groups: dict[tuple[int, datetime], list[SopOccurrence]] = defaultdict(list)
    for o in batch:
        if o.step.action == SopStep.Action.BROADCAST:
            groups[(o.step_id, o.due_at.replace(second=0, microsecond=0))].append(o)
    for (step_id, minute), members in groups.items():
        step = members[0].step
        # The first occurrence's id makes the key: the claimed sets of two ticks are disjoint, so
        # their broadcasts differ, and a rolled-back attempt reclaims the same set under the key.
        first = min(o.pk for o in members)
        broadcast_create(
            kind="customers",
            name=f"{members[0].enrolment.rule.name} · {step.offset_label}"[:128],
            text=step.text,
            attachments=[{f: getattr(a, f) for f in _ATTACHMENT_FIELDS} for a in attachments[step_id]],
            customer_ids=sorted({o.enrolment.customer_id for o in members}),
            origin="sop",
            origin_key=f"sop:{step_id}:{minute:%Y%m%d%H%M}:{first}",
        )
        result.broadcasts += 1


def sop_occurrences_run(*, now: datetime) -> SopRunResult:
    """Run every pending occurrence due by ``now`` of active enrolments in active rules.

    Batches are claimed with ``SELECT … FOR UPDATE SKIP LOCKED``: a second tick running at the
    same time takes other rows or none, and a row is marked done in the transaction that creates
    its task (``source_key`` ``sop:<occurrence id>``) or broadcast, so a retry redoes nothing.
    An occurrence more than ``SOP_MISSED_GRACE_HOURS`` late is skipped ("missed: N h late");
    inside the quiet hours the others move to their end instead of running.
    """
    grace = timedelta(hours=settings.SOP_MISSED_GRACE_HOURS)
    quiet = quiet_until(now)
    result = SopRunResult()
    due = SopOccurrence.objects.filter(
        status=SopOccurrence.Status.PENDING,
        due_at__lte=now,
        enrolment__status=SopEnrolment.Status.ACTIVE,
        enrolment__rule__active=True,
    )
    while True:
        with transaction.atomic():
            batch = list(
                due.select_for_update(skip_locked=True, of=("self",))
                .select_related("enrolment__rule", "step")
                .order_by("due_at", "id")[:BATCH]
            )
            if not batch:
                break
            missed = [o for o in batch if now - o.due_at > grace]
            by_lateness: dict[int, list[int]] = defaultdict(list)
            for o in missed:
                by_lateness[int((now - o.due_at).total_seconds() // 3600)].append(o.pk)
            for hours, ids in by_lateness.items():
                SopOccurrence.objects.filter(pk__in=ids).update(
                    status=SopOccurrence.Status.SKIPPED, skipped_reason=f"missed: {hours} h late"
                )
            result.skipped += len(missed)
            runnable = [o for o in batch if now - o.due_at <= grace]
            if quiet is not None:
                SopOccurrence.objects.filter(pk__in=[o.pk for o in runnable]).update(due_at=quiet)
                result.postponed += len(runnable)
            elif runnable:
                _work_do(runnable, result)
                SopOccurrence.objects.filter(pk__in=[o.pk for o in runnable]).update(
                    status=SopOccurrence.Status.DONE, done_at=now
                )
                result.done += len(runnable)
        # After the commit, not inside it: a tick running at the same time may hold an enrolment's
        # other occurrence. Whichever of the two commits last then sees both done.
        _enrolments_complete(ids={o.enrolment_id for o in batch}, now=now)
        if len(batch) < BATCH:
            break
    return result


def _enrolments_complete(*, ids: Iterable[int], now: datetime) -> None:
    pending = SopOccurrence.objects.filter(enrolment_id=OuterRef("pk"), status=SopOccurrence.Status.PENDING)
    SopEnrolment.objects.filter(pk__in=list(ids), status=SopEnrolment.Status.ACTIVE).exclude(
        Exists(pending)
    ).update(status=SopEnrolment.Status.COMPLETED, exited_at=now)


# --- The tick --------------------------------------------------------------------------------


@dataclass
class SopTickResult:
    tagged: int
    segments: int
    exited: int
    run: SopRunResult


def sop_tick(*, now: datetime) -> SopTickResult:
    """One minute of the engine: triggers (tags, segments), exits, then the due occurrences.

    Exits come before the run, so a customer who left is not given a step in the same minute.
    Safe to run twice at once: every part claims or conflicts rather than reads then writes.
    """
    tagged = sop_tagged_enrol(now=now)
    segments = sop_segments_run(now=now)
    exited = sop_exits_run(now=now)
    run = sop_occurrences_run(now=now)
    return SopTickResult(tagged=tagged, segments=segments, exited=exited, run=run)


def sop_schedule_ensure(**kwargs: object) -> bool:
    """Create the every-minute SOP tick (default queue) unless a schedule has its name."""
    return periodic_task_ensure(
        name=TICK_TASK_NAME,
        task="campaigns.tasks.sop.sop_tick_task",
        queue="default",
        description="Customer SOPs: enrols tagged customers and segment matches, ends enrolments whose "
        "exit condition holds, and creates the staff tasks and broadcasts that fell due.",
        every_seconds=60,
        using=kwargs.get("using"),
    )
