"""Group SOP (PRODUCT.md C3, E2): recurring posts to chosen groups, as owner tasks or broadcasts.

Every minute :func:`group_sop_tick` does two things:

1. For each active rule it lists the occurrences of its schedule since the latest one recorded (at
   most ``SOP_MISSED_GRACE_HOURS`` plus a day back) and inserts them as :class:`GroupSopRun` rows.
   The rows are unique per rule and time, so a second scheduler, a retried task or a tick that
   overlaps the previous one inserts nothing new (QUALITY.md trap 7).
2. It claims due pending runs one at a time with ``SELECT … FOR UPDATE SKIP LOCKED`` and acts on
   each in the same transaction: one staff task per group owner (``source_key``
   ``gsop:{run}:{owner}``) or one group broadcast (``origin_key`` ``gsop:{run}``). Both keys are
   unique, so even a run acted on twice creates nothing twice.

Missed occurrences (the scheduler or the workers were down): a run found less than
``SOP_MISSED_GRACE_HOURS`` after it fell due still runs; a later one is skipped and says why. A run
that falls due inside the quiet hours (``OUTREACH_QUIET_HOURS``) waits for their end.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from celery.schedules import crontab
from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from groups.models import GroupChat, GroupTag
from scrm.org.models import Department, Staff
from scrm.schedules import periodic_task_ensure

from ..models import GroupSopAttachment, GroupSopRule, GroupSopRun, StaffTask
from ..models.welcome import MAX_ATTACHMENTS
from ..selectors.groupsop import group_sop_rule_groups
from .broadcasts import broadcast_create
from .content import sensitive_words_check
from .quiet_hours import quiet_until
from .stafftasks import staff_tasks_cancel, staff_tasks_create

logger = logging.getLogger(__name__)

__all__ = [
    "TICK_TASK_NAME",
    "group_sop_occurrences",
    "group_sop_rule_delete",
    "group_sop_rule_errors",
    "group_sop_rule_save",
    "group_sop_run_process",
    "group_sop_schedule_ensure",
    "group_sop_tick",
]

TICK_TASK_NAME = "campaigns: group SOP"
#: How far back, beyond the grace window, occurrences are still recorded (as skipped): long enough
#: to say why a Monday post did not go out after a weekend outage of a day.
RECORD_BEYOND_GRACE = timedelta(hours=24)
#: Occurrences recorded per rule and tick at most (a cron every minute after a long outage).
MAX_OCCURRENCES_PER_TICK = 200
TEXT_MAX_BYTES = 4000

# --- Schedules ------------------------------------------------------------------------------------


def _crontab(expression: str) -> crontab:
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(_("A cron expression has five fields: minute hour day-of-month month day-of-week."))
    minute, hour, day_of_month, month_of_year, day_of_week = fields
    return crontab(
        minute=minute,
        hour=hour,
        day_of_month=day_of_month,
        month_of_year=month_of_year,
        day_of_week=day_of_week,
    )


def group_sop_occurrences(*, rule: GroupSopRule, after: datetime, until: datetime) -> list[datetime]:
    """The times of ``rule``'s schedule in ``(after, until]``, oldest first, in its time zone.

    A cron expression's day of month and day of week must both match (Celery's reading of cron).
    """
    schedule = _crontab(rule.cron_expression)
    zone = ZoneInfo(rule.time_zone or settings.TIME_ZONE)
    hours, minutes = sorted(schedule.hour), sorted(schedule.minute)
    found: list[datetime] = []
    day: date = after.astimezone(zone).date()
    last: date = until.astimezone(zone).date()
    while day <= last and len(found) < MAX_OCCURRENCES_PER_TICK:
        cron_weekday = (day.weekday() + 1) % 7  # cron and Celery count from Sunday = 0
        if (
            day.month in schedule.month_of_year
            and day.day in schedule.day_of_month
            and cron_weekday in schedule.day_of_week
        ):
            for hour in hours:
                for minute in minutes:
                    moment = datetime.combine(day, time(hour, minute), tzinfo=zone)
                    if after < moment <= until:
                        found.append(moment)
        day += timedelta(days=1)
    return found[:MAX_OCCURRENCES_PER_TICK]


# --- Rules ----------------------------------------------------------------------------------------


def group_sop_rule_errors(
    *, rule: GroupSopRule, attachments: Sequence[GroupSopAttachment] | None = None
) -> dict[str, list]:
    """What is wrong with a rule's schedule and content, as form errors by field (empty if nothing).
    Shared by :func:`group_sop_rule_save` and the admin's form."""
    errors: dict[str, list] = defaultdict(list)
    if rule.schedule_kind == GroupSopRule.ScheduleKind.WEEKLY:
        days = rule.weekdays
        if (
            not isinstance(days, list)
            or not days
            or not all(isinstance(d, int) and 0 <= d <= 6 for d in days)
        ):
            errors["weekdays"].append(_("Choose at least one weekday (0 = Monday … 6 = Sunday)."))
        if rule.time_of_day is None:
            errors["time_of_day"].append(_("Give the time of day."))
    else:
        try:
            _crontab(rule.cron)
        except ValueError as error:
            errors["cron"].append(_("Not a valid cron expression: %(error)s") % {"error": error})
    try:
        ZoneInfo(rule.time_zone or "")
    except (ZoneInfoNotFoundError, ValueError):
        errors["time_zone"].append(_("Unknown time zone, e.g. Asia/Shanghai."))
    if len(rule.text.encode()) > TEXT_MAX_BYTES:
        errors["text"].append(_("At most 4000 bytes."))
    if attachments is not None:
        if len(attachments) > MAX_ATTACHMENTS:
            errors["attachments"].append(_("At most 9 attachments."))
        for attachment in attachments:
            for messages in attachment.attachment_errors().values():
                errors["attachments"].extend(messages)
    # A new rule saved without its attachments (the admin saves them right after, in the same
    # transaction, and checks this in its formset) cannot be judged on its content here.
    if attachments is not None or rule.pk:
        has_attachments = bool(attachments) if attachments is not None else rule.attachments.exists()
        if not rule.text.strip() and not has_attachments and not rule.material_ids:
            errors["text"].append(_("Give a text, an attachment or a material."))
    if not isinstance(rule.material_ids, list) or not all(isinstance(m, int) for m in rule.material_ids):
        errors["material_ids"].append(_("A list of material ids."))
    return dict(errors)


@transaction.atomic
def group_sop_rule_save(
    *,
    rule: GroupSopRule,
    groups: Iterable[GroupChat] | None = None,
    owners: Iterable[Staff] | None = None,
    group_tags: Iterable[GroupTag] | None = None,
    stores: Iterable[Department] | None = None,
    attachments: Sequence[GroupSopAttachment] | None = None,
    by=None,
) -> GroupSopRule:
    """Check and save a rule with its targets (``None`` keeps them) and attachments (``None``
    keeps them; a list replaces them).

    The schedule is validated (weekdays and a time, or a cron expression), and the text screened
    for sensitive words (:class:`~campaigns.services.content.SensitiveWordBlocked`). A rule that
    is created, switched on or given another schedule starts counting occurrences from now: it
    never fires for times before.
    """
    errors = group_sop_rule_errors(rule=rule, attachments=attachments)
    if errors:
        raise ValidationError(errors)
    texts = [
        text
        for text in (
            rule.text,
            *(a.title for a in attachments or ()),
            *(a.description for a in attachments or ()),
        )
        if text
    ]
    if texts:
        sensitive_words_check(*texts)
    now = timezone.now()
    previous = (
        GroupSopRule.objects.filter(pk=rule.pk)
        .values("active", "schedule_kind", "weekdays", "time_of_day", "cron", "time_zone")
        .first()
        if rule.pk
        else None
    )
    schedule = {
        "active": rule.active,
        "schedule_kind": rule.schedule_kind,
        "weekdays": rule.weekdays,
        "time_of_day": rule.time_of_day,
        "cron": rule.cron,
        "time_zone": rule.time_zone,
    }
    if previous is None or previous != schedule:
        rule.active_since = now
    if rule.pk is None and by is not None and getattr(by, "is_authenticated", False):
        rule.created_by = by
    rule.full_clean(exclude=["created_by"])
    rule.save()
    for name, values in (
        ("groups", groups),
        ("owners", owners),
        ("group_tags", group_tags),
        ("stores", stores),
    ):
        if values is not None:
            getattr(rule, name).set(list(values))
    if not (rule.groups.exists() or rule.owners.exists() or rule.group_tags.exists() or rule.stores.exists()):
        raise ValidationError(
            {"groups": [_("Choose groups, or owners, group tags or stores whose groups get it.")]}
        )
    if attachments is not None:
        keep = [a.pk for a in attachments if a.pk]
        rule.attachments.exclude(pk__in=keep).delete()
        for position, attachment in enumerate(attachments):
            attachment.rule = rule
            attachment.position = position
            attachment.save()
    return rule


@transaction.atomic
def group_sop_rule_delete(*, rule: GroupSopRule) -> None:
    """Delete a rule with its runs; the open tasks it made are canceled (done ones stay)."""
    open_tasks = StaffTask.objects.filter(
        status=StaffTask.Status.OPEN, kind=StaffTask.Kind.GROUP_SOP, content__rule_id=rule.pk
    )
    ids = list(open_tasks.values_list("pk", flat=True))
    if ids:
        staff_tasks_cancel(ids=ids, reason=_("The group SOP rule was deleted."))
    rule.delete()


# --- The tick -------------------------------------------------------------------------------------


def _runs_record(*, rule: GroupSopRule, now: datetime, grace: timedelta) -> int:
    """Insert the rule's new occurrences as pending runs; returns how many times were found."""
    starts = [now - grace - RECORD_BEYOND_GRACE]
    starts += [moment for moment in (rule.last_scheduled_for, rule.active_since) if moment is not None]
    times = group_sop_occurrences(rule=rule, after=max(starts), until=now)
    if not times:
        return 0
    GroupSopRun.objects.bulk_create(
        [
            GroupSopRun(rule=rule, scheduled_for=moment, due_at=quiet_until(moment) or moment)
            for moment in times
        ],
        ignore_conflicts=True,
    )
    # Only forward: an older tick finishing late never moves the cursor back.
    GroupSopRule.objects.filter(pk=rule.pk).filter(
        Q(last_scheduled_for__isnull=True) | Q(last_scheduled_for__lt=times[-1])
    ).update(last_scheduled_for=times[-1])
    return len(times)


def _attachment_fields(attachment: GroupSopAttachment) -> dict:
    skip = {"id", "rule", "position"}
    return {
        f.attname: getattr(attachment, f.attname)
        for f in GroupSopAttachment._meta.concrete_fields
        if f.name not in skip
    }


def _skip(run: GroupSopRun, reason: str, now: datetime) -> None:
    run.status, run.reason, run.finished_at = GroupSopRun.Status.SKIPPED, reason[:300], now
    run.save(update_fields=["status", "reason", "finished_at"])


def group_sop_run_process(*, run: GroupSopRun, now: datetime) -> None:
    """Act on one claimed run (locked by the caller's transaction): skip it when found too late,
    hold it through the quiet hours, or create its owner tasks or its broadcast."""
    grace = timedelta(hours=settings.SOP_MISSED_GRACE_HOURS)
    late = now - run.due_at
    if late > grace:
        hours = late.total_seconds() / 3600
        _skip(
            run,
            _(
                "Missed: found %(late).1f h after it fell due (the scheduler or workers were down), "
                "more than the %(grace)s h allowed by SOP_MISSED_GRACE_HOURS."
            )
            % {"late": hours, "grace": settings.SOP_MISSED_GRACE_HOURS},
            now,
        )
        return
    held = quiet_until(now)
    if held is not None:
        run.due_at = held
        run.save(update_fields=["due_at"])
        return
    rule = run.rule
    groups = list(group_sop_rule_groups(rule=rule).values("id", "name", "chat_id", "owner_id"))
    if not groups:
        _skip(run, _("No group to post to: none of the targets has a live group with an active owner."), now)
        return
    attachments = list(rule.attachments.all())
    run.groups_count = len(groups)
    if rule.action == GroupSopRule.Action.OWNER_TASKS:
        by_owner: dict[int, list[dict]] = defaultdict(list)
        for group in groups:
            by_owner[group["owner_id"]].append(group)
        content = {
            "text": rule.text,
            "attachments": [a.summary() for a in attachments],
            "material_ids": rule.material_ids,
            "rule_id": rule.pk,
            "run_id": run.pk,
        }
        tasks = [
            StaffTask(
                staff_id=owner_id,
                # One group: the task points at it; several: they are listed in the content.
                group_id=owned[0]["id"] if len(owned) == 1 else None,
                kind=StaffTask.Kind.GROUP_SOP,
                title=rule.name[:200],
                content={**content, "groups": [{k: g[k] for k in ("id", "name", "chat_id")} for g in owned]},
                due_at=run.due_at,
                source_key=f"gsop:{run.pk}:{owner_id}",
            )
            for owner_id, owned in by_owner.items()
        ]
        staff_tasks_create(tasks=tasks)
        run.tasks_count = len(tasks)
    else:
        try:
            run.broadcast = broadcast_create(
                kind="groups",
                name=f"{rule.name} {timezone.localtime(run.scheduled_for):%Y-%m-%d %H:%M}"[:128],
                text=rule.text,
                attachments=[_attachment_fields(a) for a in attachments],
                rules={"groups": [g["id"] for g in groups]},
                origin="sop",
                origin_key=f"gsop:{run.pk}",
            )
        except ValidationError as error:
            _skip(run, _("Refused: %(error)s") % {"error": "; ".join(error.messages)}, now)
            return
    run.status, run.finished_at = GroupSopRun.Status.DONE, now
    run.save(update_fields=["status", "finished_at", "groups_count", "tasks_count", "broadcast"])


def group_sop_tick(*, now: datetime | None = None) -> int:
    """Record the active rules' new occurrences, then act on every due run; returns how many runs
    were acted on (done or skipped). Safe to run twice at once: see the module docstring."""
    now = now or timezone.now()
    grace = timedelta(hours=settings.SOP_MISSED_GRACE_HOURS)
    for rule in GroupSopRule.objects.filter(active=True).only(
        "id",
        "schedule_kind",
        "weekdays",
        "time_of_day",
        "cron",
        "time_zone",
        "active_since",
        "last_scheduled_for",
    ):
        _runs_record(rule=rule, now=now, grace=grace)
    acted = 0
    held: list[int] = []
    while True:
        run: GroupSopRun | None = None
        try:
            with transaction.atomic():
                run = (
                    GroupSopRun.objects.filter(
                        status=GroupSopRun.Status.PENDING, due_at__lte=now, rule__active=True
                    )
                    .exclude(pk__in=held)
                    .select_for_update(skip_locked=True, of=("self",))
                    .select_related("rule")
                    .order_by("due_at", "id")
                    .first()
                )
                if run is None:
                    break
                group_sop_run_process(run=run, now=now)
        except Exception:
            if run is None:
                raise
            # Rolled back, still pending: tried again next tick (until it is too late), and the
            # runs behind it are not held up meanwhile.
            logger.exception("group SOP run %s failed; tried again next tick", run.pk)
            held.append(run.pk)
            continue
        if run.status == GroupSopRun.Status.PENDING:
            held.append(run.pk)  # quiet hours: waits for their end
        else:
            acted += 1
    return acted


def group_sop_schedule_ensure(**kwargs: object) -> bool:
    """Create the every-minute group SOP schedule (default queue) unless one has its name."""
    return periodic_task_ensure(
        name=TICK_TASK_NAME,
        task="campaigns.tasks.groupsop.group_sop_tick_run",
        queue="default",
        description="Records the group SOP rules' occurrences and posts the due ones (tasks or broadcasts).",
        every_seconds=60,
        using=kwargs.get("using"),
    )
