"""Admin of the content library: folders, tags, materials, quick-reply scripts and the
sensitive-word list.

Materials and scripts are screened for sensitive words as form errors naming the word on the field
that holds it; warn-only words are saved and shown as a warning. Sensitive words are added many at
once (one per line) on the add page; changes to the list take effect at the next check, everywhere.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils.html import format_html, format_html_join
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.decorators import action, display

from scrm.admin import ScrmModelAdmin

from ..models import Material, MaterialFolder, MaterialTag, Script, ScriptCategory, SensitiveWord
from ..models.content import MaterialKind
from ..selectors.content import (
    material_folder_list,
    material_list,
    material_tag_list,
    script_category_list,
    script_list,
    sensitive_word_list,
)
from ..services.content import (
    material_delete,
    material_folder_delete,
    material_folder_save,
    material_save,
    material_tag_save,
    script_category_save,
    script_save,
    sensitive_word_delete,
    sensitive_word_save,
    sensitive_words_delete,
    sensitive_words_import,
    sensitive_words_screen,
    sensitive_words_set_action,
    sensitive_words_warning,
)
from .welcome import URL_FIELDS, AttachmentFileForm, url_https


class EmptyStateMixin:
    """On an empty, unfiltered list, say what the page is for and how to start."""

    empty_hint = ""

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET" and not request.GET and not self.get_queryset(request).exists():
            self.message_user(request, self.empty_hint, messages.INFO)
        return super().changelist_view(request, extra_context)


class SensitiveScreenMixin:
    """A model form whose texts are screened for sensitive words: a blocked word is an error on
    the field holding it; warn-only words are kept for the admin to show after saving."""

    screened_fields: tuple[str, ...] = ()
    sensitive_warnings: list[str]

    def clean(self):
        cleaned = super().clean()
        self.sensitive_warnings = []
        try:
            self.sensitive_warnings = sensitive_words_screen(
                {name: cleaned.get(name) or "" for name in self.screened_fields if name in self.fields}
            )
        except ValidationError as error:
            for field, problems in error.message_dict.items():
                self.add_error(field, problems)
        return cleaned


def warn_if_needed(model_admin, request, warnings) -> None:
    if warnings:
        model_admin.message_user(request, sensitive_words_warning(warnings), messages.WARNING)


# --- folders and tags -----------------------------------------------------------------------------


@admin.register(MaterialFolder)
class MaterialFolderAdmin(EmptyStateMixin, ScrmModelAdmin):
    list_display = ("name", "parent", "material_count", "created_at")
    list_filter = (("parent", admin.RelatedOnlyFieldListFilter),)
    search_fields = ("name",)
    autocomplete_fields = ("parent",)
    fields = ("name", "parent")
    empty_hint = _(
        "No folders yet. Folders hold the materials of the library and may nest (brand / season / "
        "campaign); a material may also stay outside any folder."
    )

    def get_queryset(self, request):
        return material_folder_list()

    def save_model(self, request, obj, form, change):
        material_folder_save(folder=obj)

    def delete_model(self, request, obj):
        material_folder_delete(folder=obj)

    def delete_queryset(self, request, queryset):
        for folder in queryset.order_by("-id"):  # a handful; each moves its content up
            if MaterialFolder.objects.filter(pk=folder.pk).exists():
                material_folder_delete(folder=MaterialFolder.objects.get(pk=folder.pk))

    @display(description=_("materials"), ordering="material_count")
    def material_count(self, obj):
        return obj.material_count


@admin.register(MaterialTag)
class MaterialTagAdmin(EmptyStateMixin, ScrmModelAdmin):
    list_display = ("name", "material_count", "created_at")
    search_fields = ("name",)
    fields = ("name",)
    empty_hint = _("No material tags yet. Tags label materials across folders (双11, 新品…) for searching.")

    def get_queryset(self, request):
        return material_tag_list()

    def save_model(self, request, obj, form, change):
        material_tag_save(tag=obj)

    @display(description=_("materials"), ordering="material_count")
    def material_count(self, obj):
        return obj.material_count


# --- materials ------------------------------------------------------------------------------------


class MaterialForm(SensitiveScreenMixin, AttachmentFileForm):
    screened_fields = ("title", "text", "description")

    class Meta:
        model = Material
        formfield_callback = url_https
        fields = [
            "kind",
            "title",
            "text",
            "folder",
            "tags",
            "link_url",
            "description",
            "pic_url",
            "appid",
            "page",
        ]
        widgets = {"text": forms.Textarea(attrs={"rows": 5})}


def material_preview_html(material: Material):
    """What a customer would see of ``material``, for the list and the change page."""
    if material.kind == MaterialKind.TEXT:
        return format_html(
            '<div style="white-space:pre-wrap;max-width:32rem">{}</div>', Truncator(material.text).chars(300)
        )
    parts = [format_html("<strong>{}</strong> {}", material.get_kind_display(), material.title)]
    if material.kind == MaterialKind.IMAGE and material.pic_url:
        parts.append(
            format_html('<img src="{}" alt="" style="max-height:6rem;max-width:12rem">', material.pic_url)
        )
    if material.description:
        parts.append(format_html('<span style="color:#666">{}</span>', material.description))
    if material.link_url:
        parts.append(format_html('<a href="{0}" rel="noopener" target="_blank">{0}</a>', material.link_url))
    if material.appid:
        parts.append(format_html("{} · {}", material.appid, material.page))
    if material.file_size:
        parts.append(format_html("{} ({} B)", material.file_name, f"{material.file_size:,}"))
    if material.text:
        parts.append(
            format_html('<span style="white-space:pre-wrap">{}</span>', Truncator(material.text).chars(200))
        )
    return format_html_join("", "<div>{}</div>", ((part,) for part in parts))


@admin.register(Material)
class MaterialAdmin(EmptyStateMixin, ScrmModelAdmin):
    form = MaterialForm
    formfield_overrides = URL_FIELDS
    list_display = ("title", "kind", "folder", "tag_list", "short_preview", "updated_at")
    list_filter = (
        "kind",
        ("folder", admin.RelatedOnlyFieldListFilter),
        ("tags", admin.RelatedOnlyFieldListFilter),
    )
    list_select_related = ("folder",)
    search_fields = ("title", "text", "description")
    search_help_text = _("Title, text or description.")
    autocomplete_fields = ("folder", "tags")
    readonly_fields = ("stored", "preview", "created_by", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("kind", "title", "text", "folder", "tags")}),
        (
            _("Attachment (all types but text)"),
            {"fields": ("link_url", "description", "pic_url", ("appid", "page"), "upload", "stored")},
        ),
        (_("Preview"), {"fields": ("preview",)}),
        (_("History"), {"fields": ("created_by", "created_at", "updated_at")}),
    )
    empty_hint = _(
        "The library is empty. Add texts, images, links, mini-program cards, files and videos here "
        "once: broadcasts, moments, SOP steps and guides' quick replies reuse them."
    )

    def get_queryset(self, request):
        return material_list()

    def get_list_prefetch_related(self, request):
        return ()  # tags come with the selector's prefetch

    def save_model(self, request, obj, form, change):
        warnings = material_save(material=obj, tags=form.cleaned_data.get("tags"), by=request.user)
        warn_if_needed(self, request, warnings)

    def delete_model(self, request, obj):
        material_delete(material=obj)

    @display(description=_("tags"))
    def tag_list(self, obj):
        return ", ".join(tag.name for tag in obj.tags.all())

    @display(description=_("content"))
    def short_preview(self, obj):
        if obj.kind == MaterialKind.TEXT:
            return Truncator(obj.text).chars(60)
        return Truncator(obj.link_url or obj.file_name or obj.pic_url or obj.description).chars(60)

    @display(description=_("as the customer sees it"))
    def preview(self, obj):
        if not obj.pk:
            return _("Save the material to see its preview.")
        return material_preview_html(obj)

    @display(description=_("stored file"))
    def stored(self, obj):
        if not obj.pk or not obj.file_size:
            return "—"
        return f"{obj.file_name} ({obj.file_size:,} B)"


# --- scripts --------------------------------------------------------------------------------------


@admin.register(ScriptCategory)
class ScriptCategoryAdmin(EmptyStateMixin, ScrmModelAdmin):
    list_display = ("name", "sort_order", "script_count")
    list_editable = ("sort_order",)
    search_fields = ("name",)
    fields = ("name", "sort_order")
    empty_hint = _(
        "No script categories yet. Categories group the quick replies guides pick from in the sidebar."
    )

    def get_queryset(self, request):
        return script_category_list()

    def save_model(self, request, obj, form, change):
        script_category_save(category=obj)

    @display(description=_("scripts"), ordering="script_count")
    def script_count(self, obj):
        return obj.script_count


class ScriptForm(SensitiveScreenMixin, forms.ModelForm):
    screened_fields = ("title", "text")

    class Meta:
        model = Script
        fields = ["category", "title", "text", "materials", "sort_order"]
        widgets = {"text": forms.Textarea(attrs={"rows": 6})}

    def clean(self):
        cleaned = super().clean()
        if not (cleaned.get("text") or "").strip() and not cleaned.get("materials"):
            self.add_error("text", _("Give a text, a material, or both."))
        return cleaned


@admin.register(Script)
class ScriptAdmin(EmptyStateMixin, ScrmModelAdmin):
    form = ScriptForm
    list_display = ("title", "category", "short_text", "material_count", "sort_order", "updated_at")
    list_filter = (("category", admin.RelatedOnlyFieldListFilter),)
    list_select_related = ("category",)
    search_fields = ("title", "text")
    autocomplete_fields = ("category", "materials")
    readonly_fields = ("created_by", "created_at", "updated_at")
    fieldsets = (
        (None, {"fields": ("category", "title", "text", "materials", "sort_order")}),
        (_("History"), {"fields": ("created_by", "created_at", "updated_at")}),
    )
    empty_hint = _(
        "No quick replies yet. Scripts (话术) are the answers guides send with one tap: "
        "create a category first, then its scripts."
    )

    def get_queryset(self, request):
        return script_list()

    def save_model(self, request, obj, form, change):
        warnings = script_save(script=obj, materials=form.cleaned_data.get("materials"), by=request.user)
        warn_if_needed(self, request, warnings)

    @display(description=_("text"))
    def short_text(self, obj):
        return Truncator(obj.text).chars(60)

    @display(description=_("materials"))
    def material_count(self, obj):
        return len(obj.materials.all())


# --- sensitive words ------------------------------------------------------------------------------


class SensitiveWordImportForm(forms.ModelForm):
    """The add page: any number of words, one per line, with one action and note for them all."""

    words = forms.CharField(
        label=_("words"),
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text=_(
            "One word per line; blank lines are ignored and words already on the list are left as "
            "they are. Matching ignores case and finds the word inside longer text."
        ),
    )

    class Meta:
        model = SensitiveWord
        fields = ["action", "note"]

    def clean_words(self):
        words = [line.strip() for line in self.cleaned_data["words"].splitlines() if line.strip()]
        if not words:
            raise ValidationError(_("Give at least one word, one per line."))
        return "\n".join(words)

    def _post_clean(self):
        pass  # the words are validated above; the instance is only a carrier for the import


class SensitiveWordForm(forms.ModelForm):
    class Meta:
        model = SensitiveWord
        fields = ["word", "action", "note"]


@admin.register(SensitiveWord)
class SensitiveWordAdmin(EmptyStateMixin, ScrmModelAdmin):
    form = SensitiveWordForm
    add_form = SensitiveWordImportForm
    list_display = ("word", "action", "note", "created_at")
    list_filter = ("action",)
    search_fields = ("word",)
    actions = ("make_block", "make_warn")
    empty_hint = _(
        "No sensitive words yet. Add words (many at once, one per line) that outbound content must "
        "not hold (block) or that deserve a second look (warn); materials, scripts and welcome "
        "messages are checked when saved and again before they are sent."
    )

    def get_queryset(self, request):
        return sensitive_word_list()

    def get_form(self, request, obj=None, change=False, **kwargs):
        if obj is None:
            kwargs["form"] = self.add_form
        return super().get_form(request, obj, change=change, **kwargs)

    def get_fields(self, request, obj=None):
        return ["words", "action", "note"] if obj is None else ["word", "action", "note"]

    def save_model(self, request, obj, form, change):
        if change:
            sensitive_word_save(word=obj)
            return
        added, skipped = sensitive_words_import(
            text=form.cleaned_data["words"],
            action=form.cleaned_data["action"],
            note=form.cleaned_data.get("note") or "",
        )
        obj._imported = (added, skipped)

    def save_related(self, request, form, formsets, change):
        if change:
            super().save_related(request, form, formsets, change)

    def log_addition(self, request, obj, message):
        if obj.pk is not None:
            return super().log_addition(request, obj, message)
        return None  # an import of many words: each one is listed with its date

    def response_add(self, request, obj, post_url_continue=None):
        added, skipped = getattr(obj, "_imported", (0, 0))
        self.message_user(
            request,
            gettext("%(added)s word(s) added; %(skipped)s already on the list.")
            % {"added": added, "skipped": skipped},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(reverse("admin:campaigns_sensitiveword_changelist"))

    def delete_model(self, request, obj):
        sensitive_word_delete(word=obj)

    def delete_queryset(self, request, queryset):
        sensitive_words_delete(ids=queryset.values_list("pk", flat=True))

    @action(description=_("Block the selected words"), permissions=["change"])
    def make_block(self, request, queryset):
        changed = sensitive_words_set_action(ids=queryset.values_list("pk", flat=True), action="block")
        self.message_user(
            request, gettext("%(count)s word(s) now block.") % {"count": changed}, messages.SUCCESS
        )

    @action(description=_("Only warn about the selected words"), permissions=["change"])
    def make_warn(self, request, queryset):
        changed = sensitive_words_set_action(ids=queryset.values_list("pk", flat=True), action="warn")
        self.message_user(
            request, gettext("%(count)s word(s) now only warn.") % {"count": changed}, messages.SUCCESS
        )
