"""Tasks of group live codes: bring a code's join way in line with its groups."""

from __future__ import annotations

from celery import shared_task

from scrm.wecom.errors import TransientError

from ..services.groupcodes import groupcode_refresh

__all__ = ["groupcode_refresh_task"]


@shared_task(
    acks_late=True,
    queue="realtime",
    autoretry_for=(TransientError,),
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
    max_retries=8,
)
def groupcode_refresh_task(*, code_id: int, adopt: bool = False) -> bool:
    """Rotate full groups out of the code's join way (and adopt groups WeCom opened, with
    ``adopt``). On the realtime queue: a full group keeps receiving joins until it is rotated
    out. Safe to run twice: the service compares before it writes."""
    return groupcode_refresh(code_id=code_id, adopt=adopt)
