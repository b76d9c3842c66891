"""Writes of the organisation: the department tree, roles of logins and API keys."""

from __future__ import annotations

import hashlib
import secrets
from datetime import datetime, timedelta

from django.conf import settings
from django.contrib.auth.models import Group
from django.db import transaction
from django.db.models import Value
from django.db.models.functions import Concat, Substr
from django.utils import timezone

from .models import ApiKey, Department, Operator, Role
from .roles import role_group_name

API_KEY_PREFIX = "scrm"


def department_path(department: Department) -> str:
    parent_path = department.parent.path if department.parent_id else "/"
    return f"{parent_path}{department.wecom_id}/"


@transaction.atomic
def department_save(department: Department) -> Department:
    """Save a department and keep the materialized paths of it and its subtree right."""
    old_path = department.path
    department.path = department_path(department)
    department.full_clean()
    department.save()
    if old_path and old_path != department.path:
        # Moving a department moves its whole subtree: rewrite the path prefix in one UPDATE.
        Department.objects.filter(path__startswith=old_path).exclude(pk=department.pk).update(
            path=Concat(Value(department.path), Substr("path", len(old_path) + 1))
        )
    return department


@transaction.atomic
def operator_assign(*, user, role: str, departments=()) -> Operator:
    """Give ``user`` a role: admin access, the role's permission group, and for store managers
    the departments they manage."""
    if role not in Role.values:
        raise ValueError(f"Unknown role {role!r}; expected one of {', '.join(Role.values)}.")
    operator, _ = Operator.objects.update_or_create(user=user, defaults={"role": role})
    operator.departments.set(departments)
    role_groups = Group.objects.filter(name__in=[role_group_name(r) for r in Role.values])
    user.groups.remove(*role_groups)
    group, _ = Group.objects.get_or_create(name=role_group_name(role))
    user.groups.add(group)
    if not user.is_staff:
        user.is_staff = True  # every role works in the admin
        user.save(update_fields=["is_staff"])
    forget_access(user)
    return operator


def forget_access(user) -> None:
    """Drop the role and scope remembered on this user object (``scrm.org.scoping``)."""
    for attr in ("_scrm_operator", "_scrm_scope"):
        user.__dict__.pop(attr, None)


def _digest(raw_key: str) -> str:
    # Keys carry 256 random bits, so a plain SHA-256 is enough: no salt or slow hash is needed.
    return hashlib.sha256(raw_key.encode()).hexdigest()


def api_key_create(*, user, name: str, expires_at: datetime | None = None) -> tuple[ApiKey, str]:
    """Create a key for ``user`` and return it with the raw key, which is never stored or shown again."""
    prefix = secrets.token_hex(4)
    raw_key = f"{API_KEY_PREFIX}_{prefix}_{secrets.token_urlsafe(32)}"
    if expires_at is None:
        expires_at = timezone.now() + timedelta(days=settings.SCRM_API_KEY_DEFAULT_DAYS)
    key = ApiKey(user=user, name=name, prefix=prefix, digest=_digest(raw_key), expires_at=expires_at)
    key.full_clean()
    key.save()
    return key, raw_key


def api_key_authenticate(raw_key: str) -> ApiKey | None:
    """The live key matching ``raw_key``, or None when it is unknown, revoked or expired."""
    parts = raw_key.split("_", 2)
    if len(parts) != 3 or parts[0] != API_KEY_PREFIX:
        return None
    key = ApiKey.objects.select_related("user").filter(prefix=parts[1]).first()
    if key is None or not secrets.compare_digest(key.digest, _digest(raw_key)):
        return None
    now = timezone.now()
    if key.revoked_at or (key.expires_at and key.expires_at <= now) or not key.user.is_active:
        return None
    if key.last_used_at is None or now - key.last_used_at > timedelta(minutes=5):
        # Written at most every few minutes so that a busy integration does not write on every call.
        ApiKey.objects.filter(pk=key.pk).update(last_used_at=now)
    return key


def api_key_revoke(key: ApiKey) -> None:
    ApiKey.objects.filter(pk=key.pk, revoked_at__isnull=True).update(revoked_at=timezone.now())


@transaction.atomic
def operator_remove(*, user) -> None:
    """Take ``user``'s role away: the operator row and the role's permission group go together."""
    Operator.objects.filter(user=user).delete()
    user.groups.remove(*Group.objects.filter(name__in=[role_group_name(r) for r in Role.values]))
    forget_access(user)
