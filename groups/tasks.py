"""Tasks of the groups app: group ownership transfers (beat, and right after planning)."""

from __future__ import annotations

from celery import shared_task

from .transfers import group_transfers_send

__all__ = ["group_transfers_send_run"]


@shared_task(acks_late=True, queue="default")
def group_transfers_send_run() -> int:
    """Every 30 minutes (beat) and after a job's groups are planned: hand the due groups to their
    new owners. Two runs at once share the work: each row is claimed by one. Returns the calls."""
    return group_transfers_send().calls
