"""Broadcast planning: audience, contact policy, preview and recipient rows (PRODUCT.md D2, D3).

Interface (other services call these):
- :func:`broadcast_create` makes and launches a broadcast in one go (automatic senders: SOP steps,
  group SOP posts); idempotent on ``origin_key``.
- :func:`broadcast_plan` materializes the audience into recipient rows in bulk and applies the
  contact policy; the dispatch (``broadcast_dispatch``) takes it from there.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from ..models import Broadcast


def broadcast_create(
    *,
    kind: str,
    name: str,
    text: str = "",
    attachments: Sequence[dict] = (),
    segment_id: int | None = None,
    rules: dict | None = None,
    customer_ids: Sequence[int] | None = None,
    scheduled_at: datetime | None = None,
    origin: str = Broadcast.Origin.SOP,
    origin_key: str | None = None,
) -> Broadcast:
    """Create a broadcast and launch it (now or at ``scheduled_at``).

    ``attachments`` are dicts of :class:`~campaigns.models.AttachmentContent` fields. For groups,
    ``rules`` is ``{"owners", "group_tags", "stores", "groups"}``. ``customer_ids`` names the
    customers outright (an SOP step's due enrolments) instead of a segment or rules. A second call
    with the same ``origin_key`` returns the first broadcast and creates nothing.
    """
    raise NotImplementedError


def broadcast_plan(*, broadcast_id: int) -> None:
    """Write one recipient row per targeted customer or group, in bulk, each with its sender or
    its suppression reason, and the funnel's first counts; then start the dispatch."""
    raise NotImplementedError
