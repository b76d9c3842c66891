"""Tasks of moments campaigns, on the ``default`` queue: thin wrappers that take ids and call one
service. Each is safe to run twice: the services claim with conditional updates."""

from __future__ import annotations

from celery import shared_task

from ..services.moments import moment_job_poll, moment_launch, moment_results_sync, moments_due

__all__ = ["moment_job_poll_task", "moment_launch_task", "moment_results_sync_task", "moments_sync_run"]


@shared_task(bind=True, acks_late=True, queue="default", max_retries=20)
def moment_launch_task(self, *, campaign_id: int) -> None:
    """Create the moment in WeCom once; when the outcome was unknown, come back later to look
    for it before any new attempt (the periodic sweep also picks it up after the retries)."""
    delay = moment_launch(campaign_id=campaign_id)
    if delay is not None:
        raise self.retry(countdown=delay)


@shared_task(bind=True, acks_late=True, queue="default", max_retries=None)
def moment_job_poll_task(self, *, campaign_id: int) -> None:
    """Read the creation job until it is done; the service gives up after WeCom's 24 h."""
    delay = moment_job_poll(campaign_id=campaign_id)
    if delay is not None:
        raise self.retry(countdown=delay)


@shared_task(acks_late=True, queue="default")
def moment_results_sync_task(*, campaign_id: int) -> None:
    """Who published the moment, and whom it reached."""
    moment_results_sync(campaign_id=campaign_id)


@shared_task(acks_late=True, queue="default")
def moments_sync_run() -> dict[str, int]:
    """Periodic sweep (beat, every ``MOMENTS_SYNC_MINUTES``): results of recent campaigns, jobs
    still running, launches whose outcome is unknown; one task per campaign."""
    due = moments_due()
    for campaign_id in due["sync"]:
        moment_results_sync_task.delay(campaign_id=campaign_id)
    for campaign_id in due["poll"]:
        moment_job_poll_task.delay(campaign_id=campaign_id)
    for campaign_id in due["launch"]:
        moment_launch_task.delay(campaign_id=campaign_id)
    return {name: len(ids) for name, ids in due.items()}
