"""Tasks of welcome messages: the send on the ``realtime`` queue, media uploads on ``default``."""

from __future__ import annotations

from celery import shared_task

from ..services.welcome import welcome_media_refresh, welcome_send

__all__ = ["welcome_media_refresh_task", "welcome_send_task"]


@shared_task(bind=True, acks_late=True, queue="realtime", max_retries=None)
def welcome_send_task(self, send_id: int) -> None:
    """Send one welcome; the service says when to retry (short pauses, never past the 20 s window,
    so ``max_retries`` is the service's to decide). A second delivery finds the row claimed or done."""
    delay = welcome_send(send_id=send_id)
    if delay is not None:
        raise self.retry(countdown=delay)


@shared_task(acks_late=True, queue="default")
def welcome_media_refresh_task(message_id: int | None = None) -> int:
    """Upload attachment files whose WeCom media is missing or expires within a day: after a save
    (one message), and hourly for all (beat), so that sends never upload inside their 20 s."""
    return welcome_media_refresh(message_id=message_id)
