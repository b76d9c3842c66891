"""The data scope of a login: which staff, and through them which rows, it may see.

Every list and every object lookup in the admin, the API and the mobile pages goes through a
selector that applies this scope (QUALITY.md trap 10), so scoping lives in exactly one place:

- administrators and marketing managers see everything;
- store managers see the subtrees of the departments they manage;
- guides see what their own staff record is part of;
- anybody else (no role) sees nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.db.models import Q, QuerySet

from .models import Department, Operator, Role, Staff, StaffDepartment


@dataclass(frozen=True)
class DataScope:
    everything: bool = False
    department_paths: tuple[str, ...] = field(default=())
    staff_id: int | None = None

    @property
    def is_empty(self) -> bool:
        return not self.everything and not self.department_paths and self.staff_id is None

    @property
    def is_guide(self) -> bool:
        return not self.everything and self.staff_id is not None and not self.department_paths

    def department_q(self, prefix: str = "") -> Q:
        """Rows whose department (reached through ``prefix``) lies in a managed subtree."""
        q = Q(pk__in=[])
        for path in self.department_paths:
            q |= Q(**{f"{prefix}path__startswith": path})
        return q

    def departments(self) -> QuerySet[Department]:
        if self.everything:
            return Department.objects.all()
        if self.department_paths:
            return Department.objects.filter(self.department_q())
        if self.staff_id is not None:
            return Department.objects.filter(memberships__staff_id=self.staff_id)
        return Department.objects.none()

    def staff(self) -> QuerySet[Staff]:
        """Staff whose customers and groups this scope covers."""
        if self.everything:
            return Staff.objects.all()
        if self.department_paths:
            return Staff.objects.filter(
                id__in=StaffDepartment.objects.filter(
                    department__in=Department.objects.filter(self.department_q())
                ).values("staff_id")
            )
        if self.staff_id is not None:
            return Staff.objects.filter(id=self.staff_id)
        return Staff.objects.none()


EVERYTHING = DataScope(everything=True)
NOTHING = DataScope()


def scope_for(user) -> DataScope:
    """The scope of ``user``; cached on the user object for the length of a request."""
    if user is None or not user.is_authenticated or not user.is_active:
        return NOTHING
    cached = getattr(user, "_scrm_scope", None)
    if cached is not None:
        return cached
    scope = _compute_scope(user)
    user._scrm_scope = scope
    return scope


def user_role(user) -> str | None:
    if user is None or not user.is_authenticated:
        return None
    if user.is_superuser:
        return Role.ADMIN
    operator = _operator(user)
    return operator.role if operator else None


def _operator(user) -> Operator | None:
    """The login's operator row, read once per request (the role and the scope both need it)."""
    if not hasattr(user, "_scrm_operator"):
        user._scrm_operator = Operator.objects.filter(user=user).first()
    return user._scrm_operator


def _compute_scope(user) -> DataScope:
    if user.is_superuser:
        return EVERYTHING
    operator = _operator(user)
    if operator is None:
        return NOTHING
    if operator.role in (Role.ADMIN, Role.MARKETING_MANAGER):
        return EVERYTHING
    staff = Staff.objects.filter(user=user).only("id").first()
    if operator.role == Role.STORE_MANAGER:
        roots = list(operator.departments.values_list("path", flat=True))
        if not roots and staff is not None:
            roots = list(Department.objects.filter(memberships__staff=staff).values_list("path", flat=True))
        return DataScope(department_paths=tuple(sorted(set(roots))), staff_id=staff.id if staff else None)
    if operator.role == Role.GUIDE and staff is not None:
        return DataScope(staff_id=staff.id)
    return NOTHING
