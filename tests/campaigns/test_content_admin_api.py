"""The content library in the admin and the REST API: pages and forms (sensitive words named in
the errors, warnings shown), the word import, CRUD with 400s that say why, permissions per role,
the check endpoint, and query counts that do not grow with the list."""

from __future__ import annotations

import base64

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

from campaigns.models import Material, MaterialFolder, MaterialTag, Script, ScriptCategory, SensitiveWord
from campaigns.services.content import sensitive_word_save
from tests.admin.helpers import action_data, messages_of, url

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MODELS = [
    "campaigns.material",
    "campaigns.materialfolder",
    "campaigns.materialtag",
    "campaigns.script",
    "campaigns.scriptcategory",
    "campaigns.sensitiveword",
]


def words(**listed: str) -> None:
    for word, action in listed.items():
        sensitive_word_save(word=SensitiveWord(word=word, action=action))


@pytest.fixture
def admin_client(client, company):
    client.force_login(company.users.admin)
    return client


def api_as(company, who: str) -> APIClient:
    client = APIClient()
    client.force_authenticate(getattr(company.users, who))
    return client


@pytest.fixture
def marketing(company):
    return api_as(company, "marketing")


def form_errors(response) -> str:
    assert response.status_code == 200, response.status_code  # shown again with errors, not saved
    return str(response.context["adminform"].form.errors)


# --- admin ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", MODELS)
def test_admin_pages_open_with_a_hint_when_empty(admin_client, model):
    response = admin_client.get(url(model))
    assert response.status_code == 200
    assert messages_of(response)  # what the page is for and how to start
    assert admin_client.get(url(model, "add")).status_code == 200


def test_admin_lists_and_change_pages_with_rows(admin_client):
    folder = MaterialFolder.objects.create(name="Autumn")
    tag = MaterialTag.objects.create(name="新品")
    material = Material.objects.create(
        kind="link", title="Shop", link_url="https://e.com/", description="Our shop", folder=folder
    )
    material.tags.add(tag)
    script = Script.objects.create(
        category=ScriptCategory.objects.create(name="Hi"), title="Hello", text="Hi!"
    )
    script.materials.add(material)
    SensitiveWord.objects.create(word="返现")
    for model, obj in [
        ("campaigns.material", material),
        ("campaigns.materialfolder", folder),
        ("campaigns.materialtag", tag),
        ("campaigns.script", script),
        ("campaigns.scriptcategory", script.category),
        ("campaigns.sensitiveword", SensitiveWord.objects.get()),
    ]:
        assert admin_client.get(url(model)).status_code == 200
        assert admin_client.get(url(model, "change", obj.pk)).status_code == 200
    page = admin_client.get(url("campaigns.material", "change", material.pk)).content.decode()
    assert "Our shop" in page and "https://e.com/" in page  # the preview
    filtered = admin_client.get(
        url("campaigns.material"), {"kind": "link", "folder__id__exact": folder.pk, "q": "Shop"}
    )
    assert list(filtered.context["cl"].result_list) == [material]
    assert list(admin_client.get(url("campaigns.material"), {"kind": "text"}).context["cl"].result_list) == []


def test_admin_material_form_names_the_blocked_word_and_warns(admin_client, company):
    words(返现="block", 秒杀="warn")
    data = {"kind": "text", "title": "双11", "text": "下单即返现"}
    assert "返现" in form_errors(admin_client.post(url("campaigns.material", "add"), data))
    assert not Material.objects.exists()

    data["text"] = "秒杀开始"
    response = admin_client.post(url("campaigns.material", "add"), data, follow=True)
    assert any("秒杀" in m for m in messages_of(response))
    material = Material.objects.get()
    assert material.created_by == company.users.admin


def test_admin_material_with_an_uploaded_image(admin_client):
    from django.core.files.uploadedfile import SimpleUploadedFile

    tag = MaterialTag.objects.create(name="poster")
    data = {"kind": "image", "title": "Poster", "tags": [tag.pk], "upload": SimpleUploadedFile("p.png", PNG)}
    response = admin_client.post(url("campaigns.material", "add"), data)
    assert response.status_code == 302, form_errors(response)
    material = Material.objects.get()
    assert bytes(material.file_content) == PNG and list(material.tags.all()) == [tag]
    refused = admin_client.post(url("campaigns.material", "add"), {"kind": "image", "title": "No file"})
    assert "An image needs a file" in form_errors(refused)


def test_admin_script_form_names_the_blocked_word(admin_client):
    words(返现="block")
    category = ScriptCategory.objects.create(name="Greetings")
    data = {"category": category.pk, "title": "t", "text": "返现哦", "sort_order": 0}
    assert "返现" in form_errors(admin_client.post(url("campaigns.script", "add"), data))
    data["text"] = ""
    assert "a material" in form_errors(admin_client.post(url("campaigns.script", "add"), data))
    data["text"] = "欢迎"
    assert admin_client.post(url("campaigns.script", "add"), data).status_code == 302
    assert Script.objects.get().text == "欢迎"


def test_admin_welcome_message_form_names_the_blocked_word(admin_client):
    words(返现="block")
    data = {
        "name": "Hello",
        "scope": "default",
        "text": "Hi {customer}, 返现!",
        "active": "on",
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": "0",
        "attachments-MIN_NUM_FORMS": "0",
        "attachments-MAX_NUM_FORMS": "9",
    }
    assert "返现" in form_errors(admin_client.post(url("campaigns.welcomemessage", "add"), data))


def test_admin_imports_many_words_at_once_and_switches_their_action(admin_client):
    words(Spam="block")
    response = admin_client.post(
        url("campaigns.sensitiveword", "add"),
        {"words": "返现\n\n加微信\nspam\n返现", "action": "warn", "note": "list 2026"},
        follow=True,
    )
    assert any("2 word(s) added; 1 already on the list" in m for m in messages_of(response))
    assert sorted(SensitiveWord.objects.filter(action="warn").values_list("word", flat=True)) == [
        "加微信",
        "返现",
    ]
    assert "words" in form_errors(
        admin_client.post(url("campaigns.sensitiveword", "add"), {"words": " ", "action": "block"})
    )

    pks = list(SensitiveWord.objects.filter(action="warn").values_list("pk", flat=True))
    admin_client.post(url("campaigns.sensitiveword"), action_data("make_block", *pks))
    assert SensitiveWord.objects.filter(action="block").count() == 3
    from campaigns.services.content import sensitive_words_find

    assert sensitive_words_find("返现")[0] == ["返现"]  # the change is seen by the next check


def test_guides_read_the_library_but_not_the_word_list_in_the_admin(client, company):
    client.force_login(company.users.guide_a)
    assert client.get(url("campaigns.material")).status_code == 200
    assert client.get(url("campaigns.script")).status_code == 200
    assert client.get(url("campaigns.sensitiveword")).status_code == 403


# --- API: materials -------------------------------------------------------------------------------


def test_api_material_crud_with_a_file_and_filters(marketing, company):
    top = MaterialFolder.objects.create(name="Brand")
    season = MaterialFolder.objects.create(name="Autumn", parent=top)
    tag = MaterialTag.objects.create(name="新品")
    created = marketing.post(
        "/api/v1/materials/",
        {
            "kind": "image",
            "title": "Poster",
            "folder": season.pk,
            "tags": [tag.pk],
            "file_name": "p.png",
            "file_base64": base64.b64encode(PNG).decode(),
        },
        format="json",
    )
    assert created.status_code == 201, created.content
    data = created.json()
    assert data["file_size"] == len(PNG) and "file_base64" not in data and data["warnings"] == []
    assert data["created_by"] == company.users.marketing.pk
    text = marketing.post(
        "/api/v1/materials/", {"kind": "text", "title": "Hi", "text": "Hello"}, format="json"
    )
    assert text.status_code == 201, text.content

    def listed(**params):
        response = marketing.get("/api/v1/materials/", params)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert listed(folder=top.pk) == [data["id"]]  # subfolders included
    assert listed(kind="text") == [text.json()["id"]]
    assert listed(tag=tag.pk) == [data["id"]]
    assert listed(q="hello") == [text.json()["id"]]
    assert len(listed()) == 2

    changed = marketing.patch(
        f"/api/v1/materials/{data['id']}/", {"title": "Poster 2", "tags": []}, format="json"
    )
    assert changed.status_code == 200, changed.content
    assert changed.json()["tags"] == [] and bytes(Material.objects.get(pk=data["id"]).file_content) == PNG
    assert marketing.delete(f"/api/v1/materials/{data['id']}/").status_code == 204


def test_api_blocked_words_are_400s_naming_the_word_and_warnings_are_returned(marketing):
    words(返现="block", 秒杀="warn")
    refused = marketing.post(
        "/api/v1/materials/", {"kind": "text", "title": "t", "text": "返现"}, format="json"
    )
    assert refused.status_code == 400 and "返现" in str(refused.json()["text"])
    saved = marketing.post(
        "/api/v1/materials/", {"kind": "text", "title": "t", "text": "秒杀"}, format="json"
    )
    assert saved.status_code == 201 and saved.json()["warnings"] == ["秒杀"]

    category = ScriptCategory.objects.create(name="c")
    refused = marketing.post(
        "/api/v1/scripts/", {"category": category.pk, "title": "返现", "text": "x"}, format="json"
    )
    assert refused.status_code == 400 and "返现" in str(refused.json()["title"])
    refused = marketing.post("/api/v1/welcome-messages/", {"name": "m", "text": "hi 返现"}, format="json")
    assert refused.status_code == 400 and "返现" in str(refused.json()["text"])
    welcome = marketing.post("/api/v1/welcome-messages/", {"name": "m", "text": "hi 秒杀"}, format="json")
    assert welcome.status_code == 201 and welcome.json()["warnings"] == ["秒杀"]
    assert marketing.get(f"/api/v1/welcome-messages/{welcome.json()['id']}/").json()["warnings"] == []


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"kind": "gif", "title": "t"}, "kind"),
        ({"kind": "text", "title": "t", "text": ""}, "text"),
        ({"kind": "link", "title": "t"}, "link_url"),
        ({"kind": "link", "title": "t", "link_url": "nope"}, "link_url"),
        ({"kind": "image", "title": "t", "file_base64": "!!"}, "file_base64"),
        ({"kind": "image", "title": "t", "file_base64": "aGVsbG8="}, "file_name"),
        ({"kind": "text", "title": "t", "text": "x", "folder": 99999}, "folder"),
        ({"kind": "text", "title": "t", "text": "x", "tags": [99999]}, "tags"),
    ],
)
def test_api_bad_material_input_is_a_400_naming_the_field(marketing, body, field):
    response = marketing.post("/api/v1/materials/", body, format="json")
    assert response.status_code == 400, response.content
    assert field in response.json(), response.json()


@pytest.mark.parametrize(
    "params", [{"folder": "x"}, {"kind": "gif"}, {"tag": "99999999999999999999999"}, {"cursor": "zz"}]
)
def test_api_bad_filters_are_400s(marketing, params):
    assert marketing.get("/api/v1/materials/", params).status_code == 400


def test_api_folders_tags_and_categories(marketing):
    top = marketing.post("/api/v1/material-folders/", {"name": "Brand"}, format="json").json()
    child = marketing.post(
        "/api/v1/material-folders/", {"name": "Autumn", "parent": top["id"]}, format="json"
    )
    assert child.status_code == 201, child.content
    loop = marketing.patch(
        f"/api/v1/material-folders/{top['id']}/", {"parent": child.json()["id"]}, format="json"
    )
    assert loop.status_code == 400 and "parent" in loop.json()
    same = marketing.post("/api/v1/material-folders/", {"name": "Brand"}, format="json")
    assert same.status_code == 400
    assert marketing.delete(f"/api/v1/material-folders/{top['id']}/").status_code == 204
    assert MaterialFolder.objects.get().parent is None  # the child moved up

    tag = marketing.post("/api/v1/material-tags/", {"name": "新品"}, format="json")
    assert tag.status_code == 201 and tag.json()["material_count"] == 0
    assert marketing.post("/api/v1/material-tags/", {"name": "新品"}, format="json").status_code == 400

    category = marketing.post("/api/v1/script-categories/", {"name": "Greetings"}, format="json").json()
    script = marketing.post(
        "/api/v1/scripts/", {"category": category["id"], "title": "Hi", "text": "Hello!"}, format="json"
    )
    assert script.status_code == 201, script.content
    assert script.json()["category"]["name"] == "Greetings"
    refused = marketing.delete(f"/api/v1/script-categories/{category['id']}/")
    assert refused.status_code == 400 and "move or delete" in str(refused.json())


def test_api_scripts_with_materials_in_their_order(marketing):
    category = ScriptCategory.objects.create(name="c")
    material = Material.objects.create(kind="link", title="Shop", link_url="https://e.com/")
    second = marketing.post(
        "/api/v1/scripts/",
        {"category": category.pk, "title": "B", "text": "", "materials": [material.pk], "sort_order": 2},
        format="json",
    )
    assert second.status_code == 201, second.content
    assert second.json()["materials"][0]["title"] == "Shop"
    marketing.post(
        "/api/v1/scripts/",
        {"category": category.pk, "title": "A", "text": "a", "sort_order": 1},
        format="json",
    )
    listed = marketing.get("/api/v1/scripts/", {"category": category.pk}).json()["results"]
    assert [row["title"] for row in listed] == ["A", "B"]
    empty = marketing.post(
        "/api/v1/scripts/", {"category": category.pk, "title": "C", "text": ""}, format="json"
    )
    assert empty.status_code == 400 and "text" in empty.json()


# --- API: sensitive words -------------------------------------------------------------------------


def test_api_sensitive_words_crud_and_check(marketing, company):
    created = marketing.post("/api/v1/sensitive-words/", {"word": "返现", "action": "block"}, format="json")
    assert created.status_code == 201, created.content
    marketing.post("/api/v1/sensitive-words/", {"word": "秒杀", "action": "warn"}, format="json")
    duplicate = marketing.post("/api/v1/sensitive-words/", {"word": "返现 "}, format="json")
    assert duplicate.status_code == 400 and "on the list already" in str(duplicate.json())
    listed = marketing.get("/api/v1/sensitive-words/", {"action": "warn"}).json()["results"]
    assert [row["word"] for row in listed] == ["秒杀"]

    guide = api_as(company, "guide_a")
    checked = guide.post("/api/v1/sensitive-words/check/", {"text": "秒杀返现"}, format="json")
    assert checked.status_code == 200
    assert checked.json() == {"blocked": ["返现"], "warned": ["秒杀"]}
    assert guide.post("/api/v1/sensitive-words/check/", {"text": ""}, format="json").json() == {
        "blocked": [],
        "warned": [],
    }
    assert guide.post("/api/v1/sensitive-words/check/", {}, format="json").status_code == 400

    changed = marketing.patch(
        f"/api/v1/sensitive-words/{created.json()['id']}/", {"action": "warn"}, format="json"
    )
    assert changed.status_code == 200
    assert guide.post("/api/v1/sensitive-words/check/", {"text": "返现"}, format="json").json()["warned"] == [
        "返现"
    ]
    assert marketing.delete(f"/api/v1/sensitive-words/{created.json()['id']}/").status_code == 204
    assert (
        guide.post("/api/v1/sensitive-words/check/", {"text": "返现"}, format="json").json()["warned"] == []
    )


@pytest.mark.parametrize(
    ("who", "read", "write", "words_read", "check"),
    [
        ("admin", 200, 201, 200, 200),
        ("marketing", 200, 201, 200, 200),
        ("store_manager", 200, 403, 403, 200),
        ("guide_a", 200, 403, 403, 200),
        ("nobody", 403, 403, 403, 403),
    ],
)
def test_api_permissions_per_role(company, who, read, write, words_read, check):
    client = api_as(company, who)
    assert client.get("/api/v1/materials/").status_code == read
    assert client.get("/api/v1/scripts/").status_code == read
    assert client.get("/api/v1/script-categories/").status_code == read
    body = {"kind": "text", "title": f"t {who}", "text": "x"}
    assert client.post("/api/v1/materials/", body, format="json").status_code == write
    assert client.post("/api/v1/script-categories/", {"name": who}, format="json").status_code == write
    assert client.get("/api/v1/sensitive-words/").status_code == words_read
    expected_word_write = 201 if write == 201 else 403
    assert (
        client.post("/api/v1/sensitive-words/", {"word": who}, format="json").status_code
        == expected_word_write
    )
    assert client.post("/api/v1/sensitive-words/check/", {"text": "x"}, format="json").status_code == check


def test_api_guides_cannot_change_or_delete_materials(company):
    material = Material.objects.create(kind="text", title="t", text="x")
    guide = api_as(company, "guide_a")
    assert guide.get(f"/api/v1/materials/{material.pk}/").status_code == 200
    assert guide.patch(f"/api/v1/materials/{material.pk}/", {"title": "u"}, format="json").status_code == 403
    assert guide.delete(f"/api/v1/materials/{material.pk}/").status_code == 403


# --- shapes and query counts ----------------------------------------------------------------------


def test_responses_stay_inside_the_schema(marketing):
    from django.urls import reverse
    from jsonschema import Draft202012Validator

    from tests.api.test_schema import _json_schema

    folder = MaterialFolder.objects.create(name="f")
    material = Material.objects.create(kind="miniprogram", title="m", appid="wx1", page="p", folder=folder)
    material.tags.add(tag := MaterialTag.objects.create(name="t"))
    script = Script.objects.create(category=ScriptCategory.objects.create(name="c"), title="s", text="x")
    script.materials.add(material)
    word = SensitiveWord.objects.create(word="w")
    schema = marketing.get(reverse("api-v1:schema"), {"format": "json"}).json()
    components = _json_schema(schema["components"])
    checked = 0
    for path, pk in [
        ("/api/v1/materials/", None),
        ("/api/v1/materials/{id}/", material.pk),
        ("/api/v1/material-folders/", None),
        ("/api/v1/material-folders/{id}/", folder.pk),
        ("/api/v1/material-tags/{id}/", tag.pk),
        ("/api/v1/scripts/", None),
        ("/api/v1/scripts/{id}/", script.pk),
        ("/api/v1/script-categories/{id}/", script.category.pk),
        ("/api/v1/sensitive-words/", None),
        ("/api/v1/sensitive-words/{id}/", word.pk),
    ]:
        response = marketing.get(path.replace("{id}", str(pk)))
        assert response.status_code == 200, response.content
        ref = schema["paths"][path]["get"]["responses"]["200"]["content"]["application/json"]["schema"][
            "$ref"
        ]
        validator = Draft202012Validator({"$ref": ref, "components": components})
        assert not [e.message for e in validator.iter_errors(response.json())], path
        checked += 1
    assert checked == 10


def test_lists_take_the_same_queries_whatever_their_length(
    admin_client, marketing, django_assert_max_num_queries
):
    category = ScriptCategory.objects.create(name="c")
    folder = MaterialFolder.objects.create(name="f")
    tags = [MaterialTag.objects.create(name=f"t{n}") for n in range(3)]

    def add_rows(start: int, count: int) -> None:
        for n in range(start, start + count):
            material = Material.objects.create(
                kind="link", title=f"m{n}", link_url="https://e.com/", folder=folder
            )
            material.tags.set(tags)
            script = Script.objects.create(category=category, title=f"s{n}", text="x")
            script.materials.add(material)
            SensitiveWord.objects.create(word=f"w{n}")

    def queries(path: str, client) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert client.get(path).status_code == 200
        return len(captured)

    pages = [
        (url("campaigns.material"), admin_client),
        (url("campaigns.script"), admin_client),
        (url("campaigns.sensitiveword"), admin_client),
        (url("campaigns.materialfolder"), admin_client),
        ("/api/v1/materials/", marketing),
        ("/api/v1/scripts/", marketing),
        ("/api/v1/sensitive-words/", marketing),
        ("/api/v1/material-folders/", marketing),
        ("/api/v1/material-tags/", marketing),
    ]
    add_rows(0, 2)
    [queries(path, client) for path, client in pages]  # caches warmed (content types, role)
    few = [queries(path, client) for path, client in pages]
    add_rows(2, 10)
    assert [queries(path, client) for path, client in pages] == few
    with django_assert_max_num_queries(8):
        marketing.get("/api/v1/materials/")
    with django_assert_max_num_queries(8):
        marketing.get("/api/v1/scripts/")
