"""Tag groups and tags: every role reads them; only admins and marketing managers write them.
Bulk tagging: every role, on customers in their own scope only."""

from __future__ import annotations

import pytest
from django.urls import reverse

from customers.models import Customer, CustomerEvent, Follow, FollowTag, Tag, TagGroup
from customers.selectors import tag_names

from .conftest import ids

pytestmark = pytest.mark.django_db

TAGS = reverse("api-v1:tag-list")
GROUPS = reverse("api-v1:tag-group-list")
BULK_TAG = reverse("api-v1:customer-bulk-tag")
BULK_UNTAG = reverse("api-v1:customer-bulk-untag")
READERS = ["admin", "marketing", "store_manager", "guide_a"]
WRITERS = ["admin", "marketing"]


def tag_url(tag) -> str:
    return reverse("api-v1:tag-detail", args=[tag.pk])


@pytest.mark.parametrize("who", READERS)
def test_every_role_reads_tags_and_groups(api, company, who):
    client = api(who)
    assert ids(client.get(TAGS)) == sorted([company.gold.pk, company.silver.pk])
    groups = client.get(GROUPS).json()["results"]
    assert [(g["name"], [t["name"] for t in g["tags"]]) for g in groups] == [("会员等级", ["金卡", "银卡"])]


@pytest.mark.parametrize("who", ["store_manager", "guide_a", "guide_b"])
def test_guides_and_store_managers_cannot_write_tags(api, company, who):
    client = api(who)
    assert (
        client.post(TAGS, {"group": company.vip_group.pk, "name": "铜卡"}, format="json").status_code == 403
    )
    assert client.patch(tag_url(company.gold), {"name": "白金"}, format="json").status_code == 403
    assert client.delete(tag_url(company.gold)).status_code == 403
    assert client.post(GROUPS, {"name": "兴趣"}, format="json").status_code == 403
    group_url = reverse("api-v1:tag-group-detail", args=[company.vip_group.pk])
    assert client.delete(group_url).status_code == 403
    assert not Tag.objects.filter(name__in=["铜卡", "白金"]).exists()
    assert Tag.objects.filter(deleted=False).count() == 2


@pytest.mark.parametrize("who", WRITERS)
def test_admins_and_marketing_create_rename_and_delete_tags(api, company, who):
    client = api(who)
    group = client.post(GROUPS, {"name": "兴趣", "order": 5}, format="json")
    assert group.status_code == 201, group.content
    created = client.post(TAGS, {"group": group.json()["id"], "name": "跑步"}, format="json")
    assert created.status_code == 201, created.content
    body = created.json()
    assert body["group"] == {"id": group.json()["id"], "url": group.json()["url"], "name": "兴趣"}
    tag = Tag.objects.get(pk=body["id"])

    renamed = client.patch(tag_url(tag), {"name": "马拉松"}, format="json")
    assert renamed.status_code == 200 and renamed.json()["name"] == "马拉松"
    assert tag_names()[tag.pk] == ("兴趣", "马拉松")  # the name cache was dropped by the service

    assert client.delete(tag_url(tag)).status_code == 204
    tag.refresh_from_db()
    assert tag.deleted  # soft delete, as WeCom keeps deleted ids
    assert client.get(tag_url(tag)).status_code == 404
    assert tag.pk not in ids(client.get(TAGS))


def test_a_tag_group_is_renamed_and_reordered(api, company):
    url = reverse("api-v1:tag-group-detail", args=[company.vip_group.pk])
    response = api("marketing").put(url, {"name": "会员", "order": 9}, format="json")
    assert response.status_code == 200, response.content
    company.vip_group.refresh_from_db()
    assert (company.vip_group.name, company.vip_group.order) == ("会员", 9)
    assert tag_names()[company.gold.pk] == ("会员", "金卡")
    # keeping its own name is no clash with itself
    assert api("marketing").patch(url, {"name": "会员"}, format="json").status_code == 200


def test_a_tag_is_replaced_with_put(api, company):
    body = {"group": company.vip_group.pk, "name": "黑卡", "order": 3}
    response = api("admin").put(tag_url(company.gold), body, format="json")
    assert response.status_code == 200, response.content
    company.gold.refresh_from_db()
    assert (company.gold.name, company.gold.order) == ("黑卡", 3)


def test_deleting_a_tag_takes_it_off_customers(api, company):
    assert api("marketing").delete(tag_url(company.gold)).status_code == 204
    company.ca1.refresh_from_db()
    assert company.ca1.tag_ids == []
    assert not FollowTag.objects.filter(tag=company.gold).exists()


def test_deleting_a_group_deletes_its_tags(api, company):
    url = reverse("api-v1:tag-group-detail", args=[company.vip_group.pk])
    assert api("admin").delete(url).status_code == 204
    assert TagGroup.objects.get(pk=company.vip_group.pk).deleted
    assert set(Tag.objects.values_list("deleted", flat=True)) == {True}
    assert ids(api("admin").get(GROUPS)) == []


class TestTagValidation:
    def test_live_names_are_unique_per_group(self, api, company):
        client = api("marketing")
        response = client.post(TAGS, {"group": company.vip_group.pk, "name": "金卡"}, format="json")
        assert response.status_code == 400 and "name" in response.json()
        renamed = client.patch(tag_url(company.silver), {"name": "金卡"}, format="json")
        assert renamed.status_code == 400 and "name" in renamed.json()
        # a deleted tag's name is free again
        client.delete(tag_url(company.gold))
        assert (
            client.post(TAGS, {"group": company.vip_group.pk, "name": "金卡"}, format="json").status_code
            == 201
        )

    def test_group_names_are_unique(self, api, company):
        response = api("marketing").post(GROUPS, {"name": "会员等级"}, format="json")
        assert response.status_code == 400 and "name" in response.json()

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"name": "x"}, "group"),
            ({"group": 999999, "name": "x"}, "group"),
            ({"group": "abc", "name": "x"}, "group"),
            ({"group": [1], "name": "x"}, "group"),
            ({"group": None, "name": "x"}, "group"),
            ({"group": "GROUP", "name": ""}, "name"),
            ({"group": "GROUP", "name": "x" * 31}, "name"),
            ({"group": "GROUP", "name": {"a": 1}}, "name"),
            ({"group": "GROUP", "name": "x", "order": -1}, "order"),
            ({"group": "GROUP", "name": "x", "order": "soon"}, "order"),
        ],
    )
    def test_bad_bodies_are_400s_naming_the_field(self, api, company, body, field):
        body = {k: (company.vip_group.pk if v == "GROUP" else v) for k, v in body.items()}
        response = api("marketing").post(TAGS, body, format="json")
        assert response.status_code == 400
        assert field in response.json()

    def test_a_tag_in_a_deleted_group_cannot_be_created(self, api, company):
        client = api("marketing")
        client.delete(reverse("api-v1:tag-group-detail", args=[company.vip_group.pk]))
        response = client.post(TAGS, {"group": company.vip_group.pk, "name": "新"}, format="json")
        assert response.status_code == 400 and "group" in response.json()

    def test_a_tag_cannot_move_to_another_group(self, api, company):
        client = api("marketing")
        other = client.post(GROUPS, {"name": "兴趣"}, format="json").json()
        response = client.patch(tag_url(company.gold), {"group": other["id"]}, format="json")
        assert response.status_code == 400 and "group" in response.json()

    def test_a_body_that_is_not_an_object_is_a_400(self, api, company):
        response = api("marketing").post(TAGS, ["金卡"], format="json")
        assert response.status_code == 400 and "non_field_errors" in response.json()

    def test_malformed_json_is_a_400(self, api, company):
        response = api("marketing").post(TAGS, "{not json", content_type="application/json")
        assert response.status_code == 400


class TestBulkTag:
    @pytest.mark.parametrize("who", ["admin", "marketing", "store_manager", "guide_a"])
    def test_every_role_tags_customers_in_its_scope(self, api, company, who):
        response = api(who).post(
            BULK_TAG,
            {"customer_ids": [company.ca1.pk, company.ca2.pk], "tag_ids": [company.silver.pk]},
            format="json",
        )
        assert response.status_code == 200, response.content
        assert response.json() == {"changed": 2}
        for customer in (company.ca1, company.ca2):
            customer.refresh_from_db()
            assert company.silver.pk in customer.tag_ids
        events = CustomerEvent.objects.filter(type=CustomerEvent.Type.TAGGED)
        assert set(events.values_list("source", flat=True)) == {CustomerEvent.Source.API}

    def test_tagging_again_changes_nothing(self, api, company):
        body = {"customer_ids": [company.ca1.pk], "tag_ids": [company.gold.pk]}
        assert api("guide_a").post(BULK_TAG, body, format="json").json() == {"changed": 0}

    def test_untag(self, api, company):
        body = {"customer_ids": [company.ca1.pk, company.ca2.pk], "tag_ids": [company.gold.pk]}
        response = api("guide_a").post(BULK_UNTAG, body, format="json")
        assert response.status_code == 200 and response.json() == {"changed": 1}
        company.ca1.refresh_from_db()
        assert company.ca1.tag_ids == []
        assert CustomerEvent.objects.get(type=CustomerEvent.Type.UNTAGGED).source == CustomerEvent.Source.API

    @pytest.mark.parametrize("who", ["store_manager", "guide_a"])
    @pytest.mark.parametrize("url", [BULK_TAG, BULK_UNTAG])
    def test_customers_outside_the_scope_are_refused_and_listed(self, api, company, url, who):
        body = {"customer_ids": [company.ca1.pk, company.cb1.pk, 987654], "tag_ids": [company.silver.pk]}
        response = api(who).post(url, body, format="json")
        assert response.status_code == 400
        message = response.json()["customer_ids"][0]
        assert str(company.cb1.pk) in message and "987654" in message and f"{company.ca1.pk}," not in message
        # nothing was written, not even for the customer in scope
        company.ca1.refresh_from_db()
        assert company.silver.pk not in company.ca1.tag_ids
        assert not CustomerEvent.objects.exists()

    def test_a_login_without_a_role_is_refused(self, api, company):
        body = {"customer_ids": [company.ca1.pk], "tag_ids": [company.silver.pk]}
        assert api("nobody").post(BULK_TAG, body, format="json").status_code == 403

    def test_unknown_or_deleted_tags_are_listed(self, api, company):
        api("marketing").delete(tag_url(company.silver))
        body = {"customer_ids": [company.ca1.pk], "tag_ids": [company.silver.pk, 424242]}
        response = api("guide_a").post(BULK_TAG, body, format="json")
        assert response.status_code == 400
        assert (
            str(company.silver.pk) in response.json()["tag_ids"][0]
            and "424242" in response.json()["tag_ids"][0]
        )

    def test_at_most_1000_customers_per_call(self, api, company):
        body = {"customer_ids": list(range(1, 1002)), "tag_ids": [company.silver.pk]}
        response = api("admin").post(BULK_TAG, body, format="json")
        assert response.status_code == 400 and "customer_ids" in response.json()

    def test_1000_customers_in_one_call(self, api, company):
        customers = Customer.objects.bulk_create(
            [
                Customer(external_userid=f"bulk{i}", name=f"B{i}", first_added_at=company.ca1.first_added_at)
                for i in range(997)
            ]
        )
        Follow.objects.bulk_create(
            [Follow(customer=c, staff=company.sa, added_at=company.ca1.first_added_at) for c in customers]
        )
        customer_ids = [c.pk for c in customers] + [company.ca1.pk, company.ca2.pk, company.cb1.pk]
        response = api("admin").post(
            BULK_TAG, {"customer_ids": customer_ids, "tag_ids": [company.gold.pk]}, format="json"
        )
        assert response.status_code == 200 and response.json() == {"changed": 999}  # ca1 had it already
        assert Customer.objects.filter(tag_ids__has_all=[company.gold.pk]).count() == 1000

    @pytest.mark.parametrize(
        ("body", "field"),
        [
            ({"tag_ids": [1]}, "customer_ids"),
            ({"customer_ids": [], "tag_ids": [1]}, "customer_ids"),
            ({"customer_ids": "1,2", "tag_ids": [1]}, "customer_ids"),
            ({"customer_ids": ["a"], "tag_ids": [1]}, "customer_ids"),
            ({"customer_ids": [1.5], "tag_ids": [1]}, "customer_ids"),
            ({"customer_ids": [-1], "tag_ids": [1]}, "customer_ids"),
            ({"customer_ids": [99999999999999999999], "tag_ids": [1]}, "customer_ids"),
            ({"customer_ids": [None], "tag_ids": [1]}, "customer_ids"),
            ({"customer_ids": {"id": 1}, "tag_ids": [1]}, "customer_ids"),
            ({"customer_ids": [1]}, "tag_ids"),
            ({"customer_ids": [1], "tag_ids": []}, "tag_ids"),
            ({"customer_ids": [1], "tag_ids": "gold"}, "tag_ids"),
        ],
    )
    def test_wrong_types_are_400s_naming_the_field(self, api, company, body, field):
        response = api("admin").post(BULK_TAG, body, format="json")
        assert response.status_code == 400
        assert field in response.json()
