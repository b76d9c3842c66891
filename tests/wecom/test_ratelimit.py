"""The client-side rate limiter: fixed one-minute windows per scope, in the shared cache."""

from __future__ import annotations

import pytest
from django.core.cache import cache

from scrm.wecom.errors import RateLimited, TransientError
from scrm.wecom.ratelimit import RateLimiter


class FakeClock:
    def __init__(self, now: float) -> None:
        self.now = now
        self.slept: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds


def test_counts_per_scope_and_window():
    clock = FakeClock(6000.0)
    limiter = RateLimiter(cache=cache, limit=3, max_wait=0, clock=clock, sleep=clock.sleep)
    for _ in range(3):
        limiter.acquire("corp:user/get")
    limiter.acquire("corp:department/list")
    with pytest.raises(RateLimited) as info:
        limiter.acquire("corp:user/get")
    assert isinstance(info.value, TransientError)
    assert info.value.retry_after == 60
    clock.now += 60  # next window
    limiter.acquire("corp:user/get")


def test_waits_for_the_next_window_when_it_is_close():
    clock = FakeClock(6059.5)
    limiter = RateLimiter(cache=cache, limit=1, max_wait=1.0, clock=clock, sleep=clock.sleep)
    limiter.acquire("s")
    limiter.acquire("s")
    assert clock.slept == [pytest.approx(0.5)]


def test_rejects_nonsense_limits():
    with pytest.raises(ValueError):
        RateLimiter(cache=cache, limit=0)
