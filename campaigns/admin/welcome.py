"""Admin of welcome messages, their send record and group welcome templates.

Welcome messages are edited with their attachments inline and checked against WeCom's limits as
form errors; the change page shows a preview with sample names. The send record is read-only, for
support. Group welcome templates are written to WeCom when saved: WeCom's refusal comes back as a
form error, and no transaction is held open across the WeCom request.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.utils import unquote
from django.core.exceptions import ValidationError
from django.db import models
from django.http import HttpResponseRedirect
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils.text import Truncator
from django.utils.translation import gettext_lazy as _
from unfold.admin import StackedInline
from unfold.decorators import display

from scrm.admin import ReadOnlyAdminMixin, ScrmModelAdmin

from ..models import GroupWelcomeTemplate, WelcomeAttachment, WelcomeMessage, WelcomeSend
from ..models.welcome import MAX_ATTACHMENTS, WELCOME_PLACEHOLDERS
from ..selectors.welcome import group_welcome_template_list, welcome_message_list, welcome_send_list
from ..services.content import sensitive_words_screen, sensitive_words_warning
from ..services.welcome import (
    group_welcome_template_delete,
    group_welcome_template_save,
    welcome_message_save,
    welcome_preview,
)

ATTACHMENT_MODEL_FIELDS = ["title", "link_url", "description", "pic_url", "appid", "page"]
ATTACHMENT_FIELDS = ("title", "link_url", "description", "pic_url", ("appid", "page"), "upload", "stored")
#: Links without a scheme are taken as https (WeCom's pages are).
URL_FIELDS = {models.URLField: {"assume_scheme": "https"}}


def url_https(field, **kwargs):
    """Model form fields with links taken as https when written without a scheme."""
    if isinstance(field, models.URLField):
        kwargs.setdefault("assume_scheme", "https")
    return field.formfield(**kwargs)


#: The largest file WeCom takes as temporary media (a file attachment); the model checks per kind.
UPLOAD_MAX_BYTES = 20 << 20


class AttachmentFileForm(forms.ModelForm):
    """An attachment with an optional new file: its bytes are kept on the row (any worker can
    upload them to WeCom again) and its cached ``media_id`` is dropped."""

    upload = forms.FileField(
        label=_("file"),
        required=False,
        help_text=_("Images jpg/png and videos mp4 up to 10 MB, files up to 20 MB; a mini-program's cover."),
    )

    def clean_upload(self):
        upload = self.cleaned_data.get("upload")
        if upload and upload.size > UPLOAD_MAX_BYTES:
            raise ValidationError(_("At most 20 MB."))
        return upload

    def _post_clean(self) -> None:
        upload = self.cleaned_data.get("upload")
        if upload:
            self.instance.file_name = upload.name[:255]
            self.instance.file_content = upload.read()
            self.instance.file_size = len(self.instance.file_content)
            self.instance.media_id = ""
            self.instance.media_uploaded_at = None
        super()._post_clean()

    def _update_errors(self, errors: ValidationError) -> None:
        # The model names the stored file's field; the person sees the upload field.
        if hasattr(errors, "error_dict") and "file_name" in errors.error_dict:
            errors.error_dict.setdefault("upload", []).extend(errors.error_dict.pop("file_name"))
        super()._update_errors(errors)


def sensitive_words_form_screen(form: forms.Form, names: tuple[str, ...]) -> list[str]:
    """Screen the form's ``names`` fields: a blocked word becomes an error on its field; returns
    the warn-only words."""
    try:
        return sensitive_words_screen({name: form.cleaned_data.get(name) or "" for name in names})
    except ValidationError as error:
        form.add_error(None, error)
        return []


class WelcomeAttachmentForm(AttachmentFileForm):
    class Meta:
        model = WelcomeAttachment
        formfield_callback = url_https
        fields = ["kind", *ATTACHMENT_MODEL_FIELDS, "order"]

    def clean(self):
        cleaned = super().clean()
        sensitive_words_form_screen(self, ("title", "description"))
        return cleaned


class AttachmentFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        if len(kept) > MAX_ATTACHMENTS:
            raise ValidationError(_("At most 9 attachments."))
        if not kept and not (self.instance.text or "").strip():
            raise ValidationError(_("Give a text, an attachment, or both."))


class AttachmentInline(StackedInline):
    """A message's attachments in WeCom's shapes (≤9), as every message admin shows them: welcome
    messages, broadcasts, moments and SOP steps. Subclasses name the model, form and formset, and
    the field that orders them."""

    formfield_overrides = URL_FIELDS
    formset = AttachmentFormSet
    extra = 0
    max_num = MAX_ATTACHMENTS
    order_field = "position"
    readonly_fields = ("stored",)

    def get_fields(self, request, obj=None):
        return self.fields or (("kind", self.order_field), *ATTACHMENT_FIELDS)

    def get_queryset(self, request):
        return super().get_queryset(request).defer("file_content")

    @display(description=_("stored file"))
    def stored(self, obj):
        if not obj.pk or not obj.file_size:
            return "—"
        return f"{obj.file_name} ({obj.file_size:,} B)"


def formsets_attachments(formsets, *, order_field: str = "position") -> list:
    """The attachments the inline formsets keep, in their order and unsaved, for a service that
    saves them with their message; each formset records what ``formset.save()`` would have, for
    the admin's change message."""
    attachments = []
    for formset in formsets:
        kept = [f for f in formset.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        kept.sort(key=lambda f: f.cleaned_data.get(order_field) or 0)
        attachments += [f.instance for f in kept]
        formset.new_objects = [f.instance for f in kept if f.instance.pk is None]
        formset.changed_objects = [
            (f.instance, f.changed_data) for f in kept if f.instance.pk is not None and f.has_changed()
        ]
        formset.deleted_objects = [
            f.instance for f in formset.forms if f.cleaned_data.get("DELETE") and f.instance.pk is not None
        ]
    return attachments


class WelcomeAttachmentInline(AttachmentInline):
    model = WelcomeAttachment
    form = WelcomeAttachmentForm
    order_field = "order"


class WelcomeMessageForm(forms.ModelForm):
    class Meta:
        model = WelcomeMessage
        fields = ["name", "scope", "department", "live_code", "text", "window_start", "window_end", "active"]
        widgets = {"text": forms.Textarea(attrs={"rows": 6})}

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        names = ", ".join(f"{{{name}}} ({label})" for name, label in WELCOME_PLACEHOLDERS.items())
        self.fields["text"].help_text = _("Placeholders: %(names)s. At most 4000 bytes once filled in.") % {
            "names": names
        }

    def clean(self):
        cleaned = super().clean()
        sensitive_words_form_screen(self, ("text",))
        return cleaned


@admin.register(WelcomeMessage)
class WelcomeMessageAdmin(ScrmModelAdmin):
    form = WelcomeMessageForm
    formfield_overrides = URL_FIELDS
    inlines = [WelcomeAttachmentInline]
    list_display = ("name", "scope", "target", "window", "active", "attachment_count", "updated_at")
    list_filter = ("scope", "active")
    search_fields = ("name",)
    autocomplete_fields = ("department",)
    raw_id_fields = ("live_code",)
    readonly_fields = ("preview",)
    fieldsets = (
        (None, {"fields": ("name", "active", "text")}),
        (_("Applies to"), {"fields": ("scope", "department", "live_code", ("window_start", "window_end"))}),
        (_("Preview"), {"fields": ("preview",)}),
    )

    def get_queryset(self, request):
        return welcome_message_list()

    def save_model(self, request, obj, form, change):
        welcome_message_save(message=obj)  # attachments follow in save_related, same transaction
        if obj.sensitive_warnings:
            self.message_user(request, sensitive_words_warning(obj.sensitive_warnings), messages.WARNING)

    @display(description=_("for"))
    def target(self, obj):
        if obj.scope == WelcomeMessage.Scope.DEPARTMENT:
            return obj.department
        if obj.scope == WelcomeMessage.Scope.LIVE_CODE:
            return obj.live_code
        return _("everyone")

    @display(description=_("time window"))
    def window(self, obj):
        if not obj.has_window:
            return _("all day")
        return f"{obj.window_start:%H:%M}–{obj.window_end:%H:%M}"

    @display(description=_("attachments"))
    def attachment_count(self, obj):
        return len(obj.attachments.all())

    @display(description=_("as the customer sees it"))
    def preview(self, obj):
        if not obj.pk:
            return _("Save the message to see its preview.")
        return render_to_string(
            "admin/campaigns/welcomemessage/preview.html", {"preview": welcome_preview(message=obj)}
        )


@admin.register(WelcomeSend)
class WelcomeSendAdmin(ReadOnlyAdminMixin, ScrmModelAdmin):
    list_display = (
        "id",
        "customer",
        "staff",
        "message",
        "status",
        "attempts",
        "short_error",
        "received_at",
        "finished_at",
    )
    list_filter = ("status",)
    search_fields = ("=welcome_code", "=follow__customer__external_userid")
    search_help_text = _("A whole welcome code or external userid.")
    list_select_related = ("follow__customer", "follow__staff", "message")
    fields = (
        "welcome_code",
        "follow",
        "live_code",
        "message",
        "status",
        "error",
        "attempts",
        "content",
        "received_at",
        "created_at",
        "finished_at",
    )

    def get_queryset(self, request):
        return welcome_send_list()

    @display(description=_("customer"))
    def customer(self, obj):
        return obj.follow.customer

    @display(description=_("staff member"))
    def staff(self, obj):
        return obj.follow.staff

    @display(description=_("error"))
    def short_error(self, obj):
        return Truncator(obj.error).chars(80)


class GroupWelcomeTemplateForm(AttachmentFileForm):
    """Saving writes the template to WeCom (``group_welcome_template_save``); WeCom's refusal is a
    form error on this form, and nothing is saved."""

    class Meta:
        model = GroupWelcomeTemplate
        formfield_callback = url_https
        fields = ["name", "text", "notify", "kind", *ATTACHMENT_MODEL_FIELDS]
        widgets = {"text": forms.Textarea(attrs={"rows": 5})}

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors:
            return
        try:
            group_welcome_template_save(template=self.instance)
        except ValidationError as error:
            self.add_error(None, error)


@admin.register(GroupWelcomeTemplate)
class GroupWelcomeTemplateAdmin(ScrmModelAdmin):
    form = GroupWelcomeTemplateForm
    formfield_overrides = URL_FIELDS
    list_display = ("name", "short_text", "kind", "notify", "template_id", "synced_at")
    search_fields = ("name", "=template_id")
    readonly_fields = ("template_id", "synced_at", "stored")
    actions = None  # deleting goes through WeCom one template at a time
    fieldsets = (
        (None, {"fields": ("name", "text", "notify")}),
        (
            _("Attachment (optional)"),
            {
                "fields": (
                    "kind",
                    "title",
                    "link_url",
                    "description",
                    "pic_url",
                    ("appid", "page"),
                    "upload",
                    "stored",
                )
            },
        ),
        (_("WeCom"), {"fields": ("template_id", "synced_at")}),
    )

    def get_queryset(self, request):
        return group_welcome_template_list()

    def get_fieldsets(self, request, obj=None):
        return self.fieldsets

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Not atomic: the form writes to WeCom while validating, and no transaction may stay open
        # across a WeCom request (on SQLite the sandbox writes its record to the same file).
        return self._changeform_view(request, object_id, form_url, extra_context)

    def save_model(self, request, obj, form, change):
        # Saved by the form's service call, after WeCom accepted it.
        warnings = getattr(obj, "sensitive_warnings", None)
        if warnings:
            self.message_user(request, sensitive_words_warning(warnings), messages.WARNING)

    def delete_view(self, request, object_id, extra_context=None):
        if request.method == "POST":
            obj = self.get_object(request, unquote(object_id))
            if obj is not None and self.has_delete_permission(request, obj):
                try:
                    group_welcome_template_delete(template=obj)
                except ValidationError as error:
                    self.message_user(request, " ".join(error.messages), messages.ERROR)
                    return HttpResponseRedirect(request.path)
                self.message_user(request, _("The template was deleted here and in WeCom."), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:campaigns_groupwelcometemplate_changelist"))
        return self._delete_view(request, object_id, extra_context)

    @display(description=_("text"))
    def short_text(self, obj):
        return Truncator(obj.text).chars(60)

    @display(description=_("stored file"))
    def stored(self, obj):
        if not obj.pk or not obj.file_size:
            return "—"
        return f"{obj.file_name} ({obj.file_size:,} B)"
