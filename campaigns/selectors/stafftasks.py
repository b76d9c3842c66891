"""Reads of staff tasks, always through the reader's data scope.

A task is in scope when its staff member is: a guide sees their own tasks, a store manager those of
the staff of their subtrees, administrators and marketing managers every task.
"""

from __future__ import annotations

from django.db.models import QuerySet

from scrm.org.scoping import scope_for

from ..models import StaffTask

__all__ = ["staff_task_list"]


def staff_task_list(*, user) -> QuerySet[StaffTask]:
    """The tasks ``user`` may see, with what a list shows of each (staff, customer, group)."""
    tasks = StaffTask.objects.select_related("staff", "customer", "group")
    scope = scope_for(user)
    if scope.everything:
        return tasks
    if scope.is_empty:
        return tasks.none()
    if scope.is_guide:
        return tasks.filter(staff_id=scope.staff_id)
    return tasks.filter(staff__in=scope.staff())
