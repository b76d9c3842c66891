"""Query counts on list endpoints: pinned, and the same whatever the page size (no N+1)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from customers.models import CustomerNote
from customers.services import customer_tag_ids_refresh
from groups.models import GroupTag
from tests.factories import (
    CustomerEventFactory,
    CustomerFactory,
    DepartmentFactory,
    FollowFactory,
    FollowTagFactory,
    GroupChatFactory,
    GroupMemberFactory,
    StaffFactory,
    TagFactory,
    TagGroupFactory,
)

pytestmark = pytest.mark.django_db

ROWS = 30


@pytest.fixture
def crowd(company):
    """Enough rows in Store A that a page of 25 differs from a page of 2 on every list."""
    staff = [StaffFactory(main_department=company.store_a) for _ in range(ROWS)]
    tags = [TagFactory(group=company.vip_group) for _ in range(3)]
    group_tag = GroupTag.objects.create(name="VIP")
    customers = []
    for i in range(ROWS):
        customer = CustomerFactory()
        customers.append(customer)
        for person in (company.sa, staff[i]):
            follow = FollowFactory(customer=customer, staff=person)
            FollowTagFactory(follow=follow, tag=tags[i % 3])
        group = GroupChatFactory(owner=staff[i], store=company.store_a)
        group.tags.add(group_tag)
        GroupMemberFactory(group=group, customer=customer)
        CustomerEventFactory(customer=company.ca1, staff=staff[i])
        DepartmentFactory(parent=company.store_a)
        TagFactory(group=TagGroupFactory())
        CustomerNote.objects.create(customer=company.ca1, body=f"note {i}", staff=staff[i])
    customer_tag_ids_refresh([c.pk for c in customers])
    return customers


# Worst case, a store manager: authentication, role, scope (operator, staff record, managed
# departments), then the page and one query per prefetched relation. Admins need fewer.
MAX_QUERIES = {
    "customer-list": 7,  # + active follows with their staff
    "follow-list": 7,  # + tags on the follows
    "group-list": 7,  # + group tags
    "group-member-list": 6,
    "staff-list": 7,  # + departments
    "department-list": 6,
    "tag-list": 3,  # company-wide: no scope to compute
    "tag-group-list": 4,  # + live tags
    "customer-timeline": 7,  # the customer, then its events
    "customer-notes": 8,  # the customer, the selector's scope check, then the notes
}
ON_CUSTOMER = {"customer-timeline", "customer-notes"}


@pytest.mark.parametrize("who", ["admin", "store_manager", "guide_a"])
@pytest.mark.parametrize("name", MAX_QUERIES)
def test_list_queries_are_pinned_and_independent_of_page_size(
    api, company, crowd, django_assert_max_num_queries, who, name
):
    client = api(who)
    url = reverse(f"api-v1:{name}", args=[company.ca1.pk] if name in ON_CUSTOMER else [])
    client.get(url)  # warm up: the key's last-used time and the tag-name cache are written once

    counts = {}
    for page_size in (2, 25):
        with CaptureQueriesContext(connection) as captured:
            response = client.get(url, {"page_size": page_size})
        assert response.status_code == 200, response.content
        counts[page_size] = len(captured)
    assert counts[2] == counts[25], counts

    with django_assert_max_num_queries(MAX_QUERIES[name]):
        response = client.get(url, {"page_size": 25})
    assert response.status_code == 200


def test_the_crowd_fills_the_pages(api, company, crowd):
    # Guards the test above: a page of 25 really holds 25 rows on each list, for a store manager.
    client = api("store_manager")
    for name in MAX_QUERIES:
        url = reverse(f"api-v1:{name}", args=[company.ca1.pk] if name in ON_CUSTOMER else [])
        assert len(client.get(url, {"page_size": 25}).json()["results"]) == 25, name


def test_customer_list_reads_tag_names_from_the_cache(api, company, crowd):
    client = api("admin")
    url = reverse("api-v1:customer-list")
    client.get(url)
    with CaptureQueriesContext(connection) as captured:
        client.get(url, {"page_size": 25})
    assert not [q for q in captured if "customers_tag" in q["sql"] and "customers_followtag" not in q["sql"]]
