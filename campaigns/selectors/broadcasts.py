"""Reads of broadcasts: the scoped list, per-sender progress and the recipient list.

Scope (``scrm.org.scoping``): administrators and marketing managers see every broadcast; store
managers and guides read the broadcasts that one of their staff sends (a sender batch of theirs)
or that they created, and within one only their own staff's senders and recipients.
"""

from __future__ import annotations

from django.db.models import (
    Count,
    Exists,
    IntegerField,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce

from scrm.org.models import Staff
from scrm.org.scoping import scope_for

from ..models import Broadcast, BroadcastAttachment, BroadcastBatch, BroadcastRecipient

__all__ = ["broadcast_list", "broadcast_recipients", "broadcast_senders"]


def broadcast_list(*, user) -> QuerySet[Broadcast]:
    """The broadcasts ``user`` may read, with their attachments (files deferred) and segment."""
    scope = scope_for(user)
    broadcasts = Broadcast.objects.select_related("segment", "created_by").prefetch_related(
        Prefetch("attachments", queryset=BroadcastAttachment.objects.defer("file_content"))
    )
    if scope.everything:
        return broadcasts
    if scope.is_empty:
        return broadcasts.none()
    theirs = BroadcastBatch.objects.filter(broadcast=OuterRef("pk"), sender__in=scope.staff())
    return broadcasts.filter(Q(Exists(theirs)) | Q(created_by=user))


def broadcast_senders(*, broadcast: Broadcast, user) -> QuerySet[Staff]:
    """Per-sender progress: each sender's batches, recipients, batches handed over and confirmed
    in the client (``confirmed`` = every batch of theirs confirmed). Aggregated from the batches
    (a few per sender), never from the recipient rows."""
    scope = scope_for(user)
    batches = BroadcastBatch.objects.filter(broadcast=broadcast)
    staff = Staff.objects.filter(id__in=batches.values("sender_id"))
    if not scope.everything:
        staff = staff.filter(id__in=scope.staff().values("id"))

    # Staff has no reverse accessor to the batches (related_name="+"): aggregate by subqueries.
    def agg(expression, **filters):
        return Coalesce(
            Subquery(
                batches.filter(sender=OuterRef("pk"), **filters)
                .order_by()
                .values("sender")
                .annotate(v=expression)
                .values("v")[:1],
                output_field=IntegerField(),
            ),
            0,
        )

    return staff.annotate(
        batches=agg(Count("id")),
        recipients=agg(Sum("size")),
        handed_batches=agg(Count("id"), status=BroadcastBatch.Status.HANDED),
        confirmed_batches=agg(Count("id"), confirmed_at__isnull=False),
        failed_batches=agg(Count("id"), status=BroadcastBatch.Status.FAILED),
        # What WeCom calls the sender's task (their latest batch's; one batch up to 10,000 recipients).
        msgid=Coalesce(
            Subquery(
                batches.filter(sender=OuterRef("pk")).exclude(msgid="").order_by("-seq").values("msgid")[:1]
            ),
            Value(""),
        ),
    )


def broadcast_recipients(
    *, broadcast: Broadcast, user, status: str | None = None, reason: str | None = None
) -> QuerySet[BroadcastRecipient]:
    """One broadcast's recipients (millions: paginate by id), optionally by status and reason."""
    scope = scope_for(user)
    recipients = BroadcastRecipient.objects.filter(broadcast=broadcast).select_related(
        "customer", "group", "sender"
    )
    if not scope.everything:
        recipients = recipients.filter(sender__in=scope.staff())
    if status:
        recipients = recipients.filter(status=status)
    if reason:
        recipients = recipients.filter(reason=reason)
    return recipients
