"""Tasks of broadcasts: planning on the ``bulk`` queue, the every-minute start of due ones."""

from __future__ import annotations

from celery import shared_task

from ..services.broadcasts import broadcast_due, broadcast_plan

__all__ = ["broadcast_due_task", "broadcast_plan_task"]


@shared_task(acks_late=True, queue="bulk")
def broadcast_plan_task(broadcast_id: int) -> None:
    """Write a broadcast's recipient rows (a redelivery writes nothing twice), then dispatch."""
    broadcast_plan(broadcast_id=broadcast_id)


@shared_task(acks_late=True, queue="default")
def broadcast_due_task() -> int:
    """Beat, every minute: start the scheduled broadcasts that fell due."""
    return broadcast_due()
