"""Writes of customers: tags, the customer-level tag index, timeline events and notes.

Tagging works on follows, as WeCom does (a corporate tag belongs to a staff–customer pair). A
customer-level action tags every active follow of the customer, then refreshes
``Customer.tag_ids``, the index that customer tag filters read.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from itertools import islice

from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from scrm.org.models import Staff

from .models import Customer, CustomerEvent, CustomerNote, Follow, FollowTag, Tag, TagGroup
from .selectors import TAG_NAMES_CACHE_KEY, follows_in_scope

BULK_CHUNK = 2000
TASK_BATCH = 5000  # customers per background task


def _chunks(ids: Iterable[int], size: int = BULK_CHUNK):
    iterator = iter(ids)
    while chunk := list(islice(iterator, size)):
        yield chunk


# --- The customer-level tag index -----------------------------------------------------------------

_REFRESH_TAG_IDS_SQL = """
UPDATE customers_customer AS c
SET tag_ids = COALESCE((
    SELECT array_agg(DISTINCT ft.tag_id ORDER BY ft.tag_id)
    FROM customers_followtag ft
    JOIN customers_follow f ON f.id = ft.follow_id
    JOIN customers_tag t ON t.id = ft.tag_id
    WHERE f.customer_id = c.id AND f.status = 'active' AND NOT t.deleted
), '{}')
WHERE c.id = ANY(%s)
"""


def customer_tag_ids_refresh(customer_ids: Iterable[int]) -> None:
    """Recompute ``tag_ids`` of these customers from the tags on their active follows."""
    for chunk in _chunks(customer_ids):
        if connection.vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute(_REFRESH_TAG_IDS_SQL, [chunk])
            continue
        found: dict[int, set[int]] = defaultdict(set)
        links = FollowTag.objects.filter(
            follow__customer_id__in=chunk, follow__status=Follow.Status.ACTIVE, tag__deleted=False
        ).values_list("follow__customer_id", "tag_id")
        for customer_id, tag_id in links:
            found[customer_id].add(tag_id)
        Customer.objects.bulk_update(
            [Customer(id=cid, tag_ids=sorted(found.get(cid, ()))) for cid in chunk],
            ["tag_ids"],
            batch_size=500,
        )


# --- Tagging --------------------------------------------------------------------------------------


def _follows_of(by):
    """The follows a person may tag: a guide tags their own relationship with the customer, not a
    colleague's; managers tag the follows of their staff; system callers (``by=None``) tag all."""
    return Follow.objects.all() if by is None else follows_in_scope(by)


def _live_tags(tags: Sequence[Tag]) -> list[Tag]:
    dead = [t.name for t in tags if t.deleted]
    if dead:
        raise ValidationError(_("These tags are deleted: %(names)s.") % {"names": ", ".join(dead)})
    return list(tags)


@transaction.atomic
def customers_tag(
    *, customer_ids: Iterable[int], tags: Sequence[Tag], by=None, source: str = CustomerEvent.Source.ADMIN
) -> int:
    """Put ``tags`` on the active follows of these customers that ``by`` may tag; return how many
    customers changed.

    Idempotent: tags already present are left as they are and produce no timeline event.
    """
    tags = _live_tags(tags)
    if not tags:
        return 0
    changed = 0
    now = timezone.now()
    tag_ids = [t.id for t in tags]
    for chunk in _chunks(customer_ids):
        follows = list(
            _follows_of(by)
            .filter(customer_id__in=chunk, status=Follow.Status.ACTIVE)
            .values_list("id", "customer_id")
        )
        existing = set(
            FollowTag.objects.filter(follow_id__in=[f for f, _ in follows], tag_id__in=tag_ids).values_list(
                "follow_id", "tag_id"
            )
        )
        new_links = [
            FollowTag(follow_id=follow_id, tag_id=tag_id)
            for follow_id, _ in follows
            for tag_id in tag_ids
            if (follow_id, tag_id) not in existing
        ]
        FollowTag.objects.bulk_create(new_links, ignore_conflicts=True, batch_size=1000)
        new_follow_ids = {link.follow_id for link in new_links}
        touched = {customer_id for follow_id, customer_id in follows if follow_id in new_follow_ids}
        customer_tag_ids_refresh(touched)
        _record(touched, CustomerEvent.Type.TAGGED, tags, by, source, now)
        changed += len(touched)
    return changed


@transaction.atomic
def customers_untag(
    *, customer_ids: Iterable[int], tags: Sequence[Tag], by=None, source: str = CustomerEvent.Source.ADMIN
) -> int:
    """Take ``tags`` off the follows of these customers that ``by`` may tag; return how many changed."""
    if not tags:
        return 0
    changed = 0
    now = timezone.now()
    tag_ids = [t.id for t in tags]
    for chunk in _chunks(customer_ids):
        links = FollowTag.objects.filter(
            follow__in=_follows_of(by).filter(customer_id__in=chunk), tag_id__in=tag_ids
        )
        touched = set(links.values_list("follow__customer_id", flat=True))
        if not touched:
            continue
        FollowTag.objects.filter(pk__in=links.values("pk")).delete()
        customer_tag_ids_refresh(touched)
        _record(touched, CustomerEvent.Type.UNTAGGED, tags, by, source, now)
        changed += len(touched)
    return changed


def _record(customer_ids, event_type, tags, by, source, when) -> None:
    payload = {"tags": [{"id": t.id, "name": t.name} for t in tags]}
    if by is not None:
        payload["by"] = by.get_username()
    staff = Staff.objects.filter(user=by).first() if by is not None and by.is_authenticated else None
    CustomerEvent.objects.bulk_create(
        [
            CustomerEvent(
                customer_id=cid,
                type=event_type,
                occurred_at=when,
                staff=staff,
                payload=payload,
                source=source,
            )
            for cid in customer_ids
        ],
        batch_size=1000,
    )


def customers_tag_enqueue(*, customer_ids: Sequence[int], tags: Sequence[Tag], add: bool, by=None) -> int:
    """Tag or untag many customers in background batches on the ``bulk`` queue; return the batch count.

    Each batch is an idempotent service call, so a batch that runs twice changes nothing more.
    """
    from .tasks import customers_tag_task  # tasks import services; imported here to keep one direction

    tags = _live_tags(tags) if add else list(tags)
    batches = [list(chunk) for chunk in _chunks(customer_ids, TASK_BATCH)]
    for batch in batches:
        kwargs = {
            "customer_ids": batch,
            "tag_ids": [t.id for t in tags],
            "add": add,
            "user_id": getattr(by, "pk", None),
        }
        transaction.on_commit(lambda kwargs=kwargs: customers_tag_task.apply_async(kwargs=kwargs))
    return len(batches)


# --- Tag definitions ------------------------------------------------------------------------------


def tag_names_invalidate() -> None:
    cache.delete(TAG_NAMES_CACHE_KEY)


def tag_group_save(group: TagGroup) -> TagGroup:
    group.full_clean()
    group.save()
    tag_names_invalidate()
    return group


def tag_save(tag: Tag) -> Tag:
    tag.full_clean()
    tag.save()
    tag_names_invalidate()
    return tag


@transaction.atomic
def tag_delete(tag: Tag) -> None:
    """Mark a tag deleted (WeCom keeps deleted ids) and drop it from every customer's index."""
    customer_ids = list(
        FollowTag.objects.filter(tag=tag).values_list("follow__customer_id", flat=True).distinct()
    )
    Tag.objects.filter(pk=tag.pk).update(deleted=True, updated_at=timezone.now())
    FollowTag.objects.filter(tag=tag).delete()
    customer_tag_ids_refresh(customer_ids)
    tag_names_invalidate()


@transaction.atomic
def tag_group_delete(group: TagGroup) -> None:
    """Delete a group and all its tags, as WeCom does."""
    for tag in group.tags.filter(deleted=False):
        tag_delete(tag)
    TagGroup.objects.filter(pk=group.pk).update(deleted=True, updated_at=timezone.now())
    tag_names_invalidate()


# --- Timeline and notes ---------------------------------------------------------------------------


def customer_note_add(
    *, customer: Customer, body: str, author, source: str = CustomerEvent.Source.ADMIN
) -> CustomerNote:
    """Write a note and its timeline entry."""
    staff = Staff.objects.filter(user=author).first() if author is not None else None
    note = CustomerNote(customer=customer, body=body.strip(), author=author, staff=staff)
    note.full_clean()
    with transaction.atomic():
        note.save()
        CustomerEvent.objects.create(
            customer=customer,
            type=CustomerEvent.Type.NOTE,
            occurred_at=note.created_at,
            staff=staff,
            payload={"note_id": note.id, "text": note.body[:200]},
            source=source,
        )
    return note
