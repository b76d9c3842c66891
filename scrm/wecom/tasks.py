"""Celery tasks of the WeCom connector: thin wrappers that take ids and call one service."""

from __future__ import annotations

from celery import shared_task

from .errors import TransientError
from .services import inbox_process


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
    """Process one inbox row; a second run (Celery's at-least-once delivery) does nothing."""
    row = inbox_process(inbox_id=inbox_id)
    return row.status if row is not None else None
