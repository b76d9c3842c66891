"""Celery tasks of the WeCom connector: thin wrappers that take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from .errors import TransientError
from .services import inbox_drain, inbox_process, inbox_sweep
from .sync import sync_execute, sync_nightly


@shared_task(
    acks_late=True,
    queue="realtime",
    autoretry_for=(TransientError,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def callback_process(inbox_id: int) -> str | None:
    """Process one inbox row; a second run (Celery's at-least-once delivery) does nothing.

    New callbacks go through ``callback_drain``; this task takes a row that failed with a
    transient WeCom error and retries it with backoff.
    """
    row = inbox_process(inbox_id=inbox_id)
    return row.status if row is not None else None


@shared_task(acks_late=True, queue="realtime")
def callback_drain(slot: int) -> int:
    """Process the received callbacks of ``slot`` until none is left; return how many.

    Kicked by the callback view when no drain of the slot is pending (``drain_kick``); a
    redelivered or duplicate drain finds the rows claimed or done and does nothing to them.
    """
    return inbox_drain(slot=slot)


@shared_task(acks_late=True, queue="realtime")
def callback_sweep() -> dict[str, int]:
    """Every minute (beat): kick slots with callbacks left waiting, reclaim abandoned ones."""
    return inbox_sweep()


@shared_task(acks_late=True, queue="bulk")
def sync_process(run_id: int) -> str | None:
    """Run the queued sync ``run_id``; a second delivery finds it claimed and does nothing.

    No automatic retry: a step already retries WeCom's transient errors call by call, and a run
    that failed is healed by the next one (every step is idempotent).
    """
    run = sync_execute(run_id=run_id)
    return run.status if run is not None else None


@shared_task(acks_late=True, queue="bulk")
def sync_nightly_run() -> str | None:
    """The nightly reconciliation (scheduled by beat); a duplicate trigger the same night is a no-op."""
    run = sync_nightly()
    return run.status if run is not None else None
