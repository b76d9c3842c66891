"""Customers, follows, the timeline and notes: what they return and how they filter."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from customers.models import CustomerEvent, CustomerNote
from tests.factories import CustomerEventFactory, CustomerFactory, FollowFactory, StaffFactory

from .conftest import ids

pytestmark = pytest.mark.django_db

CUSTOMERS = reverse("api-v1:customer-list")


def customer_ids(client, **params) -> list[int]:
    return ids(client.get(CUSTOMERS, params))


def test_a_customer_carries_its_tags_and_active_follows(api, company):
    body = api("admin").get(reverse("api-v1:customer-detail", args=[company.ca1.pk])).json()
    assert body["tags"] == [{"id": company.gold.pk, "group": "会员等级", "name": "金卡"}]
    assert body["follows"] == [
        {
            "id": company.ca1.follows.get().pk,
            "url": f"http://testserver/api/v1/follows/{company.ca1.follows.get().pk}/",
            "staff": {
                "id": company.sa.pk,
                "url": f"http://testserver/api/v1/staff/{company.sa.pk}/",
                "userid": "sa",
                "name": "Guide A",
            },
            "added_at": body["follows"][0]["added_at"],
            "state": "poster_1",
        }
    ]
    assert body["url"] == f"http://testserver/api/v1/customers/{company.ca1.pk}/"


def test_a_follow_carries_its_own_tags(api, company):
    follow = company.cb1.follows.get()
    body = api("admin").get(reverse("api-v1:follow-detail", args=[follow.pk])).json()
    assert body["tags"] == [{"id": company.silver.pk, "group": "会员等级", "name": "银卡"}]
    assert body["customer"]["id"] == company.cb1.pk and body["staff"]["userid"] == "sb"


class TestCustomerFilters:
    def test_tags_any_all_none(self, api, company):
        client = api("admin")
        gold, silver = company.gold.pk, company.silver.pk
        assert customer_ids(client, tags_any=f"{gold},{silver}") == sorted([company.ca1.pk, company.cb1.pk])
        assert customer_ids(client, tags_any=[gold, silver]) == sorted([company.ca1.pk, company.cb1.pk])
        assert customer_ids(client, tags_all=f"{gold},{silver}") == []
        assert customer_ids(client, tags_all=gold) == [company.ca1.pk]
        assert customer_ids(client, tags_none=gold) == sorted([company.ca2.pk, company.cb1.pk])

    def test_tag_filters_stay_within_scope(self, api, company):
        assert customer_ids(api("guide_a"), tags_any=company.silver.pk) == []

    def test_staff_and_department_subtree(self, api, company):
        client = api("admin")
        assert customer_ids(client, staff=company.sb.pk) == [company.cb1.pk]
        assert customer_ids(client, staff=f"{company.sa.pk},{company.sb.pk}") == sorted(
            [company.ca1.pk, company.ca2.pk, company.cb1.pk]
        )
        # a department means its whole subtree: East region holds Store A, where Guide A works
        assert customer_ids(client, department=company.east.pk) == sorted([company.ca1.pk, company.ca2.pk])
        assert customer_ids(client, department=company.hq.pk) == sorted(
            [company.ca1.pk, company.ca2.pk, company.cb1.pk]
        )
        assert customer_ids(client, department=company.store_b.pk) == [company.cb1.pk]

    def test_channel(self, api, company):
        assert customer_ids(api("admin"), channel="poster_2") == [company.cb1.pk]
        assert customer_ids(api("admin"), channel="nowhere") == []

    def test_added_dates_are_local_days(self, api, company):
        old = CustomerFactory(name="老客", first_added_at=timezone.now() - timedelta(days=40))
        FollowFactory(customer=old, staff=company.sa)
        client = api("admin")
        today = timezone.localdate()
        ten_days_ago = (today - timedelta(days=10)).isoformat()
        assert customer_ids(client, added_before=ten_days_ago) == [old.pk]
        assert old.pk not in customer_ids(client, added_after=ten_days_ago)
        assert customer_ids(client, added_after=today.isoformat(), added_before=today.isoformat()) == sorted(
            [company.ca1.pk, company.ca2.pk, company.cb1.pk]
        )

    def test_q_searches_name_external_userid_and_unionid(self, api, company):
        company.cb1.unionid = "union-42"
        company.cb1.save()
        client = api("admin")
        assert customer_ids(client, q="张") == [company.ca1.pk]
        assert customer_ids(client, q=company.ca2.external_userid) == [company.ca2.pk]
        assert customer_ids(client, q="union-42") == [company.cb1.pk]

    def test_gender_and_lifecycle_stage(self, api, company):
        company.ca2.gender = 2
        company.ca2.lifecycle_stage = "converted"
        company.ca2.save()
        client = api("admin")
        assert customer_ids(client, gender=2) == [company.ca2.pk]
        assert customer_ids(client, lifecycle_stage=["converted", "loyal"]) == [company.ca2.pk]


class TestFollowFilters:
    def test_by_staff_customer_status_and_state(self, api, company):
        client = api("admin")
        url = reverse("api-v1:follow-list")
        fb1 = company.cb1.follows.get()
        assert ids(client.get(url, {"staff": company.sb.pk})) == [fb1.pk]
        assert ids(client.get(url, {"customer": company.cb1.pk})) == [fb1.pk]
        assert ids(client.get(url, {"state": "poster_2"})) == [fb1.pk]
        assert ids(client.get(url, {"status": "deleted_by_customer"})) == []


class TestTimeline:
    def test_newest_first_with_a_working_cursor(self, api, company):
        now = timezone.now()
        events = [
            CustomerEventFactory(customer=company.ca1, occurred_at=now - timedelta(hours=h), staff=company.sa)
            for h in range(5)
        ]
        CustomerEventFactory(customer=company.cb1)  # another customer's, never shown
        client = api("guide_a")
        url = reverse("api-v1:customer-timeline", args=[company.ca1.pk])
        first = client.get(url, {"page_size": 3}).json()
        assert [e["id"] for e in first["results"]] == [e.pk for e in events[:3]]
        assert first["results"][0]["staff"]["userid"] == "sa"
        second = client.get(first["next"]).json()
        assert [e["id"] for e in second["results"]] == [e.pk for e in events[3:]]
        assert second["next"] is None


class TestNotes:
    def test_a_guide_writes_a_note_that_lands_on_the_timeline(self, api, company):
        client = api("guide_a")
        url = reverse("api-v1:customer-notes", args=[company.ca1.pk])
        response = client.post(url, {"body": "  想要金卡  "}, format="json")
        assert response.status_code == 201, response.content
        assert response.json()["body"] == "想要金卡"
        assert response.json()["author"] == "guide_a" and response.json()["staff"]["userid"] == "sa"
        assert [n["body"] for n in client.get(url).json()["results"]] == ["想要金卡"]
        event = CustomerEvent.objects.get(customer=company.ca1, type=CustomerEvent.Type.NOTE)
        assert event.source == CustomerEvent.Source.API

    @pytest.mark.parametrize(
        "body", [{}, {"body": ""}, {"body": "   "}, {"body": "x" * 2001}, {"body": ["a"]}]
    )
    def test_a_bad_note_is_a_400_on_body(self, api, company, body):
        response = api("guide_a").post(
            reverse("api-v1:customer-notes", args=[company.ca1.pk]), body, format="json"
        )
        assert response.status_code == 400
        assert "body" in response.json()
        assert not CustomerNote.objects.exists()


def test_a_new_staff_members_customers_appear_for_their_store_manager(api, company):
    newcomer = StaffFactory(userid="sa2", main_department=company.store_a)
    customer = CustomerFactory(name="赵六")
    FollowFactory(customer=customer, staff=newcomer)
    assert customer.pk in customer_ids(api("store_manager"))
    assert customer.pk not in customer_ids(api("guide_a"))


def test_a_login_without_a_role_cannot_write_notes(api, company):
    response = api("nobody").post(
        reverse("api-v1:customer-notes", args=[company.ca1.pk]), {"body": "x"}, format="json"
    )
    assert response.status_code == 403
    assert not CustomerNote.objects.exists()
