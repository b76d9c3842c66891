"""Celery tasks of the customers app: thin wrappers that load ids and call one service."""

from __future__ import annotations

from celery import shared_task
from django.contrib.auth import get_user_model

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
