"""Broadcasts in the admin and the REST API: drafts with their audience and attachments (WeCom's
rules as form errors and 400s), the preview before launching, launched broadcasts read-only, the
report page (funnel, senders, recipients filtered and paged), who sees what, cursor-paginated
senders and recipients, and query counts that do not grow with the lists.

Launching only plans after commit (these tests run in a transaction): the dispatch is not run.
"""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from campaigns.models import Broadcast, BroadcastAttachment, BroadcastBatch, BroadcastRecipient
from campaigns.services.broadcasts import broadcast_plan
from tests.admin.helpers import messages_of, url
from tests.factories import CustomerFactory, FollowFactory

pytestmark = pytest.mark.django_db

Status = Broadcast.Status
CHANGE = "campaigns.broadcast"


def broadcast_form(**fields) -> dict:
    data = {
        "name": "Spring sale",
        "kind": "customers",
        "text": "Spring is here",
        "sender_rule": "last_added",
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": "0",
        "attachments-MIN_NUM_FORMS": "0",
        "attachments-MAX_NUM_FORMS": "9",
    }
    data.update(fields)
    return data


def with_attachments(data: dict, *items: dict) -> dict:
    data["attachments-TOTAL_FORMS"] = str(len(items))
    for number, item in enumerate(items):
        for name, value in {"position": number, **item}.items():
            data[f"attachments-{number}-{name}"] = value
    return data


def form_errors(response) -> str:
    assert response.status_code == 200, response.status_code
    context = response.context
    errors = [str(context["adminform"].form.errors)]
    for inline in context["inline_admin_formsets"]:
        errors += [str(inline.formset.errors), str(inline.formset.non_form_errors())]
    return " ".join(errors)


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def admin_client(client, company):
    client.force_login(company.users.admin)
    return client


@pytest.fixture
def quiet_off(settings):
    settings.OUTREACH_QUIET_HOURS = ""


@pytest.fixture
def planned(company, quiet_off):
    """A broadcast to the three customers, planned, with one handed batch for each guide."""
    broadcast = Broadcast.objects.create(
        name="Planned",
        text="Hi",
        status=Status.PLANNING,
        customer_ids=[company.ca1.id, company.ca2.id, company.cb1.id],
    )
    company.ca2.opted_out_at = company.ca2.first_added_at
    company.ca2.save()
    broadcast_plan(broadcast_id=broadcast.pk)
    for staff in (company.sa, company.sb):
        batch = BroadcastBatch.objects.create(broadcast=broadcast, sender=staff, size=1, status="handed")
        BroadcastRecipient.objects.filter(broadcast=broadcast, sender=staff, status="pending").update(
            batch=batch
        )
    broadcast.refresh_from_db()
    return broadcast


# --- admin ------------------------------------------------------------------------------------------


def test_admin_creates_a_draft_with_rules_and_an_attachment(admin_client, company):
    assert admin_client.get(url(CHANGE, "add")).status_code == 200
    data = with_attachments(
        broadcast_form(tags_any=[str(company.gold.id)]),
        {"kind": "link", "title": "Shop", "link_url": "https://example.com/shop"},
    )
    response = admin_client.post(url(CHANGE, "add"), data)
    assert response.status_code == 302, form_errors(response)
    broadcast = Broadcast.objects.get()
    assert broadcast.status == Status.DRAFT and broadcast.origin == Broadcast.Origin.ADMIN
    assert broadcast.rules == {"tags_any": [company.gold.id]}
    assert broadcast.created_by == company.users.admin
    assert [a.title for a in broadcast.attachments.all()] == ["Shop"]

    page = admin_client.get(url(CHANGE, "change", broadcast.pk)).content.decode()
    assert 'class="broadcast-targeted">1<' in page and 'class="broadcast-eligible">1<' in page


def test_admin_form_errors_for_wecom_rules_and_a_missing_audience(admin_client, company):
    errors = form_errors(admin_client.post(url(CHANGE, "add"), broadcast_form()))
    assert "audience is required" in errors
    errors = form_errors(
        admin_client.post(
            url(CHANGE, "add"), broadcast_form(text="字" * 1400, tags_any=[str(company.gold.id)])
        )
    )
    assert "4000 bytes" in errors
    link = {"kind": "link", "link_url": "https://example.com"}
    errors = form_errors(
        admin_client.post(
            url(CHANGE, "add"), with_attachments(broadcast_form(tags_any=[str(company.gold.id)]), link)
        )
    )
    assert "A link needs a title" in errors
    errors = form_errors(admin_client.post(url(CHANGE, "add"), broadcast_form(kind="groups")))
    assert "Choose the groups" in errors
    errors = form_errors(
        admin_client.post(url(CHANGE, "add"), broadcast_form(kind="groups", group_list="99999"))
    )
    assert "Unknown group ids: 99999" in errors
    assert not Broadcast.objects.exists()


def test_admin_group_broadcast_by_owner_and_store(admin_client, company):
    data = broadcast_form(
        kind="groups", group_owners=[str(company.sa.id)], group_stores=[str(company.store_b.id)]
    )
    response = admin_client.post(url(CHANGE, "add"), data)
    assert response.status_code == 302, form_errors(response)
    broadcast = Broadcast.objects.get()
    assert broadcast.rules == {"owners": [company.sa.id], "stores": [company.store_b.id]}
    page = admin_client.get(url(CHANGE, "change", broadcast.pk)).content.decode()
    assert 'class="broadcast-targeted">2<' in page


def test_admin_launch_button_then_read_only(
    admin_client, company, quiet_off, django_capture_on_commit_callbacks
):
    broadcast = Broadcast.objects.create(name="Now", text="Hi", customer_ids=[company.ca1.id])
    report = admin_client.get(url(CHANGE, "report", broadcast.pk))
    assert report.status_code == 200
    page = report.content.decode()
    assert "Launch now" in page and "broadcast-senders-empty" in page and "broadcast-recipients-empty" in page
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(url(CHANGE, "launch", broadcast.pk))
    assert response.status_code == 302 and len(callbacks) == 1
    assert any("Launched" in m for m in messages_of(response))
    broadcast.refresh_from_db()
    assert broadcast.status == Status.PLANNING
    # Launched: read-only, and a second launch is refused with a message.
    assert admin_client.post(url(CHANGE, "change", broadcast.pk), broadcast_form()).status_code == 403
    page = admin_client.get(url(CHANGE, "change", broadcast.pk))
    assert page.status_code == 200 and 'name="_save"' not in page.content.decode()
    response = admin_client.post(url(CHANGE, "launch", broadcast.pk))
    assert any("launched already" in m for m in messages_of(response))
    assert admin_client.get(url(CHANGE, "launch", broadcast.pk)).status_code == 405


def test_admin_cancel_of_a_draft_is_refused_with_a_message(admin_client, company):
    broadcast = Broadcast.objects.create(name="Draft", text="Hi", customer_ids=[company.ca1.id])
    response = admin_client.post(url(CHANGE, "cancel", broadcast.pk))
    assert any("Only a launched broadcast" in m for m in messages_of(response))


def test_admin_report_of_a_planned_broadcast(admin_client, planned, company, django_assert_max_num_queries):
    with django_assert_max_num_queries(20):
        response = admin_client.get(url(CHANGE, "report", planned.pk))
    page = response.content.decode()
    assert response.status_code == 200
    assert page.count('class="border-t border-base-200 dark:border-base-800 broadcast-recipient"') == 3
    assert page.count('broadcast-sender"') == 2 and "Delivery funnel" in page
    assert "Opted out" in page or "opted out" in page
    response = admin_client.get(url(CHANGE, "report", planned.pk), {"reason": "opted_out"})
    assert response.content.decode().count('broadcast-recipient"') == 1
    response = admin_client.get(url(CHANGE, "report", planned.pk), {"status": "failed"})
    assert "No recipient with this status or reason." in response.content.decode()
    listing = admin_client.get(url(CHANGE))
    assert listing.status_code == 200 and "Planned" in listing.content.decode()


def test_admin_scope_guides_see_broadcasts_their_staff_send(client, planned, company):
    client.force_login(company.users.guide_b)
    response = client.get(url(CHANGE, "report", planned.pk))
    if response.status_code == 403:  # the role has no view permission on broadcasts: nothing shown
        return
    page = response.content.decode()
    assert page.count('broadcast-recipient"') == 1 and company.cb1.external_userid in page


# --- API --------------------------------------------------------------------------------------------


def test_api_crud_of_drafts(company):
    api = api_as(company.users.marketing)
    body = {
        "name": "Spring",
        "text": "Hello",
        "rules": {"tags_any": [company.gold.id]},
        "attachments": [{"kind": "link", "title": "Shop", "link_url": "https://example.com"}],
    }
    response = api.post("/api/v1/broadcasts/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["status"] == "draft" and data["origin"] == "api" and data["funnel"]["targeted"] == 0
    assert [a["title"] for a in data["attachments"]] == ["Shop"]
    pk = data["id"]
    response = api.patch(f"/api/v1/broadcasts/{pk}/", {"text": "Hello again"}, format="json")
    assert response.status_code == 200 and response.json()["text"] == "Hello again"
    preview = api.get(f"/api/v1/broadcasts/{pk}/preview/").json()
    assert preview["targeted"] == 1 and preview["eligible"] == 1 and preview["no_longer_friends"] == 0
    assert api.delete(f"/api/v1/broadcasts/{pk}/").status_code == 204


@pytest.mark.parametrize(
    ("body", "field", "message"),
    [
        ({"text": "字" * 1400, "rules": {"tags_any": [1]}}, "text", "4000 bytes"),
        ({"text": "Hi"}, "segment", "audience is required"),
        ({"text": "Hi", "rules": {"no_such_rule": 1}}, "rules", ""),
        ({"text": "Hi", "kind": "groups", "rules": {"owner": [1]}}, "rules", "Unknown keys"),
        ({"text": "Hi", "segment": 999999}, "segment", ""),
        ({"text": "Hi", "rules": {"tags_any": [1]}, "sender_rule": "random"}, "sender_rule", ""),
        ({"text": "", "rules": {"tags_any": [1]}}, "text", ""),
        (
            {
                "text": "Hi",
                "rules": {"tags_any": [1]},
                "attachments": [{"kind": "link", "link_url": "https://e.com"}] * 10,
            },
            "attachments",
            "At most 9",
        ),
    ],
)
def test_api_bad_input_is_a_400_naming_the_field(company, body, field, message):
    response = api_as(company.users.admin).post("/api/v1/broadcasts/", {"name": "x", **body}, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json() and message in str(response.json()[field])


def test_api_launch_then_read_only(company, quiet_off, django_capture_on_commit_callbacks):
    api = api_as(company.users.admin)
    broadcast = Broadcast.objects.create(name="Now", text="Hi", customer_ids=[company.ca1.id])
    with django_capture_on_commit_callbacks() as callbacks:
        response = api.post(f"/api/v1/broadcasts/{broadcast.pk}/launch/")
    assert response.status_code == 202 and response.json()["status"] == "planning" and len(callbacks) == 1
    response = api.patch(f"/api/v1/broadcasts/{broadcast.pk}/", {"text": "x"}, format="json")
    assert response.status_code == 400 and "Only drafts" in str(response.json())
    assert api.delete(f"/api/v1/broadcasts/{broadcast.pk}/").status_code == 400
    assert api.post(f"/api/v1/broadcasts/{broadcast.pk}/launch/").status_code == 400


def test_api_commands_on_a_draft_are_400s(company):
    api = api_as(company.users.admin)
    broadcast = Broadcast.objects.create(name="Draft", text="Hi", customer_ids=[company.ca1.id])
    for command in ("cancel", "sync", "remind"):
        response = api.post(f"/api/v1/broadcasts/{broadcast.pk}/{command}/")
        assert response.status_code == 400, (command, response.content)
        assert response.json()


def test_api_recipients_and_senders(company, planned, django_assert_max_num_queries):
    api = api_as(company.users.admin)
    detail = api.get(f"/api/v1/broadcasts/{planned.pk}/").json()
    assert detail["funnel"] == {"targeted": 3, "eligible": 2, "handed": 0, "confirmed": 0, "delivered": 0}
    with django_assert_max_num_queries(6):
        first = api.get(f"/api/v1/broadcasts/{planned.pk}/recipients/", {"page_size": 2}).json()
    assert len(first["results"]) == 2 and first["next"]
    second = api.get(first["next"]).json()
    assert len(second["results"]) == 1 and second["next"] is None
    opted = api.get(f"/api/v1/broadcasts/{planned.pk}/recipients/", {"reason": "opted_out"}).json()
    assert [r["target"] for r in opted["results"]] == [company.ca2.external_userid]
    assert opted["results"][0]["status"] == "suppressed" and opted["results"][0]["name"] == "李四"
    response = api.get(f"/api/v1/broadcasts/{planned.pk}/recipients/", {"status": "nope"})
    assert response.status_code == 400 and "status" in response.json()
    response = api.get(f"/api/v1/broadcasts/{planned.pk}/recipients/", {"cursor": "garbage"})
    assert response.status_code == 400
    senders = api.get(f"/api/v1/broadcasts/{planned.pk}/senders/").json()["results"]
    assert [(s["userid"], s["recipients"], s["handed_batches"], s["confirmed"]) for s in senders] == [
        ("sa", 1, 1, False),
        ("sb", 1, 1, False),
    ]


def test_api_list_query_count_does_not_grow(company, django_assert_max_num_queries):
    for n in range(12):
        broadcast = Broadcast.objects.create(name=f"B{n}", text="Hi", customer_ids=[company.ca1.id])
        BroadcastAttachment.objects.create(
            broadcast=broadcast, kind="link", title="t", link_url="https://e.com"
        )
    api = api_as(company.users.admin)
    with django_assert_max_num_queries(8):
        response = api.get("/api/v1/broadcasts/")
    assert response.status_code == 200 and len(response.json()["results"]) == 12


def test_api_scope_and_permissions(company, planned):
    other = Broadcast.objects.create(name="Other", text="Hi", customer_ids=[company.ca1.id])
    guide = api_as(company.users.guide_b)
    listed = [b["id"] for b in guide.get("/api/v1/broadcasts/").json()["results"]]
    assert listed == [planned.pk] and other.pk not in listed
    recipients = guide.get(f"/api/v1/broadcasts/{planned.pk}/recipients/").json()["results"]
    assert [r["target"] for r in recipients] == [company.cb1.external_userid]
    senders = guide.get(f"/api/v1/broadcasts/{planned.pk}/senders/").json()["results"]
    assert [s["userid"] for s in senders] == ["sb"]
    assert guide.post("/api/v1/broadcasts/", {"name": "x", "text": "x"}, format="json").status_code == 403
    assert guide.post(f"/api/v1/broadcasts/{planned.pk}/cancel/").status_code == 403
    assert api_as(company.users.nobody).get("/api/v1/broadcasts/").status_code == 403
    assert api_as(company.users.store_manager).get(f"/api/v1/broadcasts/{other.pk}/").status_code == 404
    manager = [
        b["id"] for b in api_as(company.users.store_manager).get("/api/v1/broadcasts/").json()["results"]
    ]
    assert manager == [planned.pk]  # East's guide sa sends it


def test_api_preview_of_groups_counts_reasons(company):
    broadcast = Broadcast.objects.create(
        name="Groups", kind="groups", text="Hi", rules={"owners": [company.sa.id, company.sb.id]}
    )
    company.gb.owner = None
    company.gb.save()
    customer = CustomerFactory()
    FollowFactory(customer=customer, staff=company.sa)
    preview = api_as(company.users.admin).get(f"/api/v1/broadcasts/{broadcast.pk}/preview/").json()
    assert preview["targeted"] == 1 and preview["eligible"] == 1  # gb lost its owner: not sa's or sb's


def test_admin_copies_a_library_material_as_an_attachment(admin_client, company):
    from campaigns.models import Material

    material = Material.objects.create(
        kind="link", title="Autumn shop", link_url="https://example.com/autumn"
    )
    data = broadcast_form(text="", tags_any=[str(company.gold.id)], material=str(material.pk))
    response = admin_client.post(url(CHANGE, "add"), data)
    assert response.status_code == 302, form_errors(response)
    broadcast = Broadcast.objects.get()
    assert [(a.kind, a.title, a.link_url) for a in broadcast.attachments.all()] == [
        ("link", "Autumn shop", "https://example.com/autumn")
    ]


def test_sync_is_queued_for_a_handed_broadcast(
    company, planned, admin_client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks() as callbacks:
        response = api_as(company.users.admin).post(f"/api/v1/broadcasts/{planned.pk}/sync/")
    assert response.status_code == 202 and response.json()["id"] == planned.pk and len(callbacks) == 1
    with django_capture_on_commit_callbacks() as callbacks:
        response = admin_client.post(url(CHANGE, "sync", planned.pk))
    assert any("Sync queued" in m for m in messages_of(response)) and len(callbacks) == 1
