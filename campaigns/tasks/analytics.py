"""Tasks of channel analytics: the nightly rollup and rebuilds of a range of days."""

from __future__ import annotations

from celery import shared_task

from ..services.analytics import channel_rollup_execute, channel_rollup_nightly

__all__ = ["channel_rollup_process", "channel_rollup_nightly_run"]


@shared_task(acks_late=True, queue="bulk")
def channel_rollup_process(run_id: int) -> str | None:
    """Run the queued rollup ``run_id``; a second delivery finds it claimed and does nothing.

    No automatic retry: every day is upserted on its own, so a failed run is healed by starting
    it again (or by the next night for the last 31 days).
    """
    run = channel_rollup_execute(run_id=run_id)
    return run.status if run is not None else None


@shared_task(acks_late=True, queue="bulk")
def channel_rollup_nightly_run() -> str | None:
    """The nightly recomputation (scheduled by beat); running it twice gives the same rows."""
    run = channel_rollup_nightly()
    return run.status if run is not None else None
