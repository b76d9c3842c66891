"""Channel figures by day (PRODUCT.md A4), computed from ``customers.Follow``.

A day's figures per channel ``state`` and staff member come from two indexed queries: the
follows *added* that day (``cust_follow_state_added_idx`` / ``cust_follow_added_idx``), which give
the adds and their retention, and the follows *deleted* that day (``cust_follow_deleted_idx``).
The rollup (``ChannelDay``) stores them day by day with bulk upserts; the nightly run recomputes
the days whose figures can still change (retention after 30 days is final 31 days later), and
the current day is computed live by the selector with the same function, never stored.

Definitions (docs/decisions.md, "Acquisition"):

- adds: follows of the channel whose ``added_at`` falls on the day;
- deletions: follows of the channel deleted that day (``status_changed_at``), split by who
  deleted; a follow that ended otherwise (transferred, gone from WeCom) is not a deletion;
- retained after N days: of that day's adds, those still a follow N×24 hours after their add
  (active, transferred to a colleague, or ended later than that). Empty until every add of the day
  has had N days, i.e. from day + N + 1 on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, DateTimeField, ExpressionWrapper, F, Min, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Follow
from scrm.schedules import periodic_task_ensure

from ..models import RETENTION_DAYS, ChannelDay, ChannelRollup

logger = logging.getLogger(__name__)

# In the order of the partial index's condition (customers migration 0007).
DELETED = (Follow.Status.DELETED_BY_CUSTOMER, Follow.Status.DELETED_BY_STAFF)
# Still a follow of the company: the customer stayed, with this staff member or a colleague.
STAYED = (Follow.Status.ACTIVE, Follow.Status.TRANSFERRED)
# The nightly run recomputes this many past days: the last one's 30-day retention has just become final.
RECOMPUTE_DAYS = max(RETENTION_DAYS) + 1
# A rebuild covers at most this many days (ten years): a typo must not queue a century.
REBUILD_MAX_DAYS = 3660
UPSERT_BATCH = 1000
NIGHTLY_TASK_NAME = "campaigns: channel analytics rollup"


def local_zone() -> ZoneInfo:
    return ZoneInfo(settings.TIME_ZONE)


def local_today(now: datetime | None = None) -> date:
    return timezone.localtime(now or timezone.now(), local_zone()).date()


def day_bounds(day: date) -> tuple[datetime, datetime]:
    """The first instant of ``day`` and of the next day, in ``TIME_ZONE``."""
    zone = local_zone()
    return (
        datetime.combine(day, time.min, tzinfo=zone),
        datetime.combine(day + timedelta(days=1), time.min, tzinfo=zone),
    )


def retention_final(*, day: date, days: int, today: date) -> bool:
    """Whether every add of ``day`` has had ``days`` full days by the start of ``today``."""
    return day + timedelta(days=days) < today


@dataclass
class Figures:
    """One day's figures of one channel and staff member (or a sum of them)."""

    adds: int = 0
    deleted_by_customer: int = 0
    deleted_by_staff: int = 0
    retained: dict[int, int | None] = field(default_factory=lambda: dict.fromkeys(RETENTION_DAYS))

    def add(self, other: Figures) -> None:
        self.adds += other.adds
        self.deleted_by_customer += other.deleted_by_customer
        self.deleted_by_staff += other.deleted_by_staff
        for n, value in other.retained.items():
            if value is not None:
                self.retained[n] = (self.retained[n] or 0) + value


def channel_day_compute(
    *,
    day: date,
    now: datetime | None = None,
    state: str | None = None,
    staff_ids: QuerySet | Iterable[int] | None = None,
) -> dict[tuple[str, int], Figures]:
    """The figures of ``day`` per (state, staff id), for one channel or all of them.

    Two grouped queries over that day's follows only; ``staff_ids`` narrows to a data scope.
    Follows without a state came through no channel and are not counted.
    """
    start, end = day_bounds(day)
    today = local_today(now)
    base = Follow.objects.all()
    base = base.filter(state=state) if state is not None else base.exclude(state="")
    if staff_ids is not None:
        base = base.filter(staff_id__in=staff_ids)

    retained = {}
    for n in RETENTION_DAYS:
        if retention_final(day=day, days=n, today=today):
            after = ExpressionWrapper(F("added_at") + timedelta(days=n), output_field=DateTimeField())
            retained[f"retained_{n}"] = Count(
                "id", filter=Q(status__in=STAYED) | Q(status_changed_at__gte=after)
            )
    added = (
        base.filter(added_at__gte=start, added_at__lt=end)
        .order_by()
        .values("state", "staff_id")
        .annotate(adds=Count("id"), **retained)
    )
    deleted = (
        base.filter(status__in=DELETED, status_changed_at__gte=start, status_changed_at__lt=end)
        .order_by()
        .values("state", "staff_id")
        .annotate(
            by_customer=Count("id", filter=Q(status=Follow.Status.DELETED_BY_CUSTOMER)),
            by_staff=Count("id", filter=Q(status=Follow.Status.DELETED_BY_STAFF)),
        )
    )
    figures: dict[tuple[str, int], Figures] = {}
    for row in added:
        item = figures.setdefault((row["state"], row["staff_id"]), Figures())
        item.adds = row["adds"]
        item.retained = {n: row.get(f"retained_{n}") for n in RETENTION_DAYS}
    for row in deleted:
        key = (row["state"], row["staff_id"])
        item = figures.get(key)
        if item is None:
            # Deletions only: no adds that day, so every final retention is 0 of 0.
            item = figures[key] = Figures(
                retained={
                    n: 0 if retention_final(day=day, days=n, today=today) else None for n in RETENTION_DAYS
                }
            )
        item.deleted_by_customer = row["by_customer"]
        item.deleted_by_staff = row["by_staff"]
    return figures


def channel_days_rollup(
    *, first_day: date, last_day: date, now: datetime | None = None, run: ChannelRollup | None = None
) -> int:
    """Recompute ``ChannelDay`` for each day of the range; returns the rows written.

    Day by day, each in its own transaction: the day's rows are upserted (insert or update on the
    unique state, day and staff) and the rows of the day that no longer have figures removed, so
    running it twice leaves the same rows. ``run`` gets its progress after each day.
    """
    written = 0
    day = first_day
    while day <= last_day:
        figures = channel_day_compute(day=day, now=now)
        stamp = timezone.now()
        rows = [
            ChannelDay(
                state=state,
                staff_id=staff_id,
                day=day,
                adds=item.adds,
                deleted_by_customer=item.deleted_by_customer,
                deleted_by_staff=item.deleted_by_staff,
                retained_1=item.retained[1],
                retained_7=item.retained[7],
                retained_30=item.retained[30],
                computed_at=stamp,
            )
            for (state, staff_id), item in figures.items()
        ]
        with transaction.atomic():
            ChannelDay.objects.bulk_create(
                rows,
                batch_size=UPSERT_BATCH,
                update_conflicts=True,
                unique_fields=["state", "day", "staff"],
                update_fields=[
                    "adds",
                    "deleted_by_customer",
                    "deleted_by_staff",
                    "retained_1",
                    "retained_7",
                    "retained_30",
                    "computed_at",
                ],
            )
            ChannelDay.objects.filter(day=day, computed_at__lt=stamp).delete()
        written += len(rows)
        if run is not None:
            run.days_done += 1
            run.rows = written
            ChannelRollup.objects.filter(pk=run.pk).update(days_done=run.days_done, rows=written)
        day += timedelta(days=1)
    return written


def rolled_through() -> date | None:
    """The last day of the latest finished rollup: later days are read live."""
    return (
        ChannelRollup.objects.filter(status=ChannelRollup.Status.DONE)
        .order_by("-last_day")
        .values_list("last_day", flat=True)
        .first()
    )


def channel_rollup_validate(*, first_day: date, last_day: date, now: datetime | None = None) -> None:
    today = local_today(now)
    if first_day > last_day:
        raise ValidationError(_("The first day must not be after the last day."))
    if last_day >= today:
        raise ValidationError(_("Only past days can be rolled up; today's figures are always read live."))
    if (last_day - first_day).days + 1 > REBUILD_MAX_DAYS:
        raise ValidationError(_("At most %(days)d days at a time.") % {"days": REBUILD_MAX_DAYS})


def channel_rollup_request(
    *, first_day: date, last_day: date, trigger: str = ChannelRollup.Trigger.ADMIN
) -> ChannelRollup:
    """Queue a rebuild of a range of days on the ``bulk`` queue; its progress shows on the run."""
    from ..tasks.analytics import channel_rollup_process

    channel_rollup_validate(first_day=first_day, last_day=last_day)
    run = ChannelRollup.objects.create(first_day=first_day, last_day=last_day, trigger=trigger)
    transaction.on_commit(lambda: channel_rollup_process.delay(run.pk))
    return run


def channel_rollup_execute(*, run_id: int, now: datetime | None = None) -> ChannelRollup | None:
    """Run the queued rollup ``run_id``; a second delivery finds it claimed and does nothing."""
    claimed = ChannelRollup.objects.filter(pk=run_id, status=ChannelRollup.Status.QUEUED).update(
        status=ChannelRollup.Status.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        return None
    run = ChannelRollup.objects.get(pk=run_id)
    try:
        channel_days_rollup(first_day=run.first_day, last_day=run.last_day, now=now, run=run)
    except Exception as error:
        logger.exception("channel rollup %s failed", run_id)
        ChannelRollup.objects.filter(pk=run_id).update(
            status=ChannelRollup.Status.FAILED, error=str(error)[:2000], finished_at=timezone.now()
        )
        raise
    ChannelRollup.objects.filter(pk=run_id).update(
        status=ChannelRollup.Status.DONE, finished_at=timezone.now()
    )
    run.refresh_from_db()
    return run


def channel_rollup_nightly(*, now: datetime | None = None) -> ChannelRollup | None:
    """Recompute the days whose figures can still change: the last ``RECOMPUTE_DAYS`` days, and
    any older day left with an open 30-day retention (nights the job did not run)."""
    today = local_today(now)
    first = today - timedelta(days=RECOMPUTE_DAYS)
    oldest_open = ChannelDay.objects.filter(retained_30__isnull=True, day__lt=first).aggregate(
        day=Min("day")
    )["day"]
    if oldest_open is not None:
        first = oldest_open
    run = ChannelRollup.objects.create(
        first_day=first, last_day=today - timedelta(days=1), trigger=ChannelRollup.Trigger.SCHEDULE
    )
    return channel_rollup_execute(run_id=run.pk, now=now)


def channel_rollup_schedule_ensure(**kwargs: object) -> bool:
    """Create the nightly rollup's schedule (00:30 local) unless one has its name."""
    return periodic_task_ensure(
        name=NIGHTLY_TASK_NAME,
        task="campaigns.tasks.analytics.channel_rollup_nightly_run",
        queue="bulk",
        description="Recomputes the channel analytics of the last 31 days.",
        crontab={"minute": "30", "hour": "0"},
        using=kwargs.get("using"),
    )
