"""Reads of customers, follows, tags and the timeline, always through the reader's data scope."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable

from django.core.cache import cache
from django.db.models import Count, Q, QuerySet

from scrm.org.scoping import scope_for

from .models import Customer, CustomerEvent, CustomerNote, Follow, Tag, TagGroup, TransferItem, TransferJob

TAG_NAMES_CACHE_KEY = "customers:tag-names:v1"


def follows_in_scope(user) -> QuerySet[Follow]:
    """Follows the user may see: a guide their own active ones, a manager those of their staff."""
    scope = scope_for(user)
    if scope.everything:
        return Follow.objects.all()
    if scope.is_empty:
        return Follow.objects.none()
    if scope.is_guide:
        return Follow.objects.filter(staff_id=scope.staff_id, status=Follow.Status.ACTIVE)
    return Follow.objects.filter(staff__in=scope.staff())


def customer_list(*, user) -> QuerySet[Customer]:
    scope = scope_for(user)
    if scope.everything:
        return Customer.objects.all()
    if scope.is_empty:
        return Customer.objects.none()
    return Customer.objects.filter(id__in=follows_in_scope(user).values("customer_id"))


def follow_list(*, user) -> QuerySet[Follow]:
    return follows_in_scope(user).select_related("customer", "staff")


def _of_visible_customers(rows: QuerySet, user) -> QuerySet:
    """Rows that hang off a customer (events, notes) kept to the customers the user may see."""
    return rows if scope_for(user).everything else rows.filter(customer__in=customer_list(user=user))


def customer_event_list(*, user, customer: Customer | None = None) -> QuerySet[CustomerEvent]:
    events = CustomerEvent.objects.select_related("staff")
    if customer is not None:
        events = events.filter(customer=customer)
    return _of_visible_customers(events, user)


def customer_note_list(*, user, customer: Customer | None = None) -> QuerySet[CustomerNote]:
    notes = CustomerNote.objects.select_related("author", "staff")
    if customer is not None:
        notes = notes.filter(customer=customer)
    return _of_visible_customers(notes, user)


def tag_group_list(*, include_deleted: bool = False) -> QuerySet[TagGroup]:
    """Corporate tags are company-wide: every role may read them (they are not customer data)."""
    groups = TagGroup.objects.all()
    return groups if include_deleted else groups.filter(deleted=False)


def tag_list(*, include_deleted: bool = False) -> QuerySet[Tag]:
    tags = Tag.objects.select_related("group")
    return tags if include_deleted else tags.filter(deleted=False, group__deleted=False)


def tag_names() -> dict[int, tuple[str, str]]:
    """``{tag id: (group name, tag name)}`` for every tag, from the cache.

    Lists show tag names from ``Customer.tag_ids`` through this map, so that a page of customers
    costs no query per row. The tag services drop the cache whenever a tag changes.
    """
    names = cache.get(TAG_NAMES_CACHE_KEY)
    if names is None:
        names = {
            tag_id: (group, name)
            for tag_id, group, name in Tag.objects.values_list("id", "group__name", "name")
        }
        cache.set(TAG_NAMES_CACHE_KEY, names, timeout=3600)
    return names


def tag_labels(tag_ids: Iterable[int], names: dict[int, tuple[str, str]] | None = None) -> list[dict]:
    """Tag ids as ``{id, group, name}``; pass ``names`` (from ``tag_names()``) when labelling many rows."""
    names = tag_names() if names is None else names
    return [
        {"id": tag_id, "group": names[tag_id][0], "name": names[tag_id][1]}
        for tag_id in tag_ids
        if tag_id in names
    ]


def transfer_job_list(*, user) -> QuerySet[TransferJob]:
    """Transfer jobs the user may see: all for everything-scopes, else those from or to a member
    in their scope."""
    scope = scope_for(user)
    jobs = TransferJob.objects.select_related("handover", "takeover")
    if scope.everything:
        return jobs
    if scope.is_empty:
        return jobs.none()
    staff = scope.staff().values("id")
    return jobs.filter(Q(handover__in=staff) | Q(takeover__in=staff))


def transfer_job_counts(job_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """``{job id: {item status: count}}`` for these jobs (every status, zeros included), in one
    grouped query."""
    job_ids = list(job_ids)
    counts: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(TransferItem.Status.values, 0))
    rows = (
        TransferItem.objects.filter(job_id__in=job_ids)
        .order_by()
        .values("job_id", "status")
        .annotate(n=Count("id"))
        .values_list("job_id", "status", "n")
    )
    for job_id, status, n in rows:
        counts[job_id][status] = n
    return {job_id: counts[job_id] for job_id in job_ids}
