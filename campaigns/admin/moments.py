"""Admin of moments campaigns.

A draft is edited with its attachments inline (up to 9 images, or 1 video, or 1 link; files kept
on the row) and may copy a material of the content library as an attachment. Its publishers
(staff, departments) and audience (corporate tags) are chosen with autocompletes. Launched
campaigns are read-only. The progress page shows published / publishers as a bar, the counters,
and each member's publish status, with the launch, cancel and sync buttons (POST forms that call
the services; the WeCom work runs in Celery tasks).
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.text import Truncator
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from scrm.admin import ScrmModelAdmin

from ..models import Material, MomentAttachment, MomentCampaign
from ..models.moments import MAX_IMAGES, MOMENT_KINDS, moment_attachments_errors
from ..selectors.moments import moment_campaign_detail_list, moment_campaign_list, moment_publisher_list
from ..services.content import material_attachment_fields, sensitive_words_warning
from ..services.moments import (
    moment_cancel,
    moment_launch_request,
    moment_save,
    moment_sync_request,
)
from .welcome import AttachmentFileForm, AttachmentInline, formsets_attachments, url_https

#: The most publishers listed on the progress page; the API pages through all of them.
PUBLISHERS_SHOWN = 500


class MomentAttachmentForm(AttachmentFileForm):
    kind = forms.ChoiceField(label=_("type"), choices=[(k.value, k.label) for k in MOMENT_KINDS])

    class Meta:
        model = MomentAttachment
        formfield_callback = url_https
        fields = ["kind", "title", "link_url", "order"]


class MomentAttachmentFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return  # each form shows its own errors first
        kept = [f for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        material = getattr(self, "material", None)
        kinds = [f.cleaned_data.get("kind") for f in kept] + ([material.kind] if material else [])
        errors = moment_attachments_errors(kinds)
        if errors:
            raise ValidationError(errors)
        if not kinds and not (self.instance.text or "").strip():
            raise ValidationError(_("Give a text, an attachment, or both."))


class MomentAttachmentInline(AttachmentInline):
    model = MomentAttachment
    form = MomentAttachmentForm
    formset = MomentAttachmentFormSet
    max_num = MAX_IMAGES
    order_field = "order"
    fields = (("kind", "order"), "title", "link_url", "upload", "stored")


class MomentCampaignForm(forms.ModelForm):
    class Meta:
        model = MomentCampaign
        fields = ["name", "text", "staff", "departments", "tags"]
        widgets = {"text": forms.Textarea(attrs={"rows": 6})}

    material = forms.ModelChoiceField(
        label=_("copy a library material"),
        queryset=Material.objects.defer("file_content").filter(kind__in=[k.value for k in MOMENT_KINDS]),
        required=False,
        help_text=_("Added as an attachment: an image, a video or a link of the content library."),
    )

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if "tags" in self.fields:
            self.fields["tags"].queryset = self.fields["tags"].queryset.filter(deleted=False)

    def clean_tags(self):
        tags = self.cleaned_data.get("tags")
        unsynced = [t.name for t in tags or () if not t.wecom_id]
        if unsynced:
            names = ", ".join(unsynced)
            raise ValidationError(_("Not corporate tags in WeCom: %(names)s.") % {"names": names})
        return tags


@admin.register(MomentCampaign)
class MomentCampaignAdmin(ScrmModelAdmin):
    form = MomentCampaignForm
    inlines = [MomentAttachmentInline]
    list_display = (
        "name",
        "short_text",
        "status",
        "progress",
        "customers_reached",
        "launched_at",
        "created_at",
    )
    list_filter = ("status",)
    search_fields = ("name", "=moment_id")
    autocomplete_fields = ("staff", "departments", "tags")
    readonly_fields = (
        "status",
        "progress_link",
        "jobid",
        "moment_id",
        "error",
        "invalid",
        "launched_at",
        "job_done_at",
        "finished_at",
        "synced_at",
    )

    def get_fieldsets(self, request, obj=None):
        content = ["name", "text"]
        if obj is None or obj.editable:
            content.append("material")
        fieldsets = [
            (None, {"fields": content}),
            (_("Publishers and audience"), {"fields": ["staff", "departments", "tags"]}),
        ]
        if obj is not None:
            fieldsets.append(
                (
                    _("WeCom"),
                    {
                        "fields": [
                            "status",
                            "progress_link",
                            "jobid",
                            "moment_id",
                            "error",
                            "invalid",
                            ("launched_at", "job_done_at"),
                            ("finished_at", "synced_at"),
                        ]
                    },
                )
            )
        return fieldsets

    def get_queryset(self, request):
        return moment_campaign_list(user=request.user)

    def has_change_permission(self, request, obj=None):
        if obj is not None and not obj.editable:
            return False  # launched: WeCom's now; read-only
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and not obj.editable:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # drafts only: one at a time from the form
        return actions

    def _create_formsets(self, request, obj, change):
        formsets, inline_instances = super()._create_formsets(request, obj, change)
        # The inline's checks count a material copied by the main form as one more attachment.
        form = getattr(request, "_moment_form", None)
        valid = form is not None and form.is_bound and form.is_valid()
        material = form.cleaned_data.get("material") if valid else None
        for formset in formsets:
            formset.material = material
        return formsets, inline_instances

    def get_form(self, request, obj=None, change=False, **kwargs):
        form_class = super().get_form(request, obj, change, **kwargs)

        class RememberedForm(form_class):
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                request._moment_form = self

        return RememberedForm

    def save_model(self, request, obj, form, change):
        pass  # saved with its attachments and relations by the service, in save_related

    def save_related(self, request, form, formsets, change):
        attachments = formsets_attachments(formsets, order_field="order")
        material = form.cleaned_data.get("material")
        if material is not None:
            attachments.append(MomentAttachment(**material_attachment_fields(material)))
        campaign = moment_save(
            campaign=form.instance,
            attachments=attachments,
            staff=form.cleaned_data.get("staff"),
            departments=form.cleaned_data.get("departments"),
            tags=form.cleaned_data.get("tags"),
            user=request.user,
        )
        warned = getattr(campaign, "sensitive_warnings", None)
        if warned:
            self.message_user(request, sensitive_words_warning(warned), messages.WARNING)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # A service error left after the forms' checks (a word added to the list meanwhile)
        # comes back as a message rather than a server error.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(request.path)

    @display(description=_("text"))
    def short_text(self, obj):
        return Truncator(obj.text).chars(60)

    @display(description=_("published"))
    def progress(self, obj):
        if obj.status == MomentCampaign.Status.DRAFT:
            return "—"
        return f"{obj.published_count} / {obj.publishers_count}"

    @display(description=_("progress"))
    def progress_link(self, obj):
        if obj is None or not obj.pk:
            return "—"
        url = reverse("admin:campaigns_momentcampaign_progress", args=[obj.pk])
        return format_html(
            '<a class="text-primary-600" href="{}">{} / {} · {}</a>',
            url,
            obj.published_count,
            obj.publishers_count,
            gettext("progress, launch, cancel, sync"),
        )

    # --- progress page and its buttons -------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/progress/", view(self.progress_view), name="campaigns_momentcampaign_progress"),
            path("<int:pk>/launch/", view(self.launch_view), name="campaigns_momentcampaign_launch"),
            path("<int:pk>/cancel/", view(self.cancel_view), name="campaigns_momentcampaign_cancel"),
            path("<int:pk>/sync/", view(self.sync_view), name="campaigns_momentcampaign_sync"),
            *super().get_urls(),
        ]

    def _campaign(self, request, pk: int) -> MomentCampaign:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(moment_campaign_detail_list(user=request.user), pk=pk)

    def progress_view(self, request, pk: int):
        campaign = self._campaign(request, pk)
        rows = moment_publisher_list(user=request.user, campaign=campaign).order_by("id")
        publishers = list(rows[:PUBLISHERS_SHOWN])
        may_act = request.user.has_perm("campaigns.change_momentcampaign")
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Moment %(name)s") % {"name": campaign.name},
            "opts": self.opts,
            "original": campaign,
            "campaign": campaign,
            "attachments": list(campaign.attachments.all()),
            "publishers": publishers,
            "publishers_more": len(publishers) == PUBLISHERS_SHOWN,
            "may_act": may_act,
            "can_launch": may_act and campaign.status == MomentCampaign.Status.DRAFT,
            "can_cancel": may_act
            and campaign.status in (MomentCampaign.Status.CREATING, MomentCampaign.Status.PUBLISHING),
            "can_sync": may_act and bool(campaign.moment_id or campaign.jobid),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/campaigns/moment/progress.html", context)

    def _act(self, request, pk: int, service, done: str):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("campaigns.change_momentcampaign"):
            raise PermissionDenied
        campaign = self._campaign(request, pk)
        try:
            service(campaign=campaign)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        else:
            self.message_user(request, done, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:campaigns_momentcampaign_progress", args=[pk]))

    def launch_view(self, request, pk: int):
        done = gettext("Launch queued: WeCom creates the moment, then staff publish it.")
        return self._act(request, pk, moment_launch_request, done)

    def cancel_view(self, request, pk: int):
        return self._act(request, pk, moment_cancel, gettext("The moment was canceled in WeCom."))

    def sync_view(self, request, pk: int):
        return self._act(request, pk, moment_sync_request, gettext("Sync queued: reload in a moment."))
