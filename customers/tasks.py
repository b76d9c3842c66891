"""Celery tasks of the customers app: thin wrappers that load ids and call one service."""

from __future__ import annotations

from celery import shared_task
from django.contrib.auth import get_user_model

from scrm.wecom.errors import TransientError

from .models import Tag
from .services import customers_tag, customers_untag


@shared_task(acks_late=True, queue="bulk")
def customers_tag_task(
    *, customer_ids: list[int], tag_ids: list[int], add: bool, user_id: int | None = None
) -> int:
    """Tag or untag a batch of customers in the background; safe to run twice (the service is idempotent)."""
    tags = list(Tag.objects.filter(id__in=tag_ids))
    by = get_user_model().objects.filter(pk=user_id).first() if user_id else None
    service = customers_tag if add else customers_untag
    return service(customer_ids=customer_ids, tags=tags, by=by)


# --- departed staff: reassignment of their customers (customers.transfers) -------------------------
# The transfer services import these tasks to queue them: imported when run, not at load.


@shared_task(acks_late=True, queue="bulk")
def departure_plan_task(*, staff_id: int, trigger: str) -> int | None:
    """Plan a departed member's customers into a transfer job; a second run plans nothing."""
    from .transfers.planning import departure_plan

    job = departure_plan(staff_id=staff_id, trigger=trigger)
    return job.pk if job else None


@shared_task(acks_late=True, queue="bulk")
def transfer_job_start_task(*, job_id: int) -> int:
    """Start a planned transfer job: its batches are handed to WeCom by their own tasks."""
    from .transfers.dispatch import transfer_job_start

    return transfer_job_start(job_id=job_id)


@shared_task(
    acks_late=True,
    queue="bulk",
    autoretry_for=(TransientError,),
    retry_backoff=60,
    retry_backoff_max=1800,
    retry_jitter=True,
    max_retries=5,
)
def transfers_nightly_task() -> dict[str, int]:
    """Every night (beat, 02:30): WeCom's unassigned list, then whatever departed staff still hold."""
    from .transfers.departures import departures_nightly

    return departures_nightly()


# --- transfers: hand-over, results, notices (customers.transfers.dispatch / results / notices) -----


@shared_task(bind=True, acks_late=True, queue="bulk", max_retries=8)
def transfer_batch_send_task(self, batch_id: int) -> str | None:
    """Claim → call → record one transfer batch. After a transient error the batch is pending
    again and this task comes back with a backoff; after a call without an answer it comes back
    once the claim's lease is over, to reconcile (the sweep does both when the retries run out)."""
    from .models import TransferBatch
    from .transfers.dispatch import claim_lease, retry_delay, transfer_batch_send

    error = transfer_batch_send(batch_id=batch_id)
    if error is None or self.request.retries >= self.max_retries:
        return error
    status = TransferBatch.objects.filter(pk=batch_id).values_list("status", flat=True).first()
    if status == TransferBatch.Status.PENDING:
        raise self.retry(countdown=retry_delay(self.request.retries + 1))
    if status == TransferBatch.Status.CALLING:
        raise self.retry(countdown=claim_lease().total_seconds() + 1)
    return error


@shared_task(acks_late=True, queue="default")
def transfer_dispatch_sweep_task() -> int:
    """Every 5 minutes (beat): reconcile batches cut off mid-call, queue lost ones again."""
    from .transfers.dispatch import transfer_dispatch_sweep

    return transfer_dispatch_sweep()


@shared_task(
    acks_late=True,
    queue="default",
    autoretry_for=(TransientError,),
    retry_backoff=60,
    retry_backoff_max=900,
    max_retries=3,
)
def transfer_results_sync_task(job_id: int | None = None) -> int:
    """Every TRANSFER_RESULTS_EVERY_MINUTES (beat): WeCom's results of waiting transfers applied."""
    from .transfers.results import transfer_results_sync

    return transfer_results_sync(job_id=job_id)


@shared_task(acks_late=True, queue="default")
def transfer_notices_send_task(job_id: int) -> int:
    """Tell each successor of a handed-over job what they receive (at most once each)."""
    from .transfers.notices import transfer_notices_send

    return transfer_notices_send(job_id=job_id)
