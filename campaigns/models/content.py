"""Content library (素材 / 话术, PRODUCT.md D1): materials in folders with tags, scripts in
categories, and the sensitive-word list checked when content is saved and before it is sent.

A :class:`Material` is one reusable piece of outbound content: a text, or one attachment of the
kinds WeCom sends (image, link, mini-program, file, video) with the same fields and rules as a
welcome message's attachment (:class:`~campaigns.models.welcome.AttachmentContent`), so that
broadcasts, moments and SOP steps can copy it into their own attachments. A :class:`Script` is a
quick reply (话术) guides send from the sidebar: a text, optionally with materials.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models.functions import Lower
from django.utils.translation import gettext_lazy as _

from .welcome import TEXT_MAX_BYTES, AttachmentContent, AttachmentKind

__all__ = [
    "Material",
    "MaterialFolder",
    "MaterialKind",
    "MaterialTag",
    "Script",
    "ScriptCategory",
    "SensitiveWord",
]

#: How deep folders may nest: deep enough for "brand / season / campaign", shallow enough to browse.
FOLDER_MAX_DEPTH = 5


class MaterialKind(models.TextChoices):
    TEXT = "text", _("text")
    IMAGE = AttachmentKind.IMAGE.value, AttachmentKind.IMAGE.label
    LINK = AttachmentKind.LINK.value, AttachmentKind.LINK.label
    MINIPROGRAM = AttachmentKind.MINIPROGRAM.value, AttachmentKind.MINIPROGRAM.label
    FILE = AttachmentKind.FILE.value, AttachmentKind.FILE.label
    VIDEO = AttachmentKind.VIDEO.value, AttachmentKind.VIDEO.label


class MaterialFolder(models.Model):
    """A folder of the material library; folders nest (``parent``) up to five levels."""

    name = models.CharField(_("name"), max_length=100)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent folder"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="children",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("material folder")
        verbose_name_plural = _("material folders")
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="camp_folder_parent_name_uniq"),
            # NULL parents are distinct to SQL: top-level names need their own constraint.
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(parent__isnull=True), name="camp_folder_root_name_uniq"
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def ancestors(self) -> list[MaterialFolder]:
        """The folders above this one, nearest first (one query per level; folders are few)."""
        found, parent = [], self.parent
        while parent is not None and len(found) <= FOLDER_MAX_DEPTH:
            found.append(parent)
            parent = parent.parent
        return found

    def clean(self) -> None:
        if self.parent_id is None:
            return
        if self.pk and self.parent_id == self.pk:
            raise ValidationError({"parent": _("A folder cannot be inside itself.")})
        above = self.ancestors()
        if self.pk and any(folder.pk == self.pk for folder in above):
            raise ValidationError({"parent": _("A folder cannot be inside one of its own subfolders.")})
        if len(above) + 1 > FOLDER_MAX_DEPTH:
            raise ValidationError(
                {"parent": _("Folders nest at most %(depth)s levels deep.") % {"depth": FOLDER_MAX_DEPTH}}
            )


class MaterialTag(models.Model):
    """A label of the content library (our own, not a WeCom customer tag): "双11", "新品"…"""

    name = models.CharField(_("name"), max_length=50, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("material tag")
        verbose_name_plural = _("material tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class Material(AttachmentContent):
    """One piece of the content library: a text, or one attachment WeCom can send.

    Non-text kinds follow the attachment rules of WECOM.md §7.1 (``attachment_errors``); their
    file is kept on the row, like a welcome attachment's, so any feature can copy it
    (``campaigns.services.content.material_attachment_fields``). ``title`` names the material in
    the library (and is a link's or mini-program's title); ``text`` is the text of a text
    material, or a note sent along with an attachment.
    """

    kind = models.CharField(_("type"), max_length=16, choices=MaterialKind.choices, default=MaterialKind.TEXT)
    title = models.CharField(
        _("title"), max_length=128, help_text=_("Links: at most 128 bytes; mini-programs: 64.")
    )
    text = models.TextField(_("text"), blank=True, help_text=_("Text materials: at most 4000 bytes."))
    folder = models.ForeignKey(
        MaterialFolder,
        verbose_name=_("folder"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="materials",
    )
    tags = models.ManyToManyField(MaterialTag, verbose_name=_("tags"), blank=True, related_name="materials")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("material")
        verbose_name_plural = _("materials")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["folder", "-id"], name="camp_material_folder_idx"),
            models.Index(fields=["kind", "-id"], name="camp_material_kind_idx"),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def needs_media(self) -> bool:
        return self.kind != MaterialKind.TEXT and super().needs_media

    def clean(self) -> None:
        errors: dict[str, list] = {}
        if self.kind == MaterialKind.TEXT:
            if not self.text.strip():
                errors["text"] = [_("A text material needs its text.")]
        else:
            errors = self.attachment_errors()
        if len(self.text.encode()) > TEXT_MAX_BYTES:
            errors.setdefault("text", []).append(
                _("The text is at most 4000 bytes (about 1300 Chinese characters).")
            )
        if errors:
            raise ValidationError(errors)


class ScriptCategory(models.Model):
    """A category of quick replies (话术分类), shown in ``sort_order``."""

    name = models.CharField(_("name"), max_length=100, unique=True)
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("script category")
        verbose_name_plural = _("script categories")
        ordering = ["sort_order", "name"]

    def __str__(self) -> str:
        return self.name


class Script(models.Model):
    """A quick reply (话术) guides send from the sidebar: a text, optionally with materials."""

    category = models.ForeignKey(
        ScriptCategory, verbose_name=_("category"), on_delete=models.PROTECT, related_name="scripts"
    )
    title = models.CharField(_("title"), max_length=100)
    text = models.TextField(_("text"), blank=True, help_text=_("At most 4000 bytes."))
    materials = models.ManyToManyField(
        Material,
        verbose_name=_("materials"),
        blank=True,
        related_name="scripts",
        help_text=_("Sent along with the text."),
    )
    sort_order = models.PositiveSmallIntegerField(_("order"), default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("script")
        verbose_name_plural = _("scripts")
        ordering = ["category__sort_order", "sort_order", "id"]
        indexes = [models.Index(fields=["category", "sort_order", "id"], name="camp_script_cat_idx")]

    def __str__(self) -> str:
        return self.title

    def clean(self) -> None:
        if len(self.text.encode()) > TEXT_MAX_BYTES:
            raise ValidationError(
                {"text": _("The text is at most 4000 bytes (about 1300 Chinese characters).")}
            )


class SensitiveWord(models.Model):
    """A word outbound content must not hold (``block``) or should be looked at twice (``warn``).

    Matched as a case-insensitive substring of every text, title and description, when content is
    saved and again right before it is sent (``campaigns.services.content``).
    """

    class Action(models.TextChoices):
        BLOCK = "block", _("block")
        WARN = "warn", _("warn")

    word = models.CharField(_("word"), max_length=100)
    action = models.CharField(_("action"), max_length=8, choices=Action.choices, default=Action.BLOCK)
    note = models.CharField(_("note"), max_length=200, blank=True, help_text=_("Why it is on the list."))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("sensitive word")
        verbose_name_plural = _("sensitive words")
        ordering = ["word"]
        constraints = [
            models.UniqueConstraint(
                Lower("word"),
                name="camp_sensitiveword_word_uniq",
                violation_error_message=_("This word is on the list already."),
            ),
        ]

    def __str__(self) -> str:
        return self.word

    def clean(self) -> None:
        self.word = (self.word or "").strip()
        if not self.word:
            raise ValidationError({"word": _("Give the word.")})
