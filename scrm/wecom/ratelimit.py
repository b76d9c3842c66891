"""A client-side rate limiter that keeps every process together under WeCom's per-API limits.

WeCom allows 10,000 calls a minute per corp and per API (WECOM.md §15) and blocks the API for
60 s after a breach. We count our own calls in fixed one-minute windows in the shared cache (Redis
in production, where ``incr`` is atomic across processes) and stop a little below the limit.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from django.core.cache import BaseCache

from .errors import RateLimited

DEFAULT_LIMIT_PER_MINUTE = 9000


class RateLimiter:
    """Fixed-window counter per scope (corp + API path) in a Django cache.

    ``acquire(scope)`` counts one call. Over the limit it waits for the next window when that is
    at most ``max_wait`` seconds away, and otherwise raises :class:`RateLimited` with
    ``retry_after`` so that a task can retry later instead of blocking a worker.
    """

    def __init__(
        self,
        *,
        cache: BaseCache,
        limit: int = DEFAULT_LIMIT_PER_MINUTE,
        window: int = 60,
        max_wait: float = 1.0,
        key_prefix: str = "wecom:rate",
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if limit < 1 or window < 1:
            raise ValueError("limit and window must be positive")
        self.cache = cache
        self.limit = limit
        self.window = window
        self.max_wait = max_wait
        self.key_prefix = key_prefix
        self.clock = clock
        self.sleep = sleep

    def acquire(self, scope: str) -> None:
        """Count one call under ``scope``; wait or raise :class:`RateLimited` when over the limit."""
        while True:
            now = self.clock()
            slot = int(now // self.window)
            key = f"{self.key_prefix}:{scope}:{slot}"
            # add() creates the counter once per window; incr() is atomic on Redis and locmem.
            self.cache.add(key, 0, timeout=self.window * 2)
            try:
                count = self.cache.incr(key)
            except ValueError:  # evicted between add and incr
                continue
            if count <= self.limit:
                return
            retry_after = (slot + 1) * self.window - now
            if retry_after > self.max_wait:
                raise RateLimited(
                    None,
                    f"client-side limit of {self.limit} calls per {self.window}s reached",
                    scope,
                    retry_after=retry_after,
                )
            self.sleep(retry_after)
