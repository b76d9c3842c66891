"""The sandbox's simulated clock: real time plus an offset that tests and the console advance.

Everything time-bound in the sandbox (token expiry excepted, which follows real time so that our
client's cache stays honest) reads this clock: welcome-code expiry, transfer takeover after 24 h,
mass-message and moment windows, statistics days, the ``CreateTime`` of callbacks.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.db.models import F
from django.utils import timezone

from .models import SandboxClock

#: Called after every :func:`clock_advance`, so that state machines
#: (transfers taken over after 24 h…) move on and emit their callbacks then.
_listeners: list[Callable[[], None]] = []


def on_clock_advance(listener: Callable[[], None]) -> Callable[[], None]:
    """Register ``listener()`` to run after the simulated clock moves forward."""
    if listener not in _listeners:
        _listeners.append(listener)
    return listener


def clock_offset() -> int:
    """Seconds the simulated clock is ahead of real time."""
    row = SandboxClock.objects.filter(pk=1).values_list("offset_seconds", flat=True).first()
    return int(row or 0)


def sandbox_now() -> datetime:
    """The simulated current time (aware)."""
    return timezone.now() + timedelta(seconds=clock_offset())


def sandbox_time() -> int:
    """The simulated current time as a Unix timestamp, as WeCom's payloads carry it."""
    return int(sandbox_now().timestamp())


def clock_advance(seconds: int) -> int:
    """Move the simulated clock forward by ``seconds``; returns the new offset."""
    if seconds < 0:
        raise ValueError("the clock only moves forward")
    SandboxClock.objects.get_or_create(pk=1)
    SandboxClock.objects.filter(pk=1).update(offset_seconds=F("offset_seconds") + seconds)
    for listener in _listeners:
        listener()
    return clock_offset()


def clock_reset() -> None:
    """Back to real time (tests)."""
    SandboxClock.objects.update_or_create(pk=1, defaults={"offset_seconds": 0})
