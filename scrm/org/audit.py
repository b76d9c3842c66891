"""The audit log: one function to write it, so every entry has the same shape."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import IntegrityError, models, transaction
from django.utils import timezone

from .models import AuditEntry


def audit_record(
    action: str,
    *,
    target: models.Model,
    actor=None,
    details: dict[str, Any] | None = None,
    at: datetime | None = None,
    key: str | None = None,
) -> bool:
    """Write one audit entry about ``target``; with ``key``, only the first write of that key
    counts (returns whether this call wrote it)."""
    entry = AuditEntry(
        actor=actor if getattr(actor, "is_authenticated", False) else None,
        action=action,
        target_type=target._meta.label_lower,
        target_id=str(target.pk),
        target_repr=str(target)[:200],
        details=details or {},
        occurred_at=at or timezone.now(),
        key=key,
    )
    try:
        with transaction.atomic():  # a savepoint: a repeated key must not spoil the caller's work
            entry.save()
    except IntegrityError:
        if key is None:
            raise
        return False
    return True
