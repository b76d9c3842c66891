"""Tasks of broadcast dispatch: batching and sends on ``bulk``, the sweep and results on ``default``.

Sends go to ``bulk``: a broadcast is many calls that nobody waits for second by second, and it
must never delay welcome messages (``realtime``). Every task is safe to run twice: the batch's
claim decides who calls WeCom (campaigns.services.broadcast_dispatch).
"""

from __future__ import annotations

from celery import shared_task

from ..services.broadcast_dispatch import (
    broadcast_batch_send,
    broadcast_dispatch,
    broadcast_dispatch_sweep,
    broadcast_results_due,
    broadcast_results_sync,
)

__all__ = [
    "broadcast_batch_send_task",
    "broadcast_dispatch_sweep_task",
    "broadcast_dispatch_task",
    "broadcast_results_sync_due_task",
    "broadcast_results_sync_task",
]

#: A retry further away than this is left to the sweep (ETA tasks on Redis outlive no restart
#: reliably and are redelivered after the visibility timeout).
MAX_COUNTDOWN = 600


@shared_task(acks_late=True, queue="bulk")
def broadcast_dispatch_task(broadcast_id: int) -> int:
    """Batch a planned broadcast's recipients by sender and queue one send per batch."""
    return broadcast_dispatch(broadcast_id=broadcast_id)


@shared_task(bind=True, acks_late=True, queue="bulk", max_retries=None)
def broadcast_batch_send_task(self, batch_id: int) -> None:
    """Hand one batch to WeCom (or reconcile it); the service says when to try again."""
    delay = broadcast_batch_send(batch_id=batch_id)
    if delay is not None and delay <= MAX_COUNTDOWN:
        raise self.retry(countdown=delay)


@shared_task(acks_late=True, queue="default")
def broadcast_dispatch_sweep_task() -> int:
    """Every minute (beat): queue again the batches no task is carrying."""
    return broadcast_dispatch_sweep()


@shared_task(acks_late=True, queue="default")
def broadcast_results_sync_task(broadcast_id: int) -> None:
    """Sync one broadcast's confirmations and recipient results from WeCom."""
    broadcast_results_sync(broadcast_id=broadcast_id)


@shared_task(acks_late=True, queue="default")
def broadcast_results_sync_due_task() -> int:
    """Every few minutes (beat): one results sync per recent broadcast with open results."""
    due = broadcast_results_due()
    for broadcast_id in due:
        broadcast_results_sync_task.delay(broadcast_id)
    return len(due)
