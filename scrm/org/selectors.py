"""Reads of departments and staff, always through the reader's data scope."""

from __future__ import annotations

from collections.abc import Iterable

from django.db.models import Q, QuerySet

from .models import Department, Staff, StaffDepartment
from .scoping import scope_for


def department_list(*, user) -> QuerySet[Department]:
    return scope_for(user).departments().select_related("parent")


def staff_list(*, user) -> QuerySet[Staff]:
    return scope_for(user).staff().select_related("main_department", "user")


def department_subtree(department: Department) -> QuerySet[Department]:
    """The department and everything below it, in one indexed prefix query."""
    return Department.objects.filter(path__startswith=department.path)


def staff_in_departments(departments: Iterable[Department]) -> QuerySet[Staff]:
    """Staff who sit anywhere in the subtrees of ``departments``."""
    q = Q(pk__in=[])
    for department in departments:
        q |= Q(department__path__startswith=department.path)
    return Staff.objects.filter(id__in=StaffDepartment.objects.filter(q).values("staff_id"))
