"""The organisation admin: departments, staff, roles and API keys."""

from __future__ import annotations

import hashlib
import re

import pytest
from django.contrib.auth.models import Group

from scrm.org.models import ApiKey, Operator, Role
from scrm.org.services import api_key_authenticate, api_key_create
from tests.factories import UserFactory

from .helpers import action_data, listed, listed_names, messages_of, url

pytestmark = pytest.mark.django_db

RAW_KEY = re.compile(r"scrm_[0-9a-f]{8}_[A-Za-z0-9_-]{20,}")


# --- Departments and staff ------------------------------------------------------------------------


def test_department_list_shows_the_tree_path_and_the_store_flag(login):
    response = login("admin").get(url("org.department"))
    assert listed_names(response) == ["East region", "HQ", "Store A", "Store B", "West region"]
    content = response.content.decode()
    assert "HQ / East region / Store A" in content
    assert "HQ / West region / Store B" in content
    stores = {d.name for d in listed(login("admin").get(url("org.department") + "?is_store__exact=1"))}
    assert stores == {"Store A", "Store B"}


@pytest.mark.parametrize(
    ("who", "departments", "staff"),
    [
        (
            "admin",
            ["East region", "HQ", "Store A", "Store B", "West region"],
            ["Guide A (sa)", "Guide B (sb)"],
        ),
        ("store_manager", ["East region", "Store A"], ["Guide A (sa)"]),
        ("guide_a", ["Store A"], ["Guide A (sa)"]),
        ("guide_b", ["Store B"], ["Guide B (sb)"]),
    ],
)
def test_departments_and_staff_are_scoped(login, who, departments, staff):
    client = login(who)
    assert listed_names(client.get(url("org.department"))) == departments
    assert listed_names(client.get(url("org.staff"))) == staff


def test_staff_page_shows_departments_and_hides_other_stores_staff(login, company):
    client = login("store_manager")
    response = client.get(url("org.staff", "change", company.sa.pk))
    assert response.status_code == 200
    assert "Store A" in response.content.decode()
    response = client.get(url("org.staff", "change", company.sb.pk), follow=True)
    assert any("doesn’t exist" in m for m in messages_of(response))


def test_staff_filter_by_department_takes_the_subtree(login, company):
    response = login("admin").get(url("org.staff") + f"?department={company.west.pk}")
    assert listed_names(response) == ["Guide B (sb)"]


# --- Roles ----------------------------------------------------------------------------------------


def test_an_administrator_assigns_a_role_through_the_service(login, company):
    newcomer = UserFactory(username="west_manager", is_staff=False)
    response = login("admin").post(
        url("org.operator", "add"),
        {"user": newcomer.pk, "role": Role.STORE_MANAGER, "departments": [company.west.pk]},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    operator = Operator.objects.get(user=newcomer)
    assert operator.role == Role.STORE_MANAGER
    assert list(operator.departments.all()) == [company.west]
    newcomer.refresh_from_db()
    assert newcomer.is_staff
    assert list(newcomer.groups.values_list("name", flat=True)) == ["role:store_manager"]

    # and the new role works at once: the west manager sees the west's customer only
    from django.test import Client

    other = Client()
    other.force_login(newcomer)
    assert listed_names(other.get(url("customers.customer"))) == ["王五"]


def test_changing_a_role_swaps_the_permission_group(login, company):
    operator = Operator.objects.get(user=company.users.guide_a)
    response = login("admin").post(
        url("org.operator", "change", operator.pk), {"role": Role.MARKETING_MANAGER, "departments": []}
    )
    assert response.status_code == 302
    assert list(company.users.guide_a.groups.values_list("name", flat=True)) == ["role:marketing_manager"]


def test_removing_a_role_takes_the_permissions_away(login, company):
    operator = Operator.objects.get(user=company.users.guide_b)
    response = login("admin").post(url("org.operator", "delete", operator.pk), {"post": "yes"})
    assert response.status_code == 302
    assert not Operator.objects.filter(user=company.users.guide_b).exists()
    assert not company.users.guide_b.groups.exists()


@pytest.mark.parametrize("who", ["marketing", "store_manager", "guide_a"])
def test_only_administrators_manage_roles(login, who):
    client = login(who)
    assert client.get(url("org.operator")).status_code == 403
    assert client.get(url("org.operator", "add")).status_code == 403


# --- API keys -------------------------------------------------------------------------------------


def test_creating_an_api_key_shows_it_once_and_stores_only_its_digest(login, company):
    client = login("admin")
    response = client.post(
        url("org.apikey", "add"),
        {"name": "POS", "user": company.users.marketing.pk, "expires_at_0": "", "expires_at_1": ""},
        follow=True,
    )
    assert response.status_code == 200
    shown = [m for m in messages_of(response) if RAW_KEY.search(m)]
    assert len(shown) == 1
    raw_key = RAW_KEY.search(shown[0]).group(0)
    assert raw_key in response.content.decode()

    key = ApiKey.objects.get()
    assert key.user == company.users.marketing
    assert key.digest == hashlib.sha256(raw_key.encode()).hexdigest()
    assert raw_key not in [str(getattr(key, f.attname)) for f in ApiKey._meta.concrete_fields]
    assert api_key_authenticate(raw_key) == key
    assert key.expires_at is not None  # the default lifetime

    # never shown again, neither in the list nor on the key's page; the digest is never shown
    for page in (url("org.apikey"), url("org.apikey", "change", key.pk)):
        content = client.get(page).content.decode()
        assert raw_key not in content
        assert key.digest not in content
        assert key.prefix in content


def test_a_marketing_manager_creates_keys_for_themselves_and_sees_only_theirs(login, company):
    api_key_create(user=company.users.admin, name="admin's key")
    client = login("marketing")
    response = client.post(
        url("org.apikey", "add"),
        {"name": "CRM sync", "user": company.users.admin.pk, "expires_at_0": "", "expires_at_1": ""},
    )
    assert response.status_code == 302
    assert ApiKey.objects.get(name="CRM sync").user == company.users.marketing
    assert listed_names(client.get(url("org.apikey"))) == [str(ApiKey.objects.get(name="CRM sync"))]


def test_revoke_action(login, company):
    key, raw_key = api_key_create(user=company.users.admin, name="old")
    response = login("admin").post(url("org.apikey"), action_data("revoke", key.pk, index="0"))
    assert response.status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert api_key_authenticate(raw_key) is None


def test_keys_are_not_edited(login, company):
    key, _ = api_key_create(user=company.users.admin, name="old")
    login("admin").post(url("org.apikey", "change", key.pk), {"name": "renamed"})
    key.refresh_from_db()
    assert key.name == "old"


# --- Sidebar --------------------------------------------------------------------------------------


def test_sidebar_shows_what_the_person_may_open(login):
    content = login("guide_a").get(url("customers.customer")).content.decode()
    assert f'href="{url("customers.customer")}"' in content
    assert f'href="{url("groups.groupchat")}"' in content
    assert f'href="{url("org.apikey")}"' not in content
    assert f'href="{url("org.operator")}"' not in content
    content = login("admin").get(url("customers.customer")).content.decode()
    assert f'href="{url("org.operator")}"' in content
    # a marketing manager holds the permission, but roles are for administrators only
    content = login("marketing").get(url("customers.customer")).content.decode()
    assert f'href="{url("org.operator")}"' not in content
    assert f'href="{url("org.apikey")}"' in content


def test_role_groups_exist_for_every_role():
    assert set(Group.objects.values_list("name", flat=True)) >= {f"role:{r}" for r in Role.values}


def test_staff_autocomplete_offers_only_the_staff_in_scope(login):
    query = "?app_label=customers&model_name=follow&field_name=staff&term=Guide"
    response = login("guide_a").get("/admin/autocomplete/" + query)
    assert [r["text"] for r in response.json()["results"]] == ["Guide A (sa)"]
    response = login("admin").get("/admin/autocomplete/" + query)
    assert [r["text"] for r in response.json()["results"]] == ["Guide A (sa)", "Guide B (sb)"]


def test_the_store_flag_is_ours_to_set_and_the_tree_stays(login, company):
    client = login("marketing")
    response = client.post(url("org.department", "change", company.west.pk), {"is_store": "on"})
    assert response.status_code == 302, response.content.decode()[:2000]
    company.west.refresh_from_db()
    assert company.west.is_store
    assert (company.west.name, company.west.path) == ("West region", "/1/20/")
    assert login("guide_a").post(url("org.department", "change", company.store_a.pk), {}).status_code == 403
