"""Content library services: the sensitive-word screen (block or warn, case-insensitive substrings,
cached and dropped on every change), saving materials, scripts and folders, copying a material
into another feature's attachment, and the screen on welcome messages when saved and when sent."""

from __future__ import annotations

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.models import (
    GroupWelcomeTemplate,
    Material,
    MaterialFolder,
    MaterialTag,
    Script,
    ScriptCategory,
    SensitiveWord,
    WelcomeAttachment,
    WelcomeMessage,
    WelcomeSend,
)
from campaigns.services import content
from campaigns.services.content import (
    SensitiveWordBlocked,
    material_attachment_fields,
    material_folder_delete,
    material_folder_save,
    material_save,
    script_category_delete,
    script_save,
    sensitive_word_delete,
    sensitive_word_save,
    sensitive_words_check,
    sensitive_words_find,
    sensitive_words_import,
    sensitive_words_set_action,
)
from campaigns.services.welcome import group_welcome_template_save, welcome_message_save, welcome_send
from customers.models import CustomerEvent

pytestmark = pytest.mark.django_db

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


def words(**listed: str) -> None:
    """``words(返现="block", VX="warn")``."""
    for word, action in listed.items():
        sensitive_word_save(word=SensitiveWord(word=word, action=action))


# --- the screen -----------------------------------------------------------------------------------


def test_a_blocked_word_is_an_error_naming_every_word_found():
    words(返现="block", 加微信="block", 最低价="warn")
    with pytest.raises(SensitiveWordBlocked) as raised:
        sensitive_words_check("关注有返现", "私聊加微信领取")
    message = " ".join(raised.value.messages)
    assert "“加微信”" in message and "“返现”" in message
    assert raised.value.words == ["加微信", "返现"]
    assert raised.value.code == "sensitive_word"


def test_warn_words_are_returned_and_clean_text_passes():
    words(返现="block", 最低价="warn", Guaranteed="warn")
    assert sensitive_words_check("全网最低价, GUARANTEED!") == ["Guaranteed", "最低价"]
    assert sensitive_words_check("hello", "", "欢迎光临") == []
    assert sensitive_words_check() == []


def test_matching_ignores_case_and_finds_words_inside_others():
    words(WeChat="block", he="warn", hers="warn", abc="block", b="warn")
    blocked, warned = sensitive_words_find("add me on WECHAT, ushers", "xABCx")
    assert blocked == ["WeChat", "abc"]
    assert warned == ["b", "he", "hers"]  # overlapping and nested words all found


def test_an_empty_list_lets_everything_through():
    assert sensitive_words_find("anything 返现") == ([], [])


def test_the_list_is_cached_and_dropped_on_every_change(django_assert_num_queries):
    words(返现="block")
    with pytest.raises(SensitiveWordBlocked):
        sensitive_words_check("返现")
    with django_assert_num_queries(0):  # from the cache, and the matcher built for it
        assert sensitive_words_find("返现啦", "x") == (["返现"], [])

    words(秒杀="warn")
    assert sensitive_words_check("秒杀") == ["秒杀"]

    sensitive_words_set_action(ids=SensitiveWord.objects.values_list("pk", flat=True), action="warn")
    assert sensitive_words_check("返现 秒杀") == ["秒杀", "返现"]

    sensitive_word_delete(word=SensitiveWord.objects.get(word="返现"))
    assert sensitive_words_check("返现 秒杀") == ["秒杀"]

    added, skipped = sensitive_words_import(text="返现\n\n 秒杀 \nNEW", action="block")
    assert (added, skipped) == (2, 1)
    with pytest.raises(SensitiveWordBlocked, match="NEW"):
        sensitive_words_check("brand new")


def test_a_change_made_while_the_cache_is_cold_is_seen(django_capture_on_commit_callbacks):
    words(返现="block")
    sensitive_words_check("x")  # cached
    with django_capture_on_commit_callbacks(execute=True):
        sensitive_word_save(word=SensitiveWord(word="秒杀", action="block"))
        sensitive_words_check("y")  # caches the list inside the transaction
    assert cache.get(content.CACHE_KEY) is None  # dropped again after commit
    with pytest.raises(SensitiveWordBlocked, match="秒杀"):
        sensitive_words_check("秒杀")


def test_thousands_of_words_are_matched_exactly():
    listed = [f"词{n:05d}" for n in range(5000)]
    assert sensitive_words_import(text="\n".join(listed), action="block") == (5000, 0)
    assert SensitiveWord.objects.count() == 5000
    blocked, warned = sensitive_words_find("前缀词01234后缀 和 词04999 以及 词5000")
    assert blocked == ["词01234", "词04999"] and warned == []


def test_import_ignores_case_duplicates_and_blank_input():
    words(Spam="block")
    assert sensitive_words_import(text="spam\nSPAM\nEggs\neggs", action="warn", note="bulk") == (1, 1)
    assert SensitiveWord.objects.get(word="Eggs").note == "bulk"
    with pytest.raises(ValidationError):
        sensitive_words_import(text=" \n ", action="block")
    with pytest.raises(ValidationError):
        sensitive_words_import(text="x", action="maybe")


def test_a_word_is_unique_whatever_its_case():
    words(Spam="block")
    with pytest.raises(ValidationError, match="on the list already"):
        sensitive_word_save(word=SensitiveWord(word="SPAM"))
    with pytest.raises(ValidationError):
        sensitive_word_save(word=SensitiveWord(word="   "))


# --- materials ------------------------------------------------------------------------------------


def test_material_with_a_blocked_word_is_not_saved_and_the_field_is_named(company):
    words(返现="block", 秒杀="warn")
    material = Material(kind="text", title="双11", text="下单返现")
    with pytest.raises(ValidationError) as raised:
        material_save(material=material)
    assert "返现" in " ".join(raised.value.message_dict["text"])
    assert not Material.objects.exists()

    link = Material(kind="link", title="秒杀", link_url="https://e.com/", description="返现")
    with pytest.raises(ValidationError) as raised:
        material_save(material=link)
    assert list(raised.value.message_dict) == ["description"]

    tag = MaterialTag.objects.create(name="双11")
    material = Material(kind="text", title="秒杀 today", text="come")
    assert material_save(material=material, tags=[tag], by=company.users.marketing) == ["秒杀"]
    material.refresh_from_db()
    assert list(material.tags.all()) == [tag] and material.created_by == company.users.marketing


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"kind": "text", "title": "t", "text": " "}, "text"),
        ({"kind": "text", "title": "t", "text": "字" * 1400}, "text"),
        ({"kind": "link", "title": "t"}, "link_url"),
        ({"kind": "image", "title": "t"}, "file_name"),
        ({"kind": "miniprogram", "title": "t", "appid": "wx1"}, "page"),
        ({"kind": "video", "title": "t"}, "file_name"),
        ({"kind": "text", "text": "x"}, "title"),
    ],
)
def test_materials_follow_wecoms_rules(fields, field):
    with pytest.raises(ValidationError) as raised:
        material_save(material=Material(**fields))
    assert field in raised.value.message_dict


def test_a_text_material_drops_attachment_fields_left_from_another_kind():
    material = Material(kind="link", title="t", link_url="https://e.com/", description="d")
    material_save(material=material)
    material.kind, material.text = "text", "hello"
    material_save(material=material)
    material.refresh_from_db()
    assert (material.link_url, material.description) == ("", "")


def test_material_attachment_fields_copy_into_a_welcome_attachment():
    material = Material(kind="image", title="Poster", file_name="p.png", file_content=PNG, file_size=len(PNG))
    material_save(material=material)
    loaded = Material.objects.defer("file_content").get(pk=material.pk)
    fields = material_attachment_fields(loaded)
    assert fields["file_content"] == PNG and fields["kind"] == "image" and fields["title"] == "Poster"
    assert set(fields) == {
        "kind",
        "title",
        "link_url",
        "description",
        "pic_url",
        "appid",
        "page",
        "file_name",
        "file_content",
        "file_size",
        "media_id",
        "media_uploaded_at",
    }
    message = WelcomeMessage.objects.create(name="m", text="hi")
    copy = WelcomeAttachment(message=message, **fields)
    copy.full_clean()
    copy.save()
    assert bytes(WelcomeAttachment.objects.get().file_content) == PNG

    text = Material(kind="text", title="t", text="x")
    material_save(material=text)
    with pytest.raises(ValueError):
        material_attachment_fields(text)


# --- folders --------------------------------------------------------------------------------------


def test_folders_nest_without_loops_and_deleting_moves_content_up():
    top = material_folder_save(folder=MaterialFolder(name="Brand"))
    season = material_folder_save(folder=MaterialFolder(name="Autumn", parent=top))
    campaign = material_folder_save(folder=MaterialFolder(name="11.11", parent=season))
    top.parent = campaign
    with pytest.raises(ValidationError, match="its own subfolders"):
        material_folder_save(folder=top)
    top.parent = None
    with pytest.raises(ValidationError):
        material_folder_save(folder=MaterialFolder(name="Brand"))  # top-level names are unique too

    level = campaign
    for depth in range(2):
        level = material_folder_save(folder=MaterialFolder(name=f"d{depth}", parent=level))
    with pytest.raises(ValidationError, match="at most 5 levels"):
        material_folder_save(folder=MaterialFolder(name="too deep", parent=level))

    material = Material(kind="text", title="t", text="x", folder=season)
    material_save(material=material)
    material_folder_delete(folder=MaterialFolder.objects.get(pk=season.pk))
    material.refresh_from_db()
    campaign.refresh_from_db()
    assert material.folder == top and campaign.parent == top


# --- scripts --------------------------------------------------------------------------------------


def test_scripts_are_screened_and_need_a_text_or_a_material(company):
    words(返现="block", 秒杀="warn")
    category = ScriptCategory.objects.create(name="Greetings")
    with pytest.raises(ValidationError) as raised:
        script_save(script=Script(category=category, title="t", text="有返现"))
    assert "返现" in " ".join(raised.value.message_dict["text"])
    with pytest.raises(ValidationError, match="a material"):
        script_save(script=Script(category=category, title="t", text=""), materials=[])

    material = Material(kind="link", title="Shop", link_url="https://e.com/")
    material_save(material=material)
    script = Script(category=category, title="秒杀", text="")
    assert script_save(script=script, materials=[material], by=company.users.admin) == ["秒杀"]
    assert list(script.materials.all()) == [material]

    with pytest.raises(ValidationError, match="move or delete them first"):
        script_category_delete(category=category)
    assert ScriptCategory.objects.exists()


# --- welcome messages -----------------------------------------------------------------------------


def test_welcome_messages_are_screened_when_saved():
    words(返现="block", 秒杀="warn")
    with pytest.raises(ValidationError) as raised:
        welcome_message_save(message=WelcomeMessage(name="m", text="Hi {customer}, 返现!"))
    assert "返现" in " ".join(raised.value.message_dict["text"])

    attachment = WelcomeAttachment(kind="link", title="返现活动", link_url="https://e.com/")
    with pytest.raises(ValidationError) as raised:
        welcome_message_save(message=WelcomeMessage(name="m", text="hi"), attachments=[attachment])
    assert "返现" in " ".join(raised.value.message_dict["attachments"])
    assert not WelcomeMessage.objects.exists()

    message = welcome_message_save(message=WelcomeMessage(name="m", text="秒杀 {customer}"))
    assert message.pk and message.sensitive_warnings == ["秒杀"]


def test_group_welcome_templates_are_screened_before_wecom():
    words(返现="block")
    with pytest.raises(ValidationError) as raised:
        group_welcome_template_save(template=GroupWelcomeTemplate(name="g", text="进群返现 %NICKNAME%"))
    assert "返现" in " ".join(raised.value.message_dict["text"])
    assert not GroupWelcomeTemplate.objects.exists()


def test_a_word_listed_after_saving_stops_the_welcome_send(company):
    message = welcome_message_save(message=WelcomeMessage(name="m", text="Hi {customer}, 扫码返现"))
    follow = company.ca1.follows.get()
    row = WelcomeSend.objects.create(
        welcome_code="WC1",
        follow=follow,
        message=message,
        content={"text": "Hi 张三, 扫码返现", "attachments": []},
        received_at=timezone.now(),
    )
    words(返现="block")

    assert welcome_send(send_id=row.pk) is None
    row.refresh_from_db()
    assert row.status == WelcomeSend.Status.FAILED and row.attempts == 1
    assert "返现" in row.error
    event = CustomerEvent.objects.get(type=CustomerEvent.Type.WELCOME_FAILED)
    assert "返现" in event.payload["error"]
    assert welcome_send(send_id=row.pk) is None  # finished: a redelivered task does nothing


def test_a_blocked_word_in_an_attachment_title_stops_the_send(company):
    message = WelcomeMessage.objects.create(name="m", text="hi")
    row = WelcomeSend.objects.create(
        welcome_code="WC2",
        follow=company.ca1.follows.get(),
        message=message,
        content={
            "text": "hi",
            "attachments": [{"kind": "link", "title": "限时返现", "url": "", "description": ""}],
        },
        received_at=timezone.now(),
    )
    words(返现="block")
    welcome_send(send_id=row.pk)
    row.refresh_from_db()
    assert row.status == WelcomeSend.Status.FAILED and "返现" in row.error
