"""Moments campaigns in the admin and the REST API: drafts with attachments (WeCom's rules as form
errors and 400s), copying a library material, launched campaigns read-only, the progress page and
its buttons, who sees what, cursor-paginated publishers, and query counts that do not grow with
the lists. The launch and cancel buttons and actions run against the sandbox over HTTP."""

from __future__ import annotations

import base64

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from campaigns.models import Material, MomentAttachment, MomentCampaign, MomentPublisher, SensitiveWord
from campaigns.services.content import sensitive_word_save
from scrm.sandbox.models import SandboxCall, SandboxMoment
from tests.admin.helpers import messages_of, url
from tests.campaigns.test_moments import MP4, PNG, corp, org  # noqa: F401  (fixtures)
from tests.wecom.conftest import eager_celery  # noqa: F401  (fixture)

Status = MomentCampaign.Status
B64 = base64.b64encode(PNG).decode()


def campaign_form(**fields) -> dict:
    data = {
        "name": "Spring",
        "text": "Spring is here",
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
        for name, value in {"order": number, **item}.items():
            data[f"attachments-{number}-{name}"] = value
    return data


def png(name="a.png"):
    return {"kind": "image", "upload": SimpleUploadedFile(name, PNG, content_type="image/png")}


def form_errors(response) -> str:
    assert response.status_code == 200, response.status_code
    context = response.context
    errors = [str(context["adminform"].form.errors)]
    for inline in context["inline_admin_formsets"]:
        errors += [str(inline.formset.errors), str(inline.formset.non_form_errors())]
    return " ".join(errors)


def launched(name="Done", **fields) -> MomentCampaign:
    fields.setdefault("status", Status.PUBLISHING)
    fields.setdefault("moment_id", f"mom-{name}")
    return MomentCampaign.objects.create(name=name, text="hi", **fields)


@pytest.fixture
def admin_client(client, company):
    client.force_login(company.users.admin)
    return client


def api_as(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def marketing(company):
    return api_as(company.users.marketing)


# --- admin ----------------------------------------------------------------------------------------


def test_admin_creates_a_draft_with_images_publishers_and_audience(admin_client, company):
    company.gold.wecom_id = "etGOLD"
    company.gold.save()
    data = with_attachments(
        campaign_form(staff=[company.sa.pk], departments=[company.store_b.pk], tags=[company.gold.pk]),
        png("a.png"),
        png("b.png"),
    )
    response = admin_client.post(url("campaigns.momentcampaign", "add"), data)
    assert response.status_code == 302, form_errors(response)
    campaign = MomentCampaign.objects.get()
    assert (campaign.status, campaign.created_by) == (Status.DRAFT, company.users.admin)
    assert [a.file_name for a in campaign.attachments.order_by("order")] == ["a.png", "b.png"]
    assert bytes(campaign.attachments.first().file_content) == PNG
    assert list(campaign.staff.all()) == [company.sa]
    assert list(campaign.departments.all()) == [company.store_b]
    assert list(campaign.tags.all()) == [company.gold]

    page = admin_client.get(url("campaigns.momentcampaign", "change", campaign.pk))
    assert page.status_code == 200 and "a.png" in page.content.decode()


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ([png(f"{i}.png") for i in range(10)], "at most 9 images"),
        (
            [png(), {"kind": "video", "upload": SimpleUploadedFile("v.mp4", MP4, content_type="video/mp4")}],
            "cannot be mixed",
        ),
        ([{"kind": "link", "title": "Menu", "link_url": "https://example.com/"}, png()], "cannot be mixed"),
        ([{"kind": "link", "title": "标" * 22, "link_url": "https://example.com/"}], "64 bytes"),
        ([{"kind": "file"}], "valid choice"),
    ],
)
def test_admin_shows_wecom_rules_as_form_errors(admin_client, items, message):
    data = with_attachments(campaign_form(), *items)
    response = admin_client.post(url("campaigns.momentcampaign", "add"), data)
    assert message in form_errors(response)
    assert not MomentCampaign.objects.exists()


def test_admin_text_too_long_and_tags_not_in_wecom(admin_client, company):
    company.gold.wecom_id = None
    company.gold.save()
    response = admin_client.post(url("campaigns.momentcampaign", "add"), campaign_form(text="a" * 2001))
    assert "2000 characters" in form_errors(response)
    response = admin_client.post(
        url("campaigns.momentcampaign", "add"), campaign_form(tags=[company.gold.pk])
    )
    assert "Not corporate tags in WeCom" in form_errors(response)
    assert not MomentCampaign.objects.exists()


def test_admin_copies_a_library_material(admin_client):
    material = Material.objects.create(
        title="Poster", kind="image", file_name="poster.png", file_content=PNG, file_size=len(PNG)
    )
    response = admin_client.post(url("campaigns.momentcampaign", "add"), campaign_form(material=material.pk))
    assert response.status_code == 302, form_errors(response)
    [attachment] = MomentCampaign.objects.get().attachments.all()
    assert (attachment.kind, attachment.file_name, bytes(attachment.file_content)) == (
        "image",
        "poster.png",
        PNG,
    )
    # A material counts with the inline attachments: an image next to a link is refused.
    data = with_attachments(
        campaign_form(material=material.pk), {"kind": "link", "title": "Menu", "link_url": "https://e.com/"}
    )
    assert "cannot be mixed" in form_errors(admin_client.post(url("campaigns.momentcampaign", "add"), data))


def test_admin_refuses_a_sensitive_word(admin_client):
    sensitive_word_save(word=SensitiveWord(word="赌博", action="block"))
    response = admin_client.post(url("campaigns.momentcampaign", "add"), campaign_form(text="来赌博吧"))
    assert response.status_code == 302
    assert any("赌博" in m for m in messages_of(response))
    assert not MomentCampaign.objects.exists()


def test_a_launched_campaign_is_read_only_in_the_admin(admin_client):
    campaign = launched()
    page = admin_client.get(url("campaigns.momentcampaign", "change", campaign.pk))
    assert page.status_code == 200
    assert 'name="_save"' not in page.content.decode()
    response = admin_client.post(
        url("campaigns.momentcampaign", "change", campaign.pk), campaign_form(name="x")
    )
    assert response.status_code == 403
    assert (
        admin_client.post(url("campaigns.momentcampaign", "delete", campaign.pk), {"post": "yes"}).status_code
        == 403
    )
    campaign.refresh_from_db()
    assert campaign.name == "Done"


def test_progress_page_shows_the_bar_and_each_publisher(admin_client, company):
    campaign = launched(publishers_count=2, published_count=1, customers_reached=7)
    MomentPublisher.objects.create(campaign=campaign, staff=company.sa, userid="sa", publish_status=1)
    MomentPublisher.objects.create(campaign=campaign, staff=company.sb, userid="sb")
    page = admin_client.get(url("campaigns.momentcampaign", "progress", campaign.pk))
    html = page.content.decode()
    assert page.status_code == 200
    assert "1 of 2 published" in html and 'aria-valuenow="50"' in html
    assert html.count('class="border-t border-base-200 dark:border-base-800 moment-publisher"') == 2
    assert "Guide A" in html and "Guide B" in html
    assert "Cancel the moment" in html and "Sync results" in html and ">Launch<" not in html
    # The buttons are POST forms: a GET changes nothing.
    assert admin_client.get(url("campaigns.momentcampaign", "cancel", campaign.pk)).status_code == 405


def test_admin_buttons_refuse_with_a_message(admin_client):
    campaign = MomentCampaign.objects.create(name="Draft", text="hi")
    response = admin_client.post(url("campaigns.momentcampaign", "cancel", campaign.pk))
    assert response.status_code == 302
    assert any("can be canceled" in m for m in messages_of(response))
    response = admin_client.post(url("campaigns.momentcampaign", "sync", campaign.pk))
    assert any("not created this moment yet" in m for m in messages_of(response))


def test_store_managers_and_guides_cannot_act(client, company):
    campaign = launched()
    client.force_login(company.users.guide_a)
    assert client.post(url("campaigns.momentcampaign", "cancel", campaign.pk)).status_code == 403


@pytest.mark.django_db(transaction=True)
def test_admin_launch_and_cancel_buttons_against_the_sandbox(client, corp, org):  # noqa: F811
    from tests.factories import UserFactory

    staff, _, _ = org
    user = UserFactory(username="boss", is_superuser=True)
    client.force_login(user)
    campaign = MomentCampaign.objects.create(name="Spring", text="Spring is here")
    campaign.staff.set(staff[:2])
    response = client.post(url("campaigns.momentcampaign", "launch", campaign.pk))
    assert response.status_code == 302
    campaign.refresh_from_db()
    assert campaign.status == Status.PUBLISHING and campaign.moment_id
    assert campaign.publishers_count == 2
    page = client.get(url("campaigns.momentcampaign", "progress", campaign.pk)).content.decode()
    assert "0 of 2 published" in page and "user1" in page and "user2" in page

    response = client.post(url("campaigns.momentcampaign", "cancel", campaign.pk))
    campaign.refresh_from_db()
    assert campaign.status == Status.CANCELED
    assert SandboxMoment.objects.get().canceled
    # A second press: nothing more is sent to WeCom.
    client.post(url("campaigns.momentcampaign", "launch", campaign.pk))
    assert SandboxCall.objects.filter(path="externalcontact/add_moment_task").count() == 1


# --- API ------------------------------------------------------------------------------------------


def test_api_crud_of_a_draft(marketing, company):
    company.gold.wecom_id = "etGOLD"
    company.gold.save()
    body = {
        "name": "Spring",
        "text": "Spring is here",
        "staff": [company.sa.pk],
        "departments": [company.store_a.pk],
        "tags": [company.gold.pk],
        "attachments": [{"kind": "image", "file_name": "a.png", "file_base64": B64}],
    }
    response = marketing.post("/api/v1/moments/", body, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (
        data["status"] == "draft" and data["staff"] == [company.sa.pk] and data["tags"] == [company.gold.pk]
    )
    [attachment] = data["attachments"]
    assert attachment["file_size"] == len(PNG) and "file_base64" not in attachment
    campaign = MomentCampaign.objects.get()
    assert campaign.created_by == company.users.marketing

    response = marketing.patch(
        f"/api/v1/moments/{campaign.pk}/",
        {
            "attachments": [
                {"id": attachment["id"], "kind": "image", "file_name": "a.png"},
                {"kind": "image", "file_name": "b.png", "file_base64": B64},
            ]
        },
        format="json",
    )
    assert response.status_code == 200, response.content
    assert [a.file_name for a in campaign.attachments.order_by("order")] == ["a.png", "b.png"]
    assert bytes(campaign.attachments.get(file_name="a.png").file_content) == PNG  # kept

    assert marketing.delete(f"/api/v1/moments/{campaign.pk}/").status_code == 204
    assert not MomentCampaign.objects.exists()


@pytest.mark.parametrize(
    ("attachments", "message"),
    [
        (
            [{"kind": "image", "file_name": f"{i}.png", "file_base64": B64} for i in range(10)],
            "at most 9 images",
        ),
        (
            [
                {"kind": "image", "file_name": "a.png", "file_base64": B64},
                {"kind": "link", "title": "Menu", "link_url": "https://e.com/"},
            ],
            "cannot be mixed",
        ),
        ([{"kind": "miniprogram", "title": "x"}], "valid choice"),
        ([{"kind": "image", "file_name": "a.png", "file_base64": "%%%"}], "base64"),
        ([{"kind": "video"}], "needs its file"),
    ],
)
def test_api_400s_on_wecom_rules(marketing, attachments, message):
    response = marketing.post("/api/v1/moments/", {"name": "x", "attachments": attachments}, format="json")
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not MomentCampaign.objects.exists()


def test_api_400s_on_text_and_sensitive_words(marketing):
    response = marketing.post("/api/v1/moments/", {"name": "x", "text": "a" * 2001}, format="json")
    assert response.status_code == 400 and "2000 characters" in response.content.decode()
    response = marketing.post("/api/v1/moments/", {"name": "x", "text": ""}, format="json")
    assert response.status_code == 400 and "text, an attachment" in response.content.decode()
    sensitive_word_save(word=SensitiveWord(word="赌博", action="block"))
    response = marketing.post("/api/v1/moments/", {"name": "x", "text": "来赌博吧"}, format="json")
    assert response.status_code == 400
    assert "赌博" in response.json()["text"][0]


def test_api_launched_campaigns_are_read_only_and_actions_answer_400(marketing):
    campaign = launched(status=Status.DONE)
    path = f"/api/v1/moments/{campaign.pk}/"
    for response in (
        marketing.patch(path, {"name": "x"}, format="json"),
        marketing.delete(path),
        marketing.post(path + "launch/"),
        marketing.post(path + "cancel/"),
    ):
        assert response.status_code == 400, response.content
        assert response.json()
    draft = MomentCampaign.objects.create(name="Draft", text="hi")
    response = marketing.post(f"/api/v1/moments/{draft.pk}/sync/")
    assert response.status_code == 400 and "not created" in response.content.decode()
    assert marketing.get("/api/v1/moments/?cursor=zzz").status_code == 400
    assert marketing.get(f"/api/v1/moments/{campaign.pk}/publishers/?cursor=zzz").status_code == 400
    assert (
        marketing.post(
            "/api/v1/moments/", {"name": "x", "text": "y", "staff": [999999]}, format="json"
        ).status_code
        == 400
    )


def test_api_scopes_reads_and_permissions(company, marketing):
    mine = launched("A")
    MomentPublisher.objects.create(campaign=mine, staff=company.sa, userid="sa")
    MomentPublisher.objects.create(campaign=mine, staff=company.sb, userid="sb")
    named = MomentCampaign.objects.create(name="B draft", text="hi")
    named.staff.set([company.sa])
    other = launched("C")
    MomentPublisher.objects.create(campaign=other, staff=company.sb, userid="sb")

    def names(client):
        response = client.get("/api/v1/moments/")
        assert response.status_code == 200, response.content
        return sorted(row["name"] for row in response.json()["results"])

    guide_a = api_as(company.users.guide_a)
    assert names(marketing) == ["A", "B draft", "C"]
    assert names(guide_a) == ["A", "B draft"]
    assert names(api_as(company.users.store_manager)) == ["A", "B draft"]  # East: store A
    assert names(api_as(company.users.guide_b)) == ["A", "C"]
    assert api_as(company.users.nobody).get("/api/v1/moments/").status_code == 403
    assert guide_a.get(f"/api/v1/moments/{other.pk}/").status_code == 404

    publishers = guide_a.get(f"/api/v1/moments/{mine.pk}/publishers/").json()["results"]
    assert [p["userid"] for p in publishers] == ["sa"]
    # Reads only: writes and actions need the marketing role.
    assert guide_a.post("/api/v1/moments/", {"name": "x", "text": "y"}, format="json").status_code == 403
    assert guide_a.post(f"/api/v1/moments/{mine.pk}/cancel/").status_code == 403
    assert guide_a.post(f"/api/v1/moments/{named.pk}/launch/").status_code == 403


def test_api_publishers_are_cursor_paginated(marketing, company):
    campaign = launched()
    MomentPublisher.objects.bulk_create(
        MomentPublisher(campaign=campaign, userid=f"u{i}", publish_status=i % 2) for i in range(5)
    )
    response = marketing.get(f"/api/v1/moments/{campaign.pk}/publishers/?page_size=2")
    page = response.json()
    assert [p["userid"] for p in page["results"]] == ["u0", "u1"]
    assert page["results"][1]["publish_status"] == 1 and page["results"][0]["staff_name"] is None
    seen = [p["userid"] for p in page["results"]]
    while page["next"]:
        page = marketing.get(page["next"]).json()
        seen += [p["userid"] for p in page["results"]]
    assert seen == [f"u{i}" for i in range(5)]


@pytest.mark.django_db(transaction=True)
def test_api_launch_sync_and_cancel_against_the_sandbox(corp, org):  # noqa: F811
    from tests.factories import UserFactory

    staff, _, gold = org
    client = api_as(UserFactory(username="boss", is_superuser=True))
    body = {
        "name": "Spring",
        "text": "Spring is here",
        "staff": [s.pk for s in staff],
        "tags": [gold.pk],
        "attachments": [{"kind": "link", "title": "Menu", "link_url": "https://example.com/menu"}],
    }
    created = client.post("/api/v1/moments/", body, format="json")
    assert created.status_code == 201, created.content
    path = f"/api/v1/moments/{created.json()['id']}/"
    response = client.post(path + "launch/")
    assert response.status_code == 202, response.content
    data = client.get(path).json()
    assert data["status"] == "publishing" and data["moment_id"] and data["publishers_count"] == 3
    assert client.post(path + "launch/").status_code == 400
    assert client.patch(path, {"name": "x"}, format="json").status_code == 400

    from scrm.sandbox.actions.outreach import moment_publish_action

    moment_publish_action(corp.corp_id, {"moment_id": data["moment_id"], "userid": "user2"})
    assert client.post(path + "sync/").status_code == 202
    data = client.get(path).json()
    assert (data["published_count"], data["progress_percent"]) == (1, 33)
    rows = client.get(path + "publishers/").json()["results"]
    assert [(r["userid"], r["publish_status"]) for r in rows] == [("user1", 0), ("user2", 1), ("user3", 0)]

    response = client.post(path + "cancel/")
    assert response.status_code == 200 and response.json()["status"] == "canceled"
    assert SandboxCall.objects.filter(path="externalcontact/add_moment_task").count() == 1


# --- query counts ---------------------------------------------------------------------------------


def test_lists_take_the_same_queries_whatever_their_length(admin_client, marketing, company):
    company.gold.wecom_id = "etGOLD"
    company.gold.save()

    def add_rows(start: int, count: int) -> MomentCampaign:
        for n in range(start, start + count):
            campaign = launched(f"m{n}", publishers_count=1)
            campaign.staff.set([company.sa, company.sb])
            campaign.departments.set([company.store_a])
            campaign.tags.set([company.gold])
            MomentAttachment.objects.create(
                campaign=campaign, kind="link", title="t", link_url="https://e.com/"
            )
            MomentPublisher.objects.create(campaign=campaign, staff=company.sa, userid=f"sa{n}")
            MomentPublisher.objects.create(campaign=first, staff=company.sb, userid=f"sb{n}")
        return campaign

    first = launched("first")
    pages = [
        (url("campaigns.momentcampaign"), admin_client),
        (url("campaigns.momentcampaign", "progress", first.pk), admin_client),
        ("/api/v1/moments/", marketing),
        (f"/api/v1/moments/{first.pk}/publishers/", marketing),
        ("/api/v1/moments/", api_as(company.users.guide_a)),
    ]

    def queries(path: str, client) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return len(captured)

    add_rows(0, 2)
    [queries(path, client) for path, client in pages]  # caches warmed (content types, role)
    few = [queries(path, client) for path, client in pages]
    add_rows(2, 8)
    assert [queries(path, client) for path, client in pages] == few
    assert max(few) <= 15, few
