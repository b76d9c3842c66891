"""Tasks of staff tasks: the batched notices (beat), thin over their service."""

from __future__ import annotations

from celery import shared_task

from ..services.stafftasks import staff_tasks_notify

__all__ = ["staff_tasks_notify_run"]


@shared_task(acks_late=True, queue="default")
def staff_tasks_notify_run() -> int:
    """Every two minutes (beat): one WeCom app message per staff member with new tasks. A second
    run at the same time passes over the tasks the first one claimed."""
    return staff_tasks_notify()
