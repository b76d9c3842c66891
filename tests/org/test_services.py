from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.utils import timezone

from scrm.org.models import ApiKey, Department, Role
from scrm.org.roles import role_group_name, roles_sync
from scrm.org.services import (
    api_key_authenticate,
    api_key_create,
    api_key_revoke,
    department_save,
    operator_assign,
)
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db


def test_moving_a_department_moves_its_subtree_paths(company):
    company.east.parent = company.west
    department_save(company.east)
    company.store_a.refresh_from_db()
    assert company.east.path == "/1/20/10/"
    assert company.store_a.path == "/1/20/10/100/"
    assert list(
        Department.objects.filter(path__startswith="/1/20/")
        .order_by("wecom_id")
        .values_list("name", flat=True)
    ) == ["East region", "West region", "Store A", "Store B"]


def test_a_new_department_gets_its_path():
    root = department_save(Department(wecom_id=1, name="HQ"))
    child = department_save(Department(wecom_id=7, name="Shop", parent=root, is_store=True))
    assert (root.path, child.path) == ("/1/", "/1/7/")


def test_role_groups_carry_the_role_permissions(db):
    roles_sync()
    guide = Group.objects.get(name=role_group_name(Role.GUIDE))
    codenames = set(guide.permissions.values_list("codename", flat=True))
    assert {"view_customer", "change_customer", "add_customernote"} <= codenames
    assert "delete_customer" not in codenames and "add_tag" not in codenames
    marketing = Group.objects.get(name=role_group_name(Role.MARKETING_MANAGER))
    assert marketing.permissions.filter(codename="add_tag").exists()


def test_assigning_a_role_replaces_the_previous_one(db):
    user = UserFactory(is_staff=False)
    operator_assign(user=user, role=Role.GUIDE)
    operator_assign(user=user, role=Role.MARKETING_MANAGER)
    assert list(user.groups.values_list("name", flat=True)) == [role_group_name(Role.MARKETING_MANAGER)]
    user.refresh_from_db()
    assert user.is_staff


def test_an_unknown_role_is_refused(db):
    with pytest.raises(ValueError, match="Unknown role"):
        operator_assign(user=UserFactory(), role="boss")


def test_api_keys_are_stored_hashed_and_checked(db):
    user = UserFactory()
    key, raw = api_key_create(user=user, name="POS")
    assert raw.startswith(f"scrm_{key.prefix}_")
    assert raw not in key.digest and len(key.digest) == 64
    assert api_key_authenticate(raw) == key
    assert api_key_authenticate(raw + "x") is None
    assert api_key_authenticate("scrm_nope_nope") is None
    assert api_key_authenticate("garbage") is None


def test_revoked_and_expired_keys_are_refused(db):
    user = UserFactory()
    revoked, raw_revoked = api_key_create(user=user, name="old")
    api_key_revoke(revoked)
    _, raw_expired = api_key_create(
        user=user, name="expired", expires_at=timezone.now() - timedelta(seconds=1)
    )
    assert api_key_authenticate(raw_revoked) is None
    assert api_key_authenticate(raw_expired) is None
    assert ApiKey.objects.count() == 2


def test_keys_of_deactivated_users_are_refused(db):
    user = UserFactory()
    _, raw = api_key_create(user=user, name="POS")
    user.is_active = False
    user.save()
    assert api_key_authenticate(raw) is None
