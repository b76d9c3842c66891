"""Tag groups and tags in the admin: writes go through the tag services, deletes only mark."""

from __future__ import annotations

import pytest

from campaigns.models import Channel
from customers.models import Tag, TagGroup

from .helpers import action_data, listed_names, url

pytestmark = pytest.mark.django_db

CUSTOMERS = url("customers.customer")


@pytest.mark.parametrize("who", ["admin", "marketing", "store_manager", "guide_a", "guide_b"])
def test_tags_groups_and_channels_are_readable_company_wide(login, who):
    Channel.objects.create(state="poster_1", name="Spring poster")
    client = login(who)
    assert listed_names(client.get(url("customers.tag"))) == ["金卡", "银卡"]
    assert listed_names(client.get(url("customers.taggroup"))) == ["会员等级"]
    assert listed_names(client.get(url("campaigns.channel"))) == ["Spring poster"]


def test_guides_cannot_change_tags(login, company):
    client = login("guide_a")
    client.post(url("customers.tag", "change", company.gold.pk), {"group": company.vip_group.pk, "name": "x"})
    company.gold.refresh_from_db()
    assert company.gold.name == "金卡"


def test_renaming_a_tag_refreshes_the_names_on_the_customer_list(login, company):
    client = login("admin")
    assert "金卡" in client.get(CUSTOMERS).content.decode()  # the tag-name cache is now warm
    response = client.post(
        url("customers.tag", "change", company.gold.pk),
        {"group": company.vip_group.pk, "name": "黑金卡", "order": 0},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    content = client.get(CUSTOMERS).content.decode()
    assert "黑金卡" in content


def test_deleting_a_tag_marks_it_deleted_and_drops_it_from_customers(login, company):
    client = login("admin")
    confirm = client.get(url("customers.tag", "delete", company.gold.pk))
    assert confirm.status_code == 200
    assert "tag on a follow" not in confirm.content.decode()  # no list of millions of assignments
    response = client.post(url("customers.tag", "delete", company.gold.pk), {"post": "yes"})
    assert response.status_code == 302
    company.gold.refresh_from_db()
    assert company.gold.deleted
    company.ca1.refresh_from_db()
    assert company.ca1.tag_ids == []
    assert listed_names(client.get(url("customers.tag"))) == ["银卡"]
    assert listed_names(client.get(url("customers.tag") + "?state=deleted")) == ["金卡"]
    assert "金卡" not in client.get(CUSTOMERS).content.decode()


def test_deleting_a_tag_group_through_the_action_deletes_its_tags(login, company):
    client = login("admin")
    response = client.post(
        url("customers.taggroup"), action_data("delete_selected", company.vip_group.pk, post="yes")
    )
    assert response.status_code == 302
    assert TagGroup.objects.get().deleted
    assert set(Tag.objects.values_list("deleted", flat=True)) == {True}
    company.cb1.refresh_from_db()
    assert company.cb1.tag_ids == []


def test_a_tag_group_with_its_tags_is_created_in_one_form(login, company):
    client = login("marketing")
    response = client.post(
        url("customers.taggroup", "add"),
        {
            "name": "兴趣",
            "order": 5,
            "tags-TOTAL_FORMS": 2,
            "tags-INITIAL_FORMS": 0,
            "tags-MIN_NUM_FORMS": 0,
            "tags-MAX_NUM_FORMS": 1000,
            "tags-0-name": "跑步",
            "tags-0-order": 0,
            "tags-1-name": "瑜伽",
            "tags-1-order": 0,
        },
    )
    assert response.status_code == 302, response.content.decode()[:3000]
    group = TagGroup.objects.get(name="兴趣")
    assert set(group.tags.values_list("name", flat=True)) == {"跑步", "瑜伽"}
    # the new tags are offered by the customer list's tag filter (an autocomplete) at once
    found = client.get(
        "/admin/autocomplete/",
        {"app_label": "customers", "model_name": "followtag", "field_name": "tag", "term": "跑"},
    ).json()
    assert [row["text"] for row in found["results"]] == ["跑步"]
    tags_any = "&".join(f"tags_any={pk}" for pk in group.tags.values_list("pk", flat=True))
    assert client.get(f"{CUSTOMERS}?{tags_any}").status_code == 200


def test_a_tag_links_to_its_customers(login, company):
    content = login("admin").get(url("customers.tag")).content.decode()
    assert f"{CUSTOMERS}?tags_any={company.gold.pk}" in content
