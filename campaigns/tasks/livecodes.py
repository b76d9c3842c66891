"""Tasks of staff live codes, on the ``realtime`` queue: thin wrappers that take ids and call one
service. Each is safe to run twice (Celery delivers at least once)."""

from __future__ import annotations

import logging

from celery import shared_task

from scrm.wecom.errors import TransientError

from ..services.livecodes import LiveCodeSyncError, livecode_add_apply, livecode_reviews_due, livecode_sync

logger = logging.getLogger(__name__)

__all__ = ["livecode_add_apply_task", "livecode_review_task", "livecode_reviews_run"]

_RETRY = {
    "acks_late": True,
    "queue": "realtime",
    "autoretry_for": (TransientError,),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 8,
}


@shared_task(**_RETRY)
def livecode_add_apply_task(*, follow_id: int, code_id: int) -> None:
    """The code's auto tags, remark and description on one new customer."""
    livecode_add_apply(follow_id=follow_id, code_id=code_id)


@shared_task(acks_late=True, queue="realtime")
def livecode_review_task(*, code_id: int) -> bool:
    """Recompute one code under its row lock and rewrite its way if the list still differs.

    A WeCom failure is kept on the code, which the minute review retries a few minutes later.
    """
    try:
        return livecode_sync(code_id=code_id)
    except LiveCodeSyncError as error:
        logger.warning("live code %s not rewritten: %s", code_id, error)
        return False


@shared_task(acks_late=True, queue="realtime")
def livecode_reviews_run() -> int:
    """Every minute (beat): review only the codes whose next time boundary has come."""
    ids = livecode_reviews_due()
    for code_id in ids:
        livecode_review_task.apply_async(kwargs={"code_id": code_id})
    return len(ids)
