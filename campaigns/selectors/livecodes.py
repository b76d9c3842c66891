"""Reads of staff live codes: the pool of a code, its members' adds today, today's adds per code.

Live codes are corp-wide configuration: every role may read them (``scrm.org.roles``), so the
list is not scoped to the reader's departments.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from functools import reduce
from operator import or_

from django.db.models import Count, Q, QuerySet

from scrm.org.models import Department, Staff

from ..models import LiveCode, LiveCodeMember, StaffAdd, StaffDailyAdds

__all__ = [
    "livecode_list",
    "department_staff",
    "livecode_pool",
    "livecode_pool_size",
    "livecode_adds_today",
    "livecode_ids_with_staff",
    "staff_adds_on",
]


def livecode_list() -> QuerySet[LiveCode]:
    return LiveCode.objects.select_related("channel")


def department_staff(department_ids: Iterable[int]) -> QuerySet[Staff]:
    """Active, contact-enabled staff of these departments and every department below them.

    A department in a contact way reaches its sub-departments in WeCom too; ``path`` makes that
    one indexed prefix query per department.
    """
    paths = list(Department.objects.filter(pk__in=list(department_ids)).values_list("path", flat=True))
    if not paths:
        return Staff.objects.none()
    below = reduce(or_, (Q(memberships__department__path__startswith=p) for p in paths))
    return (
        Staff.objects.filter(below, status=Staff.Status.ACTIVE, contact_enabled=True)
        .distinct()
        .order_by("name", "id")
    )


def livecode_pool(code: LiveCode) -> tuple[list[LiveCodeMember], list[Staff]]:
    """The named members (with their staff) and the staff the departments add, without repeats."""
    members = list(code.members.select_related("staff").order_by("id"))
    named = {m.staff_id for m in members}
    extra = [s for s in department_staff(code.departments.values_list("pk", flat=True)) if s.pk not in named]
    return members, extra


def livecode_pool_size(*, staff_ids: Iterable[int], department_ids: Iterable[int]) -> int:
    """How many users a way over these members and departments reaches (WeCom allows 100)."""
    ids = set(staff_ids)
    ids.update(department_staff(department_ids).values_list("pk", flat=True))
    return len(ids)


def staff_adds_on(*, staff_ids: Iterable[int], day: date) -> dict[int, int]:
    """Adds of each staff member on ``day`` (all of their adds: the cap protects the account)."""
    rows = StaffDailyAdds.objects.filter(day=day, staff_id__in=list(staff_ids)).values_list(
        "staff_id", "count"
    )
    return dict(rows)


def livecode_adds_today(*, code_ids: Iterable[int], day: date) -> dict[int, int]:
    """Adds through each code on ``day``: one grouped query over the (live_code, day) index."""
    rows = (
        StaffAdd.objects.filter(live_code_id__in=list(code_ids), day=day)
        .values("live_code_id")
        .annotate(n=Count("id"))
        .values_list("live_code_id", "n")
    )
    return dict(rows)


def livecode_ids_with_staff(*, staff_id: int) -> list[int]:
    """Active codes whose pool holds this staff member: named, or through a department above them."""
    named = set(
        LiveCodeMember.objects.filter(staff_id=staff_id, code__status=LiveCode.Status.ACTIVE).values_list(
            "code_id", flat=True
        )
    )
    paths = Department.objects.filter(memberships__staff_id=staff_id).values_list("path", flat=True)
    ancestors = {int(part) for path in paths for part in path.strip("/").split("/") if part}
    if ancestors:
        named.update(
            LiveCode.objects.filter(
                status=LiveCode.Status.ACTIVE, departments__wecom_id__in=ancestors
            ).values_list("pk", flat=True)
        )
    return sorted(named)
