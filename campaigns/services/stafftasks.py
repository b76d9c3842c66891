"""Staff tasks: creation (idempotent on ``source_key``), done / skipped, and batched notices.

Interface used by the SOP engines: :func:`staff_tasks_create`.
"""

from __future__ import annotations

from collections.abc import Iterable

from ..models import StaffTask


def staff_tasks_create(*, tasks: Iterable[StaffTask]) -> int:
    """Insert unsaved tasks in bulk; a task whose ``source_key`` exists is left alone. Returns how
    many were new. Their staff hear about them with the next batched notice."""
    raise NotImplementedError
