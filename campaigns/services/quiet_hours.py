"""Quiet hours (settings.OUTREACH_QUIET_HOURS): when nothing is handed to WeCom and no step falls due.

Broadcasts, SOP steps and group posts ask :func:`quiet_until` before they act; inside quiet hours
it gives the local time they end, and the work waits until then.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.utils import timezone


def quiet_hours() -> tuple[time, time] | None:
    """``(start, end)`` of the quiet hours in local time, or None when they are off (empty setting)."""
    value = (settings.OUTREACH_QUIET_HOURS or "").strip()
    if not value:
        return None
    try:
        start, end = (time.fromisoformat(part.strip()) for part in value.split("-"))
    except ValueError as error:
        raise ImproperlyConfigured(f"OUTREACH_QUIET_HOURS must be HH:MM-HH:MM, not {value!r}") from error
    return (start, end) if start != end else None


def quiet_until(moment: datetime | None = None) -> datetime | None:
    """When the quiet hours holding ``moment`` (default now) end, or None outside quiet hours."""
    hours = quiet_hours()
    if hours is None:
        return None
    start, end = hours
    local = timezone.localtime(moment or timezone.now())
    now = local.timetz().replace(tzinfo=None)
    day = local.date()
    if start < end:  # e.g. 12:00-14:00, inside one day
        inside, end_day = start <= now < end, day
    elif now >= start:  # wraps midnight, evening part: ends tomorrow
        inside, end_day = True, day + timedelta(days=1)
    else:  # wraps midnight, morning part: ends today
        inside, end_day = now < end, day
    if not inside:
        return None
    return timezone.make_aware(datetime.combine(end_day, end), local.tzinfo)
