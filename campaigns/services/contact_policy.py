"""The contact policy applied before anything is sent: WeCom's receive cap (WECOM.md §8.3).

WeCom caps how many mass messages one customer (or one customer group) receives in a natural
period, counted in China's calendar: ``settings.OUTREACH_RECEIVE_CAP`` names the corp's rule,

- ``month_days``: as many as the month has days (WeCom's current default);
- ``week_7``: 7 a week (weeks start on Monday);
- ``day_1``: 1 a day;
- ``month_4``: 4 a month (the legacy rule).

:func:`receive_window` gives the period holding a moment and its cap, by the same rule as the
sandbox's ``scrm.sandbox.outreach.receive_window`` (both must agree, or WeCom's "over the cap" would
surprise us). :func:`receive_capped_sql` is the set-based check planning joins against: the targets
already holding ``cap`` messages in the period, counted over :class:`BroadcastRecipient` rows of
every broadcast (SOP broadcasts are broadcasts too):

- rows handed to WeCom in the period and not known to have failed (``handed`` or ``sent``);
- rows of other broadcasts being planned or handed over that are still ``pending``: two broadcasts
  planned together must not both pass a customer who has room for one only.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import connection
from django.utils import timezone

from ..models import Broadcast, BroadcastRecipient

#: WeCom's natural days, weeks and months are China's.
WECOM_TZ = ZoneInfo("Asia/Shanghai")
RULES = ("month_days", "week_7", "day_1", "month_4")

#: Recipient rows that count against the cap once handed: those not known to have failed.
COUNTED_STATUSES = (BroadcastRecipient.Status.HANDED, BroadcastRecipient.Status.SENT)
#: Broadcasts whose pending rows are about to be handed over.
IN_FLIGHT = (Broadcast.Status.PLANNING, Broadcast.Status.SENDING)


@dataclass(frozen=True)
class ReceiveWindow:
    """The natural period of the receive rule holding a moment: ``[start, end)`` and the cap."""

    rule: str
    start: datetime
    end: datetime
    cap: int


def receive_window(*, moment: datetime | None = None, rule: str | None = None) -> ReceiveWindow:
    """The receive cap's period holding ``moment`` (default now) under ``rule`` (default the setting)."""
    rule = rule or settings.OUTREACH_RECEIVE_CAP
    if rule not in RULES:
        raise ValueError(f"unknown receive cap rule {rule!r}")
    local = (moment or timezone.now()).astimezone(WECOM_TZ)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if rule == "day_1":
        start, cap = day, 1
        end = day + timedelta(days=1)
    elif rule == "week_7":
        start, cap = day - timedelta(days=day.weekday()), 7
        end = start + timedelta(days=7)
    else:
        start = day.replace(day=1)
        days = calendar.monthrange(local.year, local.month)[1]
        end = start + timedelta(days=days)
        cap = 4 if rule == "month_4" else days
    # Calendar arithmetic on the local wall clock, then back to aware instants (China has no DST,
    # but replace() keeps this right for any zone).
    return ReceiveWindow(
        rule=rule,
        start=start.replace(tzinfo=None).replace(tzinfo=WECOM_TZ),
        end=end.replace(tzinfo=None).replace(tzinfo=WECOM_TZ),
        cap=cap,
    )


def _quoted(values) -> str:
    return ", ".join(f"'{v}'" for v in values)  # our own enum values: no quoting needed


def receive_capped_sql(*, broadcast_id: int, window: ReceiveWindow) -> tuple[str, list]:
    """``SELECT target …``: the targets that already reached the cap in ``window``, leaving out
    ``broadcast_id``'s own rows. Meant to be joined (``LEFT JOIN (…) cap ON cap.target = …``).

    The handed part reads the partial index ``camp_bcast_rcpt_cap_idx`` (target, handed_at); the
    pending part reads only the in-flight broadcasts' rows through (broadcast, status).
    """
    table = BroadcastRecipient._meta.db_table
    broadcasts = Broadcast._meta.db_table
    adapt = connection.ops.adapt_datetimefield_value
    sql = f"""
        SELECT x.target FROM (
            SELECT r.target FROM {table} r
            WHERE r.handed_at >= %s AND r.handed_at < %s
              AND r.status IN ({_quoted(COUNTED_STATUSES)}) AND r.broadcast_id <> %s
            UNION ALL
            SELECT r.target FROM {table} r
            WHERE r.status = 'pending' AND r.broadcast_id IN (
                SELECT b.id FROM {broadcasts} b WHERE b.status IN ({_quoted(IN_FLIGHT)}) AND b.id <> %s
            )
        ) x GROUP BY x.target HAVING COUNT(*) >= %s
    """
    return sql, [adapt(window.start), adapt(window.end), broadcast_id, broadcast_id, window.cap]


def receive_capped_targets(
    *, targets: list[str], broadcast_id: int = 0, moment: datetime | None = None
) -> set[str]:
    """Which of ``targets`` are at the cap now (for checks of a few; planning joins the SQL)."""
    if not targets:
        return set()
    sql, params = receive_capped_sql(broadcast_id=broadcast_id, window=receive_window(moment=moment))
    marks = ", ".join(["%s"] * len(targets))
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT c.target FROM ({sql}) c WHERE c.target IN ({marks})", [*params, *targets])
        return {row[0] for row in cursor.fetchall()}
