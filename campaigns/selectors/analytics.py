"""Reads of channel analytics, within the reader's data scope.

Past days come from the rollup (``ChannelDay``: one indexed range read, summed per day); days
after the last finished rollup, today always among them, are computed live from the follows of
that day. So an add shows in the analytics as soon as it is recorded, not the next morning.

Rows are per staff member, so a store manager or a guide sees the figures of the staff in their
scope (``scrm.org.scoping``), like every other list.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from django.db.models import Sum

from scrm.org.scoping import scope_for

from ..models import RETENTION_DAYS, Channel, ChannelDay
from ..services.analytics import Figures, channel_day_compute, local_today, rolled_through

# The live part covers at most this many days: if the nightly job stopped for longer, older
# days show the last rollup (the admin says so) instead of aggregating follows on every request.
LIVE_MAX_DAYS = 7
# The longest range one read covers.
MAX_RANGE_DAYS = 366


@dataclass
class DayFigures:
    day: date
    figures: Figures
    live: bool = False

    @property
    def adds(self) -> int:
        return self.figures.adds

    @property
    def deleted_by_customer(self) -> int:
        return self.figures.deleted_by_customer

    @property
    def deleted_by_staff(self) -> int:
        return self.figures.deleted_by_staff

    @property
    def deletions(self) -> int:
        return self.figures.deleted_by_customer + self.figures.deleted_by_staff

    @property
    def net(self) -> int:
        return self.adds - self.deletions

    def retained(self, days: int) -> int | None:
        """Adds of the day still followed ``days`` days later; None while not yet known."""
        return self.figures.retained.get(days)

    def retention(self, days: int) -> float | None:
        """The share (0–1) of the day's adds retained after ``days`` days; None when unknown or no adds."""
        kept = self.retained(days)
        if kept is None or not self.adds:
            return None
        return kept / self.adds

    @property
    def retention_cells(self) -> list[tuple[int | None, float | None]]:
        return [(self.retained(n), self.retention(n)) for n in RETENTION_DAYS]


@dataclass
class ChannelAnalytics:
    state: str | None
    first_day: date
    last_day: date
    days: list[DayFigures]
    rolled_through: date | None
    live_from: date

    @property
    def totals(self) -> DayFigures:
        """Adds and deletions over the range (retention is a per-day figure and is not summed)."""
        total = Figures(retained=dict.fromkeys(RETENTION_DAYS))
        for item in self.days:
            total.adds += item.adds
            total.deleted_by_customer += item.deleted_by_customer
            total.deleted_by_staff += item.deleted_by_staff
        return DayFigures(day=self.last_day, figures=total)

    @property
    def is_empty(self) -> bool:
        return not any(item.adds or item.deletions for item in self.days)

    @property
    def rollup_is_late(self) -> bool:
        """Some days of the range before the live ones lie after the last rollup."""
        last_rolled = min(self.last_day, self.live_from - timedelta(days=1))
        return self.first_day <= last_rolled and (
            self.rolled_through is None or self.rolled_through < last_rolled
        )


def channel_analytics(
    *, user, state: str | None, first_day: date, last_day: date, now: datetime | None = None
) -> ChannelAnalytics:
    """One channel's figures (every channel's when ``state`` is None) per day of the range, as
    far as ``user``'s scope reaches. Days after today are left out."""
    today = local_today(now)
    last_day = min(last_day, today)
    through = rolled_through()
    earliest_live = today - timedelta(days=LIVE_MAX_DAYS - 1)
    live_from = max(through + timedelta(days=1), earliest_live) if through else earliest_live
    scope = scope_for(user)
    staff_ids = None if scope.everything else scope.staff().values("id")

    per_day: dict[date, DayFigures] = {}
    day = first_day
    while day <= last_day:
        per_day[day] = DayFigures(day=day, figures=Figures(), live=day >= live_from)
        day += timedelta(days=1)
    if not per_day or scope.is_empty:
        return ChannelAnalytics(state, first_day, last_day, list(per_day.values()), through, live_from)

    if first_day < live_from:
        rows = ChannelDay.objects.filter(
            day__gte=first_day, day__lte=min(last_day, live_from - timedelta(days=1))
        )
        if state is not None:
            rows = rows.filter(state=state)
        if staff_ids is not None:
            rows = rows.filter(staff_id__in=staff_ids)
        sums = (
            rows.order_by()
            .values("day")
            .annotate(
                adds_sum=Sum("adds"),
                by_customer=Sum("deleted_by_customer"),
                by_staff=Sum("deleted_by_staff"),
                **{f"kept_{n}": Sum(f"retained_{n}") for n in RETENTION_DAYS},
            )
        )
        for row in sums:
            per_day[row["day"]].figures = Figures(
                adds=row["adds_sum"] or 0,
                deleted_by_customer=row["by_customer"] or 0,
                deleted_by_staff=row["by_staff"] or 0,
                retained={n: row[f"kept_{n}"] for n in RETENTION_DAYS},
            )

    day = max(first_day, live_from)
    while day <= last_day:
        total = Figures()
        for item in channel_day_compute(day=day, now=now, state=state, staff_ids=staff_ids).values():
            total.add(item)
        per_day[day].figures = total
        day += timedelta(days=1)

    return ChannelAnalytics(state, first_day, last_day, list(per_day.values()), through, live_from)


@dataclass
class ChannelTotals:
    state: str
    name: str
    adds: int = 0
    deleted_by_customer: int = 0
    deleted_by_staff: int = 0

    @property
    def deletions(self) -> int:
        return self.deleted_by_customer + self.deleted_by_staff

    @property
    def net(self) -> int:
        return self.adds - self.deletions


def channel_totals_list(
    *, user, analytics: ChannelAnalytics, now: datetime | None = None
) -> list[ChannelTotals]:
    """Every channel's adds and deletions over the range of ``analytics`` (read for all
    channels), most adds first: which channels bring customers, at a glance.

    The same sources as ``channel_analytics``: the rollup grouped by state for the rolled-up
    days, the follows of each live day.
    """
    scope = scope_for(user)
    if scope.is_empty:
        return []
    staff_ids = None if scope.everything else scope.staff().values("id")
    first_day, last_day, live_from = analytics.first_day, analytics.last_day, analytics.live_from
    totals: dict[str, ChannelTotals] = {}

    def entry(state: str) -> ChannelTotals:
        return totals.setdefault(state, ChannelTotals(state=state, name=""))

    if first_day < live_from:
        rows = ChannelDay.objects.filter(
            day__gte=first_day, day__lte=min(last_day, live_from - timedelta(days=1))
        )
        if staff_ids is not None:
            rows = rows.filter(staff_id__in=staff_ids)
        for row in (
            rows.order_by()
            .values("state")
            .annotate(
                adds_sum=Sum("adds"), by_customer=Sum("deleted_by_customer"), by_staff=Sum("deleted_by_staff")
            )
        ):
            item = entry(row["state"])
            item.adds += row["adds_sum"] or 0
            item.deleted_by_customer += row["by_customer"] or 0
            item.deleted_by_staff += row["by_staff"] or 0
    day = max(first_day, live_from)
    while day <= last_day:
        for (state, _staff_id), figures in channel_day_compute(day=day, now=now, staff_ids=staff_ids).items():
            item = entry(state)
            item.adds += figures.adds
            item.deleted_by_customer += figures.deleted_by_customer
            item.deleted_by_staff += figures.deleted_by_staff
        day += timedelta(days=1)
    names = dict(Channel.objects.filter(state__in=list(totals)).values_list("state", "name"))
    for item in totals.values():
        item.name = names.get(item.state, "")
    return sorted(
        (item for item in totals.values() if item.adds or item.deletions), key=lambda i: (-i.adds, i.state)
    )
