"""Welcome messages and group welcome templates in the admin and the REST API: validation against
WeCom's limits as form errors and 400s, the preview, the read-only send record, and group
templates written to the sandbox over HTTP (WeCom's refusals become form errors and 400s)."""

from __future__ import annotations

import base64

import pytest
from django.core.cache import cache
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone

from campaigns.models import GroupWelcomeTemplate, WelcomeAttachment, WelcomeMessage, WelcomeSend
from scrm.sandbox.models import SandboxCall, SandboxWelcomeTemplate
from scrm.sandbox.services import sandbox_corp_create, sandbox_faults_set
from scrm.wecom.client import wecom_clients_close
from tests.admin.helpers import url

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def message_form(**fields) -> dict:
    data = {
        "name": "Hello",
        "scope": "default",
        "text": "Hi {customer}, this is {staff}.",
        "active": "on",
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


def form_errors(response) -> str:
    assert response.status_code == 200, response.status_code  # re-shown with errors, not saved
    context = response.context
    errors = [str(context["adminform"].form.errors)]
    for inline in context["inline_admin_formsets"]:
        errors += [str(inline.formset.errors), str(inline.formset.non_form_errors())]
    return " ".join(errors)


# --- admin: welcome messages ------------------------------------------------------------------------


@pytest.fixture
def admin_client(client, company):
    client.force_login(company.users.admin)
    return client


def test_admin_creates_a_message_with_attachments(admin_client):
    data = with_attachments(
        message_form(),
        {"kind": "link", "title": "Shop", "link_url": "https://example.com/", "description": "Our shop"},
        {"kind": "image", "upload": SimpleUploadedFile("hi.png", PNG, content_type="image/png")},
    )
    response = admin_client.post(url("campaigns.welcomemessage", "add"), data)
    assert response.status_code == 302, form_errors(response)
    message = WelcomeMessage.objects.get()
    link, image = message.attachments.order_by("order")
    assert (link.kind, link.title) == ("link", "Shop")
    assert (image.file_name, bytes(image.file_content), image.media_id) == ("hi.png", PNG, "")

    page = admin_client.get(url("campaigns.welcomemessage", "change", message.pk))
    html = page.content.decode()
    assert "Hi Lily 莉莉, this is Alex 王." in html  # the preview, with sample names
    assert "Our shop" in html and "hi.png" in html


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (message_form(text="Hi {name}!"), "Unknown placeholder(s): {name}"),
        (message_form(text="字" * 1400), "4000 bytes"),
        (message_form(text=" "), "Give a text, an attachment, or both"),
        (message_form(scope="department"), "Choose the department"),
        (message_form(window_start="09:00"), "both ends of the time window"),
        (
            with_attachments(
                message_form(), {"kind": "link", "title": "长" * 43, "link_url": "https://e.com/"}
            ),
            "128 bytes",
        ),
        (with_attachments(message_form(), {"kind": "link", "title": "t"}), "A link needs its URL"),
        (
            with_attachments(
                message_form(), {"kind": "miniprogram", "title": "t", "appid": "wx1", "page": "p"}
            ),
            "cover image",
        ),
        (with_attachments(message_form(), {"kind": "video"}), "needs its file"),
        (
            with_attachments(
                message_form(), {"kind": "file", "upload": SimpleUploadedFile("a.txt", b"1234")}
            ),
            "5 bytes to 20 MB",
        ),
        (
            with_attachments(message_form(), {"kind": "image", "upload": SimpleUploadedFile("a.gif", PNG)}),
            ".jpg, .jpeg, .png",
        ),
        (
            with_attachments(
                message_form(),
                *[{"kind": "link", "title": f"t{i}", "link_url": "https://e.com/"} for i in range(10)],
            ),
            "9",
        ),
    ],
)
def test_admin_refuses_what_wecom_would(admin_client, data, expected):
    response = admin_client.post(url("campaigns.welcomemessage", "add"), data)
    assert expected in form_errors(response)
    assert not WelcomeMessage.objects.exists()


def test_send_record_is_read_only_and_lists_errors(admin_client, company):
    follow = company.ca1.follows.first()
    WelcomeSend.objects.create(
        welcome_code="WCX",
        follow=follow,
        status="expired",
        error="welcome_code invalid",
        received_at=timezone.now(),
    )
    page = admin_client.get(url("campaigns.welcomesend"), {"status": "expired"})
    assert page.status_code == 200
    assert "welcome_code invalid" in page.content.decode()
    row = WelcomeSend.objects.get()
    assert admin_client.get(url("campaigns.welcomesend", "add")).status_code == 403
    assert (
        admin_client.post(url("campaigns.welcomesend", "delete", row.pk), {"post": "yes"}).status_code == 403
    )


def test_guides_cannot_open_welcome_messages(client, company):
    client.force_login(company.users.guide_a)
    assert client.get(url("campaigns.welcomemessage")).status_code == 403


# --- API: welcome messages ------------------------------------------------------------------------


@pytest.fixture
def marketing(company):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(company.users.marketing)
    return client


def test_api_crud_with_attachments(marketing, company, django_capture_on_commit_callbacks):
    body = {
        "name": "Store A",
        "scope": "department",
        "department": company.store_a.pk,
        "text": "Hello {customer}",
        "window_start": "09:00:00",
        "window_end": "18:00:00",
        "attachments": [
            {"kind": "link", "title": "Shop", "link_url": "https://example.com/"},
            {"kind": "image", "file_name": "a.png", "file_base64": base64.b64encode(PNG).decode()},
        ],
    }
    with django_capture_on_commit_callbacks() as queued:
        created = marketing.post("/api/v1/welcome-messages/", body, format="json")
    assert created.status_code == 201, created.content
    assert len(queued) == 1  # the upload to WeCom, after commit
    data = created.json()
    assert [a["kind"] for a in data["attachments"]] == ["link", "image"]
    assert data["attachments"][1]["file_size"] == len(PNG)
    assert "file_base64" not in data["attachments"][1]

    message_id = data["id"]
    image_id = data["attachments"][1]["id"]
    # Drop the link, keep the image (its stored file stays without sending it again).
    changed = marketing.patch(
        f"/api/v1/welcome-messages/{message_id}/",
        {"attachments": [{"id": image_id, "kind": "image", "file_name": "a.png"}]},
        format="json",
    )
    assert changed.status_code == 200, changed.content
    assert [a["id"] for a in changed.json()["attachments"]] == [image_id]
    assert bytes(WelcomeAttachment.objects.get(pk=image_id).file_content) == PNG

    preview = marketing.get(f"/api/v1/welcome-messages/{message_id}/preview/").json()
    assert preview["text"] == "Hello Lily 莉莉"
    listed = marketing.get("/api/v1/welcome-messages/", {"scope": "department"}).json()
    assert [m["id"] for m in listed["results"]] == [message_id] and "next" in listed
    assert marketing.delete(f"/api/v1/welcome-messages/{message_id}/").status_code == 204
    assert not WelcomeAttachment.objects.exists()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "x", "text": "{who}"}, "text"),
        ({"name": "x", "scope": "live_code"}, "live_code"),
        ({"name": "x", "text": "t", "attachments": [{"kind": "link", "title": "t"}]}, "attachments"),
        ({"name": "x", "text": "t", "attachments": [{"kind": "image", "file_base64": "!!"}]}, "attachments"),
        (
            {
                "name": "x",
                "text": "t",
                "attachments": [{"kind": "link", "title": "t", "link_url": "https://e.com"}] * 10,
            },
            "attachments",
        ),
        ({"name": "x", "text": "t", "attachments": [{"kind": "gif"}]}, "attachments"),
        ({"name": "x", "window_start": "25:00"}, "window_start"),
        ({"name": "x", "text": ""}, "text"),
        (
            {"name": "x", "text": "t", "attachments": [{"kind": "link", "title": "t", "link_url": "nope"}]},
            "attachments",
        ),
    ],
)
def test_api_bad_input_is_a_400_naming_the_field(marketing, body, field):
    response = marketing.post("/api/v1/welcome-messages/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()
    assert not WelcomeMessage.objects.exists()


def test_api_writes_need_the_role(company):
    from rest_framework.test import APIClient

    client = APIClient()
    client.force_authenticate(company.users.guide_a)
    assert client.post("/api/v1/welcome-messages/", {"name": "x"}, format="json").status_code == 403


# --- group welcome templates, written to the sandbox ----------------------------------------------


@pytest.fixture
def corp(live_server, settings, transactional_db):
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    wecom_clients_close()
    cache.clear()
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID, contact_secret=settings.WECOM_SECRET, members=1, contacts_per_member=0
    )
    yield corp
    sandbox_faults_set()
    wecom_clients_close()


ADD = "externalcontact/group_welcome_template/add"


@pytest.mark.django_db(transaction=True)
def test_admin_group_template_goes_to_wecom(corp, admin_client):
    data = {"name": "Join", "text": "Welcome %NICKNAME%!", "notify": "on", "kind": ""}
    response = admin_client.post(url("campaigns.groupwelcometemplate", "add"), data)
    assert response.status_code == 302, form_errors(response)
    template = GroupWelcomeTemplate.objects.get()
    remote = SandboxWelcomeTemplate.objects.get(template_id=template.template_id)
    assert remote.content == {"text": {"content": "Welcome %NICKNAME%!"}}

    data.update(kind="image", upload=SimpleUploadedFile("g.png", PNG))
    response = admin_client.post(url("campaigns.groupwelcometemplate", "change", template.pk), data)
    assert response.status_code == 302, form_errors(response)
    remote.refresh_from_db()
    assert remote.content["image"]["media_id"]

    response = admin_client.post(
        url("campaigns.groupwelcometemplate", "delete", template.pk), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not GroupWelcomeTemplate.objects.exists() and not SandboxWelcomeTemplate.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_admin_shows_wecoms_refusal_as_a_form_error(corp, admin_client):
    sandbox_faults_set(fail_next=1, fail_errcode=41055, fail_paths=[ADD])
    response = admin_client.post(
        url("campaigns.groupwelcometemplate", "add"), {"name": "Full", "text": "hi", "kind": ""}
    )
    assert "at most 100 group welcome templates" in form_errors(response)
    assert not GroupWelcomeTemplate.objects.exists()
    # Invalid input never reaches WeCom.
    calls = SandboxCall.objects.filter(path=ADD).count()
    response = admin_client.post(url("campaigns.groupwelcometemplate", "add"), {"name": "Empty", "kind": ""})
    assert "Give a text, an attachment, or both" in form_errors(response)
    assert SandboxCall.objects.filter(path=ADD).count() == calls


@pytest.mark.django_db(transaction=True)
def test_api_group_templates(corp, marketing):
    created = marketing.post(
        "/api/v1/group-welcome-templates/",
        {
            "name": "Join",
            "text": "Hi %NICKNAME%",
            "kind": "link",
            "title": "Rules",
            "link_url": "https://e.com/r",
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    template_id = created.json()["template_id"]
    remote = SandboxWelcomeTemplate.objects.get(template_id=template_id)
    assert remote.content["link"] == {"title": "Rules", "url": "https://e.com/r"}

    sandbox_faults_set(fail_next=1, fail_errcode=41055, fail_paths=[ADD])
    refused = marketing.post("/api/v1/group-welcome-templates/", {"name": "More", "text": "x"}, format="json")
    assert refused.status_code == 400 and "100" in str(refused.json())
    bad = marketing.post(
        "/api/v1/group-welcome-templates/",
        {"name": "Bad", "kind": "miniprogram", "title": "t"},
        format="json",
    )
    assert bad.status_code == 400 and "appid" in bad.json()

    pk = created.json()["id"]
    assert marketing.delete(f"/api/v1/group-welcome-templates/{pk}/").status_code == 204
    assert not SandboxWelcomeTemplate.objects.exists()


def test_responses_stay_inside_the_schema(marketing, company):
    from django.urls import reverse
    from jsonschema import Draft202012Validator

    from tests.api.test_schema import _json_schema

    message = WelcomeMessage.objects.create(name="m", text="hi {customer}")
    WelcomeAttachment.objects.create(message=message, kind="link", title="t", link_url="https://e.com/")
    template = GroupWelcomeTemplate.objects.create(name="g", text="hi", template_id="msgX")
    schema = marketing.get(reverse("api-v1:schema"), {"format": "json"}).json()
    components = _json_schema(schema["components"])
    checked = 0
    for path, pk in [
        ("/api/v1/welcome-messages/", None),
        ("/api/v1/welcome-messages/{id}/", message.pk),
        ("/api/v1/welcome-messages/{id}/preview/", message.pk),
        ("/api/v1/group-welcome-templates/", None),
        ("/api/v1/group-welcome-templates/{id}/", template.pk),
    ]:
        response = marketing.get(path.replace("{id}", str(pk)))
        assert response.status_code == 200, response.content
        ref = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"][
            "$ref"
        ]
        validator = Draft202012Validator({"$ref": ref, "components": components})
        assert not [e.message for e in validator.iter_errors(response.json())], path
        checked += 1
    assert checked == 5


def test_lists_take_the_same_queries_whatever_their_length(admin_client, company, marketing):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    follow = company.ca1.follows.first()

    def add_rows(start: int, count: int) -> None:
        for n in range(start, start + count):
            message = WelcomeMessage.objects.create(name=f"m{n}", text="hi")
            WelcomeAttachment.objects.create(
                message=message, kind="link", title="t", link_url="https://e.com/"
            )
            WelcomeSend.objects.create(
                welcome_code=f"WC{n}",
                follow=follow,
                message=message,
                status="sent",
                received_at=timezone.now(),
            )

    def queries(path: str, client) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return len(captured)

    pages = [
        (url("campaigns.welcomemessage"), admin_client),
        (url("campaigns.welcomesend"), admin_client),
        ("/api/v1/welcome-messages/", marketing),
    ]
    add_rows(0, 2)
    [queries(path, client) for path, client in pages]  # caches warmed (content types, role)
    few = [queries(path, client) for path, client in pages]
    add_rows(2, 8)
    assert [queries(path, client) for path, client in pages] == few
