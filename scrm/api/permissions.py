"""Who may call the API: a login with a role; writes also need the role's Django permissions.

Which rows a caller sees is not decided here but by the selectors every ``get_queryset`` calls
(``scrm.org.scoping``). This module only answers "may this login use this endpoint at all":

- reads need a role (``scrm.org.models.Role``), so a login without one gets 403, not empty lists;
- writes need the Django permissions of the role's group (``scrm.org.roles``): by default those of
  the view's model for the method, as ``DjangoModelPermissions`` maps them, or the view's own
  ``required_permissions`` (set per action, e.g. tagging customers needs ``change_customer``).
"""

from __future__ import annotations

from rest_framework import permissions

from scrm.org.scoping import user_role


def role_of(user) -> str | None:
    """The user's role, looked up once per request (the user object lives as long as the request)."""
    if not hasattr(user, "_scrm_role"):
        user._scrm_role = user_role(user)
    return user._scrm_role


class RolePermission(permissions.DjangoModelPermissions):
    def has_permission(self, request, view) -> bool:
        user = request.user
        if not user or not user.is_authenticated or role_of(user) is None:
            return False
        if request.method in permissions.SAFE_METHODS:
            return True
        required = getattr(view, "required_permissions", None)
        if required is None:
            required = self.get_required_permissions(request.method, self._queryset(view).model)
        return user.has_perms(required)
