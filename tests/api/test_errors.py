"""Bad input is a 400 whose body names the offending parameter; never a 500 (QUALITY.md R5)."""

from __future__ import annotations

import base64

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

HUGE = "99999999999999999999"  # more than a 64-bit integer holds


@pytest.mark.parametrize(
    ("endpoint", "params", "field"),
    [
        ("customer", {"tags_any": "999999"}, "tags_any"),
        ("customer", {"tags_all": "abc"}, "tags_all"),
        ("customer", {"tags_none": "1,x"}, "tags_none"),
        ("customer", {"tags_any": HUGE}, "tags_any"),
        ("customer", {"tags_any": "-1"}, "tags_any"),
        ("customer", {"staff": "999999"}, "staff"),
        ("customer", {"staff": HUGE}, "staff"),
        ("customer", {"department": "999999"}, "department"),
        ("customer", {"department": "east"}, "department"),
        ("customer", {"department": HUGE}, "department"),
        ("customer", {"added_after": "2024-13-01"}, "added_after"),
        ("customer", {"added_before": "yesterday"}, "added_before"),
        ("customer", {"added_before": "9999-12-31"}, "added_before"),  # a day later would overflow
        ("customer", {"added_after": "0001-01-01"}, "added_after"),
        ("follow", {"added_after": "0001-01-01T00:00:00+14:00"}, "added_after"),  # before year 1 in UTC
        ("follow", {"added_before": "9999-12-31T23:59:59-12:00"}, "added_before"),
        ("customer", {"q": "nul\x00"}, "q"),
        ("customer", {"channel": "\x00"}, "channel"),
        ("customer", {"gender": "7"}, "gender"),
        ("customer", {"lifecycle_stage": "vip"}, "lifecycle_stage"),
        ("customer", {"type": "x"}, "type"),
        ("customer", {"channel": "x" * 65}, "channel"),
        ("follow", {"staff": "999999"}, "staff"),
        ("follow", {"customer": "abc"}, "customer"),
        ("follow", {"added_after": "2024-02-30T00:00:00"}, "added_after"),
        ("follow", {"status": "vanished"}, "status"),
        ("group", {"owner": "999999"}, "owner"),
        ("group", {"store": "999999"}, "store"),
        ("group", {"created_after": "not-a-date"}, "created_after"),
        ("group", {"tags_any": "999999"}, "tags_any"),
        ("group-member", {"group": "999999"}, "group"),
        ("group-member", {"customer": HUGE}, "customer"),
        ("group-member", {"kind": "9"}, "kind"),
        ("group-member", {"joined_before": "soon"}, "joined_before"),
        ("staff", {"department": "999999"}, "department"),
        ("staff", {"status": "retired"}, "status"),
        ("department", {"within": "999999"}, "within"),
        ("department", {"parent": "abc"}, "parent"),
        ("tag", {"group": "999999"}, "group"),
    ],
)
def test_bad_filters_are_400s_naming_the_filter(api, endpoint, params, field):
    response = api("admin").get(reverse(f"api-v1:{endpoint}-list"), params)
    assert response.status_code == 400, response.content
    assert field in response.json()


@pytest.mark.parametrize("page_size", ["0", "-5", "501", "100000", "ten", "1.5", "", HUGE])
@pytest.mark.parametrize("endpoint", ["customer-list", "follow-list", "tag-list", "group-list", "staff-list"])
def test_bad_page_sizes_are_400s(api, endpoint, page_size):
    response = api("admin").get(reverse(f"api-v1:{endpoint}"), {"page_size": page_size})
    assert response.status_code == 400
    assert "page_size" in response.json()


def _cursor(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "cursor",
    [
        "garbage!!",
        "ü",
        _cursor("o=abc"),
        _cursor("r=x"),
        _cursor("p=abc"),  # a position the id column cannot compare with
        _cursor(f"p={HUGE}"),
        _cursor("p=1.5"),
    ],
)
def test_bad_cursors_are_400s_naming_cursor(api, company, cursor):
    response = api("admin").get(reverse("api-v1:customer-list"), {"cursor": cursor})
    assert response.status_code == 400
    assert "cursor" in response.json()


@pytest.mark.parametrize("cursor", [_cursor("p=yesterday"), _cursor("p=2024-02-30 10:00:00+00:00")])
def test_bad_cursor_positions_on_the_timeline_are_400s(api, company, cursor):
    url = reverse("api-v1:customer-timeline", args=[company.ca1.pk])
    response = api("admin").get(url, {"cursor": cursor})
    assert response.status_code == 400 and "cursor" in response.json()


def test_a_good_cursor_still_works(api, company):
    client = api("admin")
    first = client.get(reverse("api-v1:customer-list"), {"page_size": 1}).json()
    second = client.get(first["next"])
    assert second.status_code == 200 and len(second.json()["results"]) == 1


@pytest.mark.parametrize("pk", ["abc", "1.5", "-1", HUGE, "0"])
@pytest.mark.parametrize(
    "endpoint", ["customer", "follow", "tag", "group", "group-member", "staff", "department"]
)
def test_odd_ids_in_the_path_are_404s(api, endpoint, pk):
    url = reverse(f"api-v1:{endpoint}-list") + f"{pk}/"
    assert api("admin").get(url).status_code == 404


def test_bulk_tag_body_of_the_wrong_shape(api, company):
    response = api("admin").post(reverse("api-v1:customer-bulk-tag"), [1, 2], format="json")
    assert response.status_code == 400 and "non_field_errors" in response.json()


def test_wrong_method_is_405(api, company):
    assert api("admin").delete(reverse("api-v1:customer-detail", args=[company.ca1.pk])).status_code == 405
    assert api("admin").post(reverse("api-v1:customer-timeline", args=[company.ca1.pk])).status_code == 405
