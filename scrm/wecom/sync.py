"""Sync from WeCom: a registry of steps that apps register, run in order by one sync run.

Each app registers its step in ``AppConfig.ready()`` (org 100: departments and staff; customers
200: corp tags, customers and follows; groups 300: group chats and members), like the callback
handlers of :mod:`.events`. A step receives a :class:`SyncContext` and must be idempotent: a run
that is repeated, or retried half-way, ends with the same data.

Modes: ``full`` fetches everything and heals differences in both directions (rows WeCom has that
we lack are created, rows we hold that WeCom no longer has are closed); ``incremental`` lists ids
cheaply, fetches details only for what is new, and closes what is gone. The nightly
reconciliation is an incremental run.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeVar

from .errors import TransientError

if TYPE_CHECKING:
    from .client import WecomClient

logger = logging.getLogger(__name__)

T = TypeVar("T")

SyncMode = Literal["full", "incremental"]

ORDER_ORG = 100
ORDER_CUSTOMERS = 200
ORDER_GROUPS = 300


@dataclass
class SyncContext:
    """What a step gets: the client, the mode, and a way to report progress and counts."""

    client: WecomClient
    mode: SyncMode
    #: ``progress(step, done, total)``: ``total`` may be ``None`` while still unknown.
    progress: Callable[[str, int, int | None], None] = lambda step, done, total: None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Transient WeCom errors (busy, rate limited, timeouts) are retried this often per call,
    #: waiting ``retry_delay`` seconds, doubled after each attempt.
    retry_attempts: int = 6
    retry_delay: float = 1.0

    def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """``fn(*args, **kwargs)``, retried with backoff on :class:`~.errors.TransientError`.

        Every client call of a step goes through here, so that a sync survives WeCom's transient
        failures (QUALITY.md R4) without each step writing its own loop.
        """
        delay = self.retry_delay
        for attempt in range(1, self.retry_attempts + 1):
            try:
                return fn(*args, **kwargs)
            except TransientError as exc:
                if attempt == self.retry_attempts:
                    raise
                logger.info("sync: %s, retrying in %.1f s (attempt %s)", exc, delay, attempt)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def count(self, step: str, what: str, n: int = 1) -> None:
        """Add ``n`` to the ``what`` counter of ``step`` (created, updated, closed…)."""
        counters = self.counts.setdefault(step, {})
        counters[what] = counters.get(what, 0) + n


@dataclass(frozen=True)
class SyncStep:
    name: str
    order: int
    run: Callable[[SyncContext], None]


_STEPS: dict[str, SyncStep] = {}


def register_sync_step(name: str, *, order: int) -> Callable[[Callable[[SyncContext], None]], Callable]:
    """Register ``run(ctx)`` as the sync step ``name``; steps run by ascending ``order``."""

    def decorator(run: Callable[[SyncContext], None]) -> Callable[[SyncContext], None]:
        _STEPS[name] = SyncStep(name=name, order=order, run=run)
        return run

    return decorator


def sync_steps() -> list[SyncStep]:
    """The registered steps in the order they run."""
    return sorted(_STEPS.values(), key=lambda step: (step.order, step.name))
