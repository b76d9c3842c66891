"""Segments in the admin (rule widgets, live count and sample, saving, CSV export) and the REST API
(CRUD, counts, samples, exports, ad-hoc counts), with each role's permissions and scope."""

from __future__ import annotations

import csv
import io

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from customers.models import Segment
from scrm.org.services import api_key_create
from tests.admin.helpers import url

pytestmark = pytest.mark.django_db

SEGMENTS = "/api/v1/segments/"


def csv_rows(response) -> list[list[str]]:
    assert response.status_code == 200, response
    assert response.streaming, "the export must stream"
    assert response["Content-Type"].startswith("text/csv")
    body = b"".join(response.streaming_content).decode("utf-8")
    assert body.startswith("\ufeff")
    return list(csv.reader(io.StringIO(body.lstrip("\ufeff"))))


@pytest.fixture
def admin_client(client, company):
    client.force_login(company.users.admin)
    return client


@pytest.fixture
def api(company):
    """``api("guide_a")``: a client calling with a fresh API key of that login."""

    def client_for(who: str) -> APIClient:
        _, raw_key = api_key_create(user=getattr(company.users, who), name=f"{who} key")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw_key}")
        return client

    return client_for


@pytest.fixture
def vip(company):
    return Segment.objects.create(name="VIP", rules={"tags_any": [company.gold.id, company.silver.id]})


# --- admin ----------------------------------------------------------------------------------------


def test_the_add_page_shows_a_widget_per_rule_and_the_live_count(admin_client, company):
    response = admin_client.get(url("customers.segment", "add"))
    assert response.status_code == 200
    form = response.context["adminform"].form
    for key in (
        "tags_any",
        "tags_all",
        "tags_none",
        "staff",
        "departments",
        "channels",
        "added_after",
        "gender",
        "lifecycle_stages",
        "groups_any",
        "in_any_group",
        "live_codes",
        "spend_min",
        "last_order_before",
    ):
        assert key in form.fields, key
    # Tags are grouped by tag group.
    assert ("会员等级", [(company.gold.id, "金卡"), (company.silver.id, "银卡")]) in form.fields[
        "tags_any"
    ].choices
    page = response.content.decode()
    assert 'id="segment-live-count"' in page
    assert reverse("admin:customers_segment_count") in page
    assert "until orders arrive" in page


def test_live_count_and_sample_follow_the_posted_rules(admin_client, company, django_assert_max_num_queries):
    count_url = reverse("admin:customers_segment_count")
    with django_assert_max_num_queries(6):
        response = admin_client.post(count_url, {"tags_any": [company.gold.id, company.silver.id]})
    assert response.status_code == 200
    data = response.json()
    assert data["count"] == 2 and data["count_display"] == "2 customers"
    assert [row["name"] for row in data["sample"]] == ["王五", "张三"]
    assert data["sample"][1]["url"] == url("customers.customer", "change", company.ca1.id)

    data = admin_client.post(count_url, {"tags_any": [company.gold.id], "in_any_group": "false"}).json()
    assert data["count"] == 0
    assert admin_client.post(count_url, {}).json()["count"] == 3


def test_live_count_reports_bad_rules(admin_client, company):
    count_url = reverse("admin:customers_segment_count")
    response = admin_client.post(count_url, {"added_after": "2026-02-01", "added_before": "2026-01-01"})
    assert response.status_code == 400
    assert "added_before" in response.json()["errors"]
    assert response.json()["messages"][0].startswith("First added on or before: ")
    response = admin_client.post(count_url, {"tags_any": ["99999"]})
    assert response.status_code == 400 and "tags_any" in response.json()["errors"]
    assert admin_client.get(count_url).status_code == 405


def test_live_count_is_not_for_roles_without_segment_rights(client, company):
    client.force_login(company.users.guide_a)
    response = client.post(reverse("admin:customers_segment_count"), {})
    assert response.status_code in (302, 403)


def test_saving_in_the_admin_stores_clean_rules(admin_client, company):
    data = {
        "name": "Gold East",
        "description": "",
        "tags_any": [str(company.gold.id)],
        "departments": [str(company.east.id)],
        "added_after": "2026-01-05",
        "in_any_group": "true",
        "spend_min": "",
    }
    response = admin_client.post(url("customers.segment", "add"), data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    segment = Segment.objects.get(name="Gold East")
    assert segment.rules == {
        "tags_any": [company.gold.id],
        "departments": [company.east.id],
        "added_after": "2026-01-05",
        "in_any_group": True,
    }
    assert segment.created_by == company.users.admin
    assert segment.last_count == 1 and segment.last_counted_at is not None
    # Shown back in the form as saved.
    response = admin_client.get(url("customers.segment", "change", segment.id))
    form = response.context["adminform"].form
    assert form.initial["in_any_group"] == "true" and form.initial["tags_any"] == [company.gold.id]


def test_the_admin_form_shows_rule_errors_on_their_fields(admin_client, company):
    data = {"name": "Bad", "added_after": "2026-02-01", "added_before": "2026-01-01"}
    response = admin_client.post(url("customers.segment", "add"), data)
    assert response.status_code == 200
    assert "added_before" in response.context["adminform"].form.errors
    assert not Segment.objects.exists()


def test_admin_export_streams_the_matching_customers(admin_client, company, vip):
    response = admin_client.get(reverse("admin:customers_segment_export_detail", args=[vip.id]))
    rows = csv_rows(response)
    assert rows[0][:3] == ["id", "external userid", "name"]
    assert sorted(r[2] for r in rows[1:]) == ["张三", "王五"]
    assert "会员等级/金卡" in {r[6] for r in rows[1:]}

    response = admin_client.post(
        url("customers.segment"), {"action": "export_selected_csv", "_selected_action": [vip.id]}
    )
    assert len(csv_rows(response)) == 3


def test_the_list_shows_rules_and_last_counts(admin_client, company, vip, django_assert_max_num_queries):
    Segment.objects.create(name="All", rules={})
    with django_assert_max_num_queries(12):
        response = admin_client.get(url("customers.segment"))
    assert response.status_code == 200
    page = response.content.decode()
    assert "Has any of these tags" in page and "every customer" in page


def test_admin_refresh_counts_remembers_the_count(admin_client, company, vip):
    admin_client.post(url("customers.segment"), {"action": "refresh_counts", "_selected_action": [vip.id]})
    vip.refresh_from_db()
    assert vip.last_count == 2 and vip.last_counted_at is not None


# --- API ------------------------------------------------------------------------------------------


def test_every_role_reads_segments_and_only_admins_and_marketing_write(
    api, company, vip, django_assert_max_num_queries
):
    guide = api("guide_a")
    with django_assert_max_num_queries(6):
        response = guide.get(SEGMENTS)
    assert [row["name"] for row in response.json()["results"]] == ["VIP"]
    assert guide.post(SEGMENTS, {"name": "Mine", "rules": {}}, format="json").status_code == 403
    assert api("store_manager").patch(f"{SEGMENTS}{vip.id}/", {"name": "x"}, format="json").status_code == 403
    assert api("nobody").get(SEGMENTS).status_code == 403

    marketing = api("marketing")
    response = marketing.post(
        SEGMENTS, {"name": "Gold", "rules": {"tags_any": [str(company.gold.id)]}}, format="json"
    )
    assert response.status_code == 201, response.content
    created = response.json()
    assert created["rules"] == {"tags_any": [company.gold.id]}
    assert created["last_count"] == 1
    assert created["created_by"] == company.users.marketing.id
    response = marketing.patch(
        f"{SEGMENTS}{created['id']}/", {"rules": {"tags_any": [company.silver.id]}}, format="json"
    )
    assert response.status_code == 200 and response.json()["rules"] == {"tags_any": [company.silver.id]}
    assert marketing.delete(f"{SEGMENTS}{created['id']}/").status_code == 204
    assert not Segment.objects.filter(name="Gold").exists()


def test_bad_rules_are_a_400_naming_the_key(api, company):
    client = api("admin")
    response = client.post(
        SEGMENTS, {"name": "Bad", "rules": {"tags_any": [424242], "colour": 1}}, format="json"
    )
    assert response.status_code == 400
    errors = response.json()["rules"]
    assert "424242" in errors["tags_any"][0] and "colour" in errors
    response = client.post(SEGMENTS, {"name": "Bad", "rules": ["x"]}, format="json")
    assert response.status_code == 400


def test_counts_and_samples_are_within_the_callers_scope(api, company, vip, django_assert_max_num_queries):
    assert api("admin").get(f"{SEGMENTS}{vip.id}/count/").json() == {"count": 2}
    assert api("marketing").get(f"{SEGMENTS}{vip.id}/count/").json() == {"count": 2}
    assert api("store_manager").get(f"{SEGMENTS}{vip.id}/count/").json() == {"count": 1}
    guide = api("guide_b")
    with django_assert_max_num_queries(8):
        assert guide.get(f"{SEGMENTS}{vip.id}/count/").json() == {"count": 1}
    sample = guide.get(f"{SEGMENTS}{vip.id}/sample/").json()["results"]
    assert [row["name"] for row in sample] == ["王五"]
    assert (
        api("admin").get(f"{SEGMENTS}{vip.id}/sample/", {"limit": 1}).json()["results"][0]["name"] == "王五"
    )
    response = guide.get(f"{SEGMENTS}{vip.id}/sample/", {"limit": "0"})
    assert response.status_code == 400 and "limit" in response.json()


def test_ad_hoc_counts(api, company):
    guide = api("guide_a")
    response = guide.post(f"{SEGMENTS}count/", {"rules": {"staff": [company.sa.id]}}, format="json")
    assert response.status_code == 200 and response.json() == {"count": 2}
    response = guide.post(f"{SEGMENTS}count/", {"rules": {"staff": [company.sb.id]}}, format="json")
    assert response.json() == {"count": 0}  # guide_a does not see guide_b's customers
    assert api("admin").post(f"{SEGMENTS}count/", {"rules": {}}, format="json").json() == {"count": 3}
    response = guide.post(f"{SEGMENTS}count/", {"rules": {"added_after": "soon"}}, format="json")
    assert response.status_code == 400 and "added_after" in response.json()["rules"]
    assert guide.post(f"{SEGMENTS}count/", {}, format="json").status_code == 400
    assert api("nobody").post(f"{SEGMENTS}count/", {"rules": {}}, format="json").status_code == 403


def test_api_export_streams_what_the_caller_may_see(api, company, vip):
    rows = csv_rows(api("guide_a").get(f"{SEGMENTS}{vip.id}/export/"))
    assert [r[2] for r in rows[1:]] == ["张三"]
    rows = csv_rows(api("admin").get(f"{SEGMENTS}{vip.id}/export/", HTTP_ACCEPT="text/csv"))
    assert sorted(r[2] for r in rows[1:]) == ["张三", "王五"]
    assert api("admin").get(f"{SEGMENTS}999999/export/").status_code == 404


def test_a_segment_a_broadcast_uses_cannot_be_deleted(api, company, vip):
    from campaigns.models import Broadcast

    Broadcast.objects.create(name="Spring", text="Hi", segment=vip)
    response = api("admin").delete(f"{SEGMENTS}{vip.id}/")
    assert response.status_code == 400
    assert "broadcast" in str(response.json())
    assert Segment.objects.filter(pk=vip.pk).exists()
