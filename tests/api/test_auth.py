"""API keys: the only way in besides a session; a bad key is a 401, a login without a role a 403."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from scrm.org.models import ApiKey
from scrm.org.services import api_key_create, api_key_revoke

pytestmark = pytest.mark.django_db

URL = reverse("api-v1:customer-list")


def get(**headers):
    return APIClient().get(URL, headers=headers)


@pytest.fixture
def key(company):
    return api_key_create(user=company.users.marketing, name="warehouse")


def test_bearer_and_x_api_key_both_work(key):
    _, raw = key
    assert get(Authorization=f"Bearer {raw}").status_code == 200
    assert get(**{"X-Api-Key": raw}).status_code == 200


def test_using_a_key_records_when(key):
    api_key, raw = key
    get(Authorization=f"Bearer {raw}")
    api_key.refresh_from_db()
    assert api_key.last_used_at is not None


def test_no_credentials_is_401_with_a_challenge(company):
    response = get()
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_revoked_key_is_401(key):
    api_key, raw = key
    api_key_revoke(api_key)
    assert get(Authorization=f"Bearer {raw}").status_code == 401


def test_an_expired_key_is_401(key):
    api_key, raw = key
    ApiKey.objects.filter(pk=api_key.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert get(Authorization=f"Bearer {raw}").status_code == 401


def test_a_key_of_a_deactivated_login_is_401(key, company):
    _, raw = key
    company.users.marketing.is_active = False
    company.users.marketing.save()
    assert get(Authorization=f"Bearer {raw}").status_code == 401


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer a b"},
        {"Authorization": "Bearer scrm_nope_nope"},
        {"Authorization": "Bearer not-a-key"},
        {"X-Api-Key": "scrm_"},
        {"X-Api-Key": "garbage"},
    ],
)
def test_malformed_or_unknown_keys_are_401(company, headers):
    assert get(**headers).status_code == 401


def test_a_tampered_secret_is_401(key):
    _, raw = key
    assert get(Authorization=f"Bearer {raw[:-2]}xx").status_code == 401


def test_a_key_of_a_login_without_a_role_is_403(company):
    _, raw = api_key_create(user=company.users.nobody, name="nothing")
    assert get(Authorization=f"Bearer {raw}").status_code == 403


def test_a_session_works_too(company):
    client = APIClient()
    client.force_login(company.users.guide_b)
    response = client.get(URL)
    assert response.status_code == 200
    assert [c["id"] for c in response.json()["results"]] == [company.cb1.pk]


class TestCreateApiKeyCommand:
    def test_prints_a_working_key_once(self, company, capsys):
        call_command("create_api_key", "--user", "guide_b", "--name", "POS", "--days", "30")
        out, err = capsys.readouterr()
        raw = out.strip()
        assert raw.startswith("scrm_") and "\n" not in raw
        key = ApiKey.objects.get(user=company.users.guide_b, name="POS")
        assert key.prefix in raw and raw not in err and key.digest not in raw
        assert timedelta(days=29) < key.expires_at - timezone.now() <= timedelta(days=30)
        response = get(Authorization=f"Bearer {raw}")
        assert [c["id"] for c in response.json()["results"]] == [company.cb1.pk]

    def test_an_unknown_user_is_a_clear_error(self, company):
        with pytest.raises(CommandError, match="No user named 'ghost'"):
            call_command("create_api_key", user="ghost", name="x")
        assert not ApiKey.objects.exists()

    @pytest.mark.parametrize("days", [0, -3, 100000])
    def test_days_out_of_range_are_refused(self, company, days):
        with pytest.raises(CommandError, match="--days"):
            call_command("create_api_key", user="guide_a", name="x", days=days)

    def test_a_name_too_long_is_a_clear_error(self, company):
        with pytest.raises(CommandError, match="100 characters"):
            call_command("create_api_key", user="guide_a", name="x" * 101)

    def test_warns_when_the_user_has_no_role(self, company, capsys):
        call_command("create_api_key", user="nobody", name="x")
        assert "no role" in capsys.readouterr().err
