import pytest

pytestmark = pytest.mark.django_db


def test_the_api_root_lists_the_endpoints(client):
    body = client.get("/api/v1/").json()
    assert body["customer"].endswith("/api/v1/customers/")
    assert body["group-member"].endswith("/api/v1/group-members/")
    assert body["docs"].endswith("/api/v1/docs/")
