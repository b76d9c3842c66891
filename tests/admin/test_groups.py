"""The group chat admin: scoping per role, filters, and the labels that are ours to edit."""

from __future__ import annotations

import pytest

from groups.models import GroupChat, GroupTag
from tests.factories import GroupChatFactory, GroupMemberFactory

from .helpers import change_form_data, listed, listed_names, messages_of, url

pytestmark = pytest.mark.django_db

GROUPS = url("groups.groupchat")


@pytest.mark.parametrize(
    ("who", "groups"),
    [
        ("admin", ["Store A VIPs", "Store B fans"]),
        ("marketing", ["Store A VIPs", "Store B fans"]),
        ("store_manager", ["Store A VIPs"]),
        ("guide_a", ["Store A VIPs"]),
        ("guide_b", ["Store B fans"]),
    ],
)
def test_group_and_member_lists_are_scoped(login, company, who, groups):
    client = login(who)
    response = client.get(GROUPS)
    assert listed_names(response) == groups
    for other in {"Store A VIPs", "Store B fans"} - set(groups):
        assert other not in response.content.decode()
    members = listed(client.get(url("groups.groupmember")))
    assert sorted(m.group.name for m in members) == groups


def test_an_out_of_scope_group_cannot_be_opened(login, company):
    response = login("guide_a").get(url("groups.groupchat", "change", company.gb.pk), follow=True)
    assert any("doesn’t exist" in m for m in messages_of(response))
    assert "Store B fans" not in response.content.decode()


def test_group_list_shows_owner_kind_status_members_store_and_tags(login, company):
    vip = GroupTag.objects.create(name="VIP群")
    company.ga.tags.add(vip)
    GroupChat.objects.filter(pk=company.ga.pk).update(member_count=187)
    content = login("admin").get(GROUPS).content.decode()
    for expected in ("Guide A", "service group", "normal", "187", "Store A", "VIP群"):
        assert expected in content, expected


def test_group_filters(login, company):
    vip = GroupTag.objects.create(name="VIP群")
    new = GroupTag.objects.create(name="新品群")
    company.ga.tags.add(vip, new)
    GroupChatFactory(name="Sales push", owner=company.sb, kind=GroupChat.Kind.SALES, store=company.store_b)
    client = login("admin")

    def names(query):
        return listed_names(client.get(f"{GROUPS}?{query}"))

    assert names(f"tags={vip.pk}&tags={new.pk}") == ["Store A VIPs"]  # listed once, not once per tag
    assert names("kind__exact=sales") == ["Sales push"]
    assert names(f"store={company.west.pk}") == ["Sales push", "Store B fans"]
    assert names(f"store={company.store_a.pk}") == ["Store A VIPs"]
    assert names(f"owner={company.sa.pk}") == ["Store A VIPs"]
    assert names("q=Store") == ["Store A VIPs", "Store B fans"]


def test_labels_are_edited_and_the_store_must_be_in_scope(login, company):
    vip = GroupTag.objects.create(name="VIP群")
    client = login("admin")
    page = url("groups.groupchat", "change", company.ga.pk)
    data = change_form_data(client.get(page))
    data.update({"kind": GroupChat.Kind.ACTIVITY, "store": company.store_b.pk, "tags": [vip.pk]})
    response = client.post(page, data)
    assert response.status_code == 302, response.content.decode()[:2000]
    company.ga.refresh_from_db()
    assert (company.ga.kind, company.ga.store, list(company.ga.tags.all())) == (
        GroupChat.Kind.ACTIVITY,
        company.store_b,
        [vip],
    )
    # WeCom's fields stay as they were
    assert company.ga.name == "Store A VIPs" and company.ga.owner == company.sa


def test_group_page_lists_members_in_scope(login, company):
    GroupMemberFactory(group=company.ga, name="Member Zed")
    response = login("guide_a").get(url("groups.groupchat", "change", company.ga.pk))
    assert response.status_code == 200
    assert "Member Zed" in response.content.decode()
