"""API clients that authenticate the way integrations do: with a real API key per role."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from scrm.org.services import api_key_create


@pytest.fixture
def api(company):
    """``api("guide_a")``: a client calling with a fresh API key of that login."""

    def client_for(who: str) -> APIClient:
        _, raw_key = api_key_create(user=getattr(company.users, who), name=f"{who} key")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        return client

    return client_for


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return sorted(row["id"] for row in response.json()["results"])
