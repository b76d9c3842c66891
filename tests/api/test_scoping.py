"""Each role sees exactly its own rows through every endpoint, by list and by id (QUALITY.md R6)."""

from __future__ import annotations

import pytest
from django.core.management import call_command
from django.urls import reverse
from rest_framework.test import APIClient

from customers.models import Follow
from groups.models import GroupMember
from tests.factories import CustomerEventFactory, FollowFactory

from .conftest import ids

pytestmark = pytest.mark.django_db

ALL = ["admin", "marketing", "store_manager", "guide_a", "guide_b"]


def _customers(company):
    return {
        "admin": [company.ca1, company.ca2, company.cb1],
        "marketing": [company.ca1, company.ca2, company.cb1],
        "store_manager": [company.ca1, company.ca2],
        "guide_a": [company.ca1, company.ca2],
        "guide_b": [company.cb1],
    }


def _expected(company, endpoint: str, who: str) -> list[int]:
    customers = _customers(company)[who]
    if endpoint == "customer":
        rows = customers
    elif endpoint == "follow":
        rows = Follow.objects.filter(customer__in=customers)
    elif endpoint == "group":
        rows = {"store_manager": [company.ga], "guide_a": [company.ga], "guide_b": [company.gb]}.get(
            who, [company.ga, company.gb]
        )
    elif endpoint == "group-member":
        groups = _expected(company, "group", who)
        rows = GroupMember.objects.filter(group_id__in=groups)
    elif endpoint == "staff":
        rows = {"store_manager": [company.sa], "guide_a": [company.sa], "guide_b": [company.sb]}.get(
            who, [company.sa, company.sb]
        )
    elif endpoint == "department":
        rows = {
            "store_manager": [company.east, company.store_a],
            "guide_a": [company.store_a],
            "guide_b": [company.store_b],
        }.get(who, [company.hq, company.east, company.west, company.store_a, company.store_b])
    return sorted(row if isinstance(row, int) else row.pk for row in rows)


ENDPOINTS = ["customer", "follow", "group", "group-member", "staff", "department"]


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("who", ALL)
def test_list_shows_exactly_the_callers_scope(api, company, endpoint, who):
    response = api(who).get(reverse(f"api-v1:{endpoint}-list"))
    assert ids(response) == _expected(company, endpoint, who)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
@pytest.mark.parametrize("who", ALL)
def test_by_id_is_404_outside_the_callers_scope(api, company, endpoint, who):
    client = api(who)
    visible = set(_expected(company, endpoint, who))
    everything = _expected(company, endpoint, "admin")
    assert visible  # every role sees something, so both branches below run across the matrix
    for pk in everything:
        response = client.get(reverse(f"api-v1:{endpoint}-detail", args=[pk]))
        assert response.status_code == (200 if pk in visible else 404), (endpoint, who, pk)
        if pk in visible:
            assert response.json()["id"] == pk


@pytest.mark.parametrize("who", ALL)
def test_timeline_and_notes_follow_the_customer_scope(api, company, who):
    client = api(who)
    visible = {c.pk for c in _customers(company)[who]}
    for customer in (company.ca1, company.cb1):
        CustomerEventFactory(customer=customer)
        expected = 200 if customer.pk in visible else 404
        assert client.get(reverse("api-v1:customer-timeline", args=[customer.pk])).status_code == expected
        assert client.get(reverse("api-v1:customer-notes", args=[customer.pk])).status_code == expected


def test_a_guides_key_from_the_command_sees_only_their_customers(company, capsys):
    """Acceptance: a guide's API key lists only that guide's customers and gets 404 for another's."""
    call_command("create_api_key", user="guide_a", name="mini program")
    raw_key = capsys.readouterr().out.strip()
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")

    listed = client.get(reverse("api-v1:customer-list"))
    assert ids(listed) == sorted([company.ca1.pk, company.ca2.pk])

    other = client.get(reverse("api-v1:customer-detail", args=[company.cb1.pk]))
    assert other.status_code == 404
    for name in ("customer-timeline", "customer-notes"):
        assert client.get(reverse(f"api-v1:{name}", args=[company.cb1.pk])).status_code == 404
    assert (
        client.post(
            reverse("api-v1:customer-notes", args=[company.cb1.pk]), {"body": "hello"}, format="json"
        ).status_code
        == 404
    )

    own = client.get(reverse("api-v1:customer-detail", args=[company.ca1.pk]))
    assert own.status_code == 200 and own.json()["name"] == "张三"


def test_a_guide_stops_seeing_a_customer_who_deleted_them(api, company):
    follow = company.ca2.follows.get()
    follow.status = Follow.Status.DELETED_BY_CUSTOMER
    follow.status_changed_at = follow.added_at
    follow.save()
    client = api("guide_a")
    assert ids(client.get(reverse("api-v1:customer-list"))) == [company.ca1.pk]
    assert client.get(reverse("api-v1:customer-detail", args=[company.ca2.pk])).status_code == 404
    assert client.get(reverse("api-v1:follow-detail", args=[follow.pk])).status_code == 404
    # the store manager keeps the lost customer: churn is theirs to manage
    assert company.ca2.pk in ids(api("store_manager").get(reverse("api-v1:customer-list")))


def test_a_customer_shows_only_the_follows_the_caller_may_see(api, company):
    FollowFactory(customer=company.ca1, staff=company.sb)  # ca1 is now followed by both guides
    as_a = api("guide_a").get(reverse("api-v1:customer-detail", args=[company.ca1.pk])).json()
    assert [f["staff"]["userid"] for f in as_a["follows"]] == ["sa"]
    as_admin = api("admin").get(reverse("api-v1:customer-detail", args=[company.ca1.pk])).json()
    assert sorted(f["staff"]["userid"] for f in as_admin["follows"]) == ["sa", "sb"]


@pytest.mark.parametrize(
    "name",
    [
        "customer-list",
        "follow-list",
        "group-list",
        "group-member-list",
        "staff-list",
        "department-list",
        "tag-list",
    ],
)
def test_a_login_without_a_role_is_refused(api, name):
    assert api("nobody").get(reverse(f"api-v1:{name}")).status_code == 403
