"""Who a staff live code lists now: the distribution rules as a pure function.

:func:`livecode_eligibility` takes a small input (the pool as ``Seat`` rows with each member's adds
today, the code's ``Rules``, the cap policy, a clock) and says who is live, who is listed and
why every other member is not, plus the next time the answer may change by time alone. No
database, no WeCom: every rule is tested with a fixed clock (tests/campaigns).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from fractions import Fraction

from django.conf import settings
from django.utils.translation import gettext_lazy

from ..models import LiveCode

__all__ = [
    "LIVE",
    "NOT_PICKED",
    "BACKUP_WAITING",
    "OFF_DUTY",
    "CAPPED",
    "INACTIVE",
    "NO_CONTACT",
    "REASONS",
    "Seat",
    "Special",
    "Rules",
    "CapPolicy",
    "SeatStatus",
    "Eligibility",
    "livecode_eligibility",
    "seat_cap",
    "is_on_duty",
    "auto_accept_now",
    "next_boundary",
]

LIVE = "live"
NOT_PICKED = "not_picked"
BACKUP_WAITING = "backup_waiting"
OFF_DUTY = "off_duty"
CAPPED = "capped"
INACTIVE = "inactive"
NO_CONTACT = "no_contact"

REASONS = {
    LIVE: gettext_lazy("live"),
    NOT_PICKED: gettext_lazy("waiting for their turn (the strategy picked others)"),
    BACKUP_WAITING: gettext_lazy("backup, waiting (others are live)"),
    OFF_DUTY: gettext_lazy("off duty"),
    CAPPED: gettext_lazy("capped"),
    INACTIVE: gettext_lazy("inactive or departed"),
    NO_CONTACT: gettext_lazy("customer contact not enabled"),
}


@dataclass(frozen=True)
class Seat:
    """One member of a pool as the rules see it."""

    staff_id: int
    userid: str
    name: str = ""
    weight: int = 1
    daily_cap: int | None = None
    is_backup: bool = False
    active: bool = True
    contact_enabled: bool = True
    wecom_created_at: datetime | None = None
    adds_today: int = 0


@dataclass(frozen=True)
class Special:
    first_day: date
    last_day: date
    closed: bool = False
    start: time | None = None
    end: time | None = None


@dataclass(frozen=True)
class Rules:
    strategy: str = LiveCode.Strategy.ROUND_ROBIN
    daily_cap: int | None = None
    skip_verify: bool = True
    auto_accept_from: time | None = None
    auto_accept_until: time | None = None
    hours: tuple[tuple[int, time, time], ...] = ()  # (weekday, start, end)
    specials: tuple[Special, ...] = ()


@dataclass(frozen=True)
class CapPolicy:
    new_account_days: int = 30
    new_account_cap: int = 60
    established_cap: int = 200

    @classmethod
    def from_settings(cls) -> CapPolicy:
        return cls(
            settings.LIVECODE_NEW_ACCOUNT_DAYS,
            settings.LIVECODE_NEW_ACCOUNT_CAP,
            settings.LIVECODE_ESTABLISHED_CAP,
        )


@dataclass(frozen=True)
class SeatStatus:
    seat: Seat
    cap: int
    reason: str

    @property
    def reason_label(self) -> str:
        return str(REASONS[self.reason])


@dataclass(frozen=True)
class Eligibility:
    """What a way should list now, why each member is or is not in it, and when to look again.

    ``users`` is empty when nobody at all is live (everyone capped, off duty or gone): a way
    cannot list nobody, so the caller keeps the way's last list and the status view says so.
    """

    users: tuple[str, ...]
    skip_verify: bool
    on_duty: bool
    seats: tuple[SeatStatus, ...]
    next_review_at: datetime
    backups_live: bool = False
    statuses: dict[int, SeatStatus] = field(default_factory=dict, compare=False)


def seat_cap(seat: Seat, rules: Rules, policy: CapPolicy, now: datetime) -> int:
    """Member's cap, else the code's, else by account age (unknown age: the safer new-account cap)."""
    if seat.daily_cap is not None:
        return seat.daily_cap
    if rules.daily_cap is not None:
        return rules.daily_cap
    created = seat.wecom_created_at
    if created is None or now - created < timedelta(days=policy.new_account_days):
        return policy.new_account_cap
    return policy.established_cap


def _special_of(rules: Rules, day: date) -> Special | None:
    return next((s for s in rules.specials if s.first_day <= day <= s.last_day), None)


def _spans_of(rules: Rules, day: date) -> list[tuple[time, time | None]] | None:
    """Today's open spans (end None: until midnight); None when the code has no hours at all."""
    special = _special_of(rules, day)
    if special is not None:
        if special.closed:
            return []
        return [(special.start or time.min, special.end)]
    if not rules.hours:
        return None
    return [(start, end) for weekday, start, end in rules.hours if weekday == day.weekday()]


def _within(moment: time, start: time, end: time | None) -> bool:
    return start <= moment and (end is None or moment < end)


def is_on_duty(rules: Rules, now: datetime) -> bool:
    """Working hours of the weekday; a special date range replaces them; no hours: always."""
    spans = _spans_of(rules, now.date())
    if spans is None:
        return True
    return any(_within(now.time(), start, end) for start, end in spans)


def auto_accept_now(rules: Rules, now: datetime) -> bool:
    """The code's auto-accept, limited to its window when it has one (a window may span midnight)."""
    if not rules.skip_verify:
        return False
    start, end = rules.auto_accept_from, rules.auto_accept_until
    if start is None and end is None:
        return True
    start, moment = start or time.min, now.time()
    if end is None:
        return moment >= start
    if start <= end:
        return start <= moment < end
    return moment >= start or moment < end


def next_boundary(rules: Rules, now: datetime) -> datetime:
    """The next moment the answer may change by time alone: an edge of today's hours or of the
    auto-accept window, else midnight (a new day resets the caps and brings new hours)."""
    edges: set[time] = set()
    for start, end in _spans_of(rules, now.date()) or ():
        edges.update(t for t in (start, end) if t is not None)
    if rules.skip_verify:
        edges.update(t for t in (rules.auto_accept_from, rules.auto_accept_until) if t is not None)
    later = sorted(t for t in edges if t > now.time() and t != time.min)
    tz = now.tzinfo
    if later:
        return datetime.combine(now.date(), later[0], tzinfo=tz)
    return datetime.combine(now.date() + timedelta(days=1), time.min, tzinfo=tz)


def _pick(strategy: str, live: list[SeatStatus]) -> list[SeatStatus]:
    """The strategy's subset of the live members; WeCom rotates among those listed."""
    if not live or strategy == LiveCode.Strategy.ROUND_ROBIN:
        return live
    if strategy == LiveCode.Strategy.WEIGHTED:
        # Smooth weighted rotation: list those furthest behind their share (adds per weight).
        load = {s.seat.staff_id: Fraction(s.seat.adds_today, max(s.seat.weight, 1)) for s in live}
    else:
        load = {s.seat.staff_id: Fraction(s.seat.adds_today) for s in live}
    lowest = min(load.values())
    return [s for s in live if load[s.seat.staff_id] == lowest]


def livecode_eligibility(
    *, rules: Rules, seats: Sequence[Seat], now: datetime, policy: CapPolicy | None = None
) -> Eligibility:
    """Who the way should list at ``now`` (local, aware), and why each other member is not live.

    Non-backup members are live when active, contact-enabled, on duty and under today's cap; the
    strategy picks among them. When none is, the live backups (hours do not apply to them, the
    cap does) are listed instead.
    """
    policy = policy or CapPolicy()
    on_duty = is_on_duty(rules, now)
    first: dict[int, SeatStatus] = {}
    main: list[SeatStatus] = []
    backups: list[SeatStatus] = []
    for seat in seats:
        cap = seat_cap(seat, rules, policy, now)
        if not seat.active:
            reason = INACTIVE
        elif not seat.contact_enabled:
            reason = NO_CONTACT
        elif not seat.is_backup and not on_duty:
            reason = OFF_DUTY
        elif seat.adds_today >= cap:
            reason = CAPPED
        else:
            reason = LIVE
        status = SeatStatus(seat, cap, reason)
        first[seat.staff_id] = status
        if reason == LIVE:
            (backups if seat.is_backup else main).append(status)
    picked = _pick(rules.strategy, main)
    backups_live = not picked
    if backups_live:
        picked = _pick(rules.strategy, backups)
    chosen = {s.seat.staff_id for s in picked}
    for staff_id, status in first.items():
        if status.reason == LIVE and staff_id not in chosen:
            waiting = BACKUP_WAITING if status.seat.is_backup and not backups_live else NOT_PICKED
            first[staff_id] = SeatStatus(status.seat, status.cap, waiting)
    ordered = tuple(first[s.staff_id] for s in seats)
    return Eligibility(
        users=tuple(s.seat.userid for s in ordered if s.reason == LIVE),
        skip_verify=auto_accept_now(rules, now),
        on_duty=on_duty,
        seats=ordered,
        next_review_at=next_boundary(rules, now),
        backups_live=backups_live and bool(picked),
        statuses=first,
    )
