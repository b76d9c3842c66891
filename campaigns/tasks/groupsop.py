"""Tasks of group SOP: the every-minute tick (beat), thin over its service. Safe to run twice at once:
occurrences are unique rows claimed with ``SKIP LOCKED``."""

from __future__ import annotations

from celery import shared_task

from ..services.groupsop import group_sop_tick

__all__ = ["group_sop_tick_run"]


@shared_task(acks_late=True, queue="default")
def group_sop_tick_run() -> int:
    """Every minute (beat): record the rules' occurrences and act on the due runs."""
    return group_sop_tick()
