"""Admin of broadcasts (群发) to customers and to groups.

A draft is edited with its audience (a segment and/or ad-hoc rules with the segment editor's
widgets; for groups: owners, group tags, stores or a list), its content (text and up to 9
attachments inline, or a library material copied as one) and its schedule. The change page shows
the preview (targeted, eligible, left out by reason) before launching. Launched broadcasts are
read-only; their report page shows the funnel as a chart, a progress bar, the progress per sender
and the recipients (filtered by status or reason), with the launch, cancel, remind and sync
buttons (POST forms calling the services).
"""

from __future__ import annotations

import json

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display
from unfold.widgets import UnfoldAdminSelect2MultipleWidget, UnfoldAdminSelectWidget

from customers.admin_segments import RuleFieldsMixin
from groups.models import GroupChat, GroupTag
from scrm.admin import ScrmModelAdmin
from scrm.org.models import Department, Staff
from scrm.wecom.errors import WecomError

from ..models import Broadcast, BroadcastAttachment, BroadcastRecipient, Material
from ..models.welcome import MAX_ATTACHMENTS
from ..selectors.broadcasts import broadcast_list, broadcast_recipients, broadcast_senders
from ..services.broadcast_dispatch import broadcast_cancel, broadcast_remind
from ..services.broadcasts import (
    SENDER_RULE_LABELS,
    broadcast_delete,
    broadcast_launch,
    broadcast_preview,
    broadcast_save,
    broadcast_sync_request,
    broadcast_validate,
)
from ..services.content import material_attachment_fields
from .welcome import (
    ATTACHMENT_MODEL_FIELDS,
    AttachmentFileForm,
    AttachmentInline,
    formsets_attachments,
    url_https,
)

#: Rows of the report page's recipient list; the next page starts after the last id shown.
RECIPIENTS_SHOWN = 100
SENDERS_SHOWN = 500


class BroadcastAttachmentForm(AttachmentFileForm):
    class Meta:
        model = BroadcastAttachment
        formfield_callback = url_https
        fields = ["kind", *ATTACHMENT_MODEL_FIELDS, "position"]


class BroadcastAttachmentFormSet(forms.BaseInlineFormSet):
    def clean(self) -> None:
        super().clean()
        if any(self.errors):
            return
        kept = [f.instance for f in self.forms if f.cleaned_data and not f.cleaned_data.get("DELETE")]
        material = getattr(self, "material", None)
        if material is not None:
            kept.append(BroadcastAttachment(**material_attachment_fields(material)))
        if len(kept) > MAX_ATTACHMENTS:
            raise ValidationError(_("At most 9 attachments."))
        if not kept and not (self.instance.text or "").strip():
            raise ValidationError(_("Give a text, an attachment, or both."))


class BroadcastAttachmentInline(AttachmentInline):
    model = BroadcastAttachment
    form = BroadcastAttachmentForm
    formset = BroadcastAttachmentFormSet


class GroupIdsField(forms.CharField):
    """Group ids, comma- or space-separated (a company may have tens of thousands of groups)."""

    def to_python(self, value):
        value = super().to_python(value)
        parts = [p for p in value.replace(",", " ").split() if p]
        if not all(p.isdigit() for p in parts):
            raise ValidationError(_("Group ids, separated by commas."))
        ids = sorted({int(p) for p in parts})
        found = set(GroupChat.objects.filter(id__in=ids).values_list("id", flat=True))
        unknown = [str(i) for i in ids if i not in found]
        if unknown:
            raise ValidationError(_("Unknown group ids: %(ids)s.") % {"ids": ", ".join(unknown)})
        return ids


class BroadcastForm(RuleFieldsMixin, forms.ModelForm):
    """The broadcast with its audience as form fields: the segment rules' widgets for customers,
    owners / group tags / stores / a list for groups."""

    sender_rule = forms.ChoiceField(
        label=_("sender"),
        choices=[(key, _(label)) for key, label in SENDER_RULE_LABELS.items()],
        widget=UnfoldAdminSelectWidget,
        help_text=_("A customer followed by several staff members gets the message from this one."),
    )
    material = forms.ModelChoiceField(
        label=_("copy a library material"),
        queryset=Material.objects.defer("file_content").exclude(kind="text"),
        required=False,
        help_text=_("Added as one more attachment."),
    )
    group_owners = forms.ModelMultipleChoiceField(
        label=_("groups owned by"),
        queryset=Staff.objects.filter(status=Staff.Status.ACTIVE),
        required=False,
        widget=UnfoldAdminSelect2MultipleWidget,
    )
    group_tags = forms.ModelMultipleChoiceField(
        label=_("groups tagged"),
        queryset=GroupTag.objects.all(),
        required=False,
        widget=UnfoldAdminSelect2MultipleWidget,
    )
    group_stores = forms.ModelMultipleChoiceField(
        label=_("groups of the stores"),
        queryset=Department.objects.filter(is_store=True),
        required=False,
        widget=UnfoldAdminSelect2MultipleWidget,
    )
    group_list = GroupIdsField(
        label=_("these groups"), required=False, help_text=_("Group ids, separated by commas.")
    )

    class Meta:
        model = Broadcast
        fields = ["name", "kind", "segment", "text", "scheduled_at"]
        widgets = {"text": forms.Textarea(attrs={"rows": 6})}
        help_texts = {
            "scheduled_at": _("Empty: as soon as it is launched. Inside quiet hours it waits for their end."),
            "segment": _("Customers: a saved segment; the rules below narrow it (or stand alone)."),
        }

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        instance = self.instance
        customer_rules = instance.rules if instance.kind == Broadcast.Kind.CUSTOMERS else {}
        self.add_rule_fields(customer_rules or {})
        self.initial.setdefault("sender_rule", instance.sender_rule)
        if instance.kind == Broadcast.Kind.GROUPS:
            rules = instance.rules or {}
            self.initial.update(
                group_owners=rules.get("owners", []),
                group_tags=rules.get("group_tags", []),
                group_stores=rules.get("stores", []),
                group_list=", ".join(str(i) for i in rules.get("groups", [])),
            )

    def clean(self):
        cleaned = super().clean()
        if cleaned.get("kind") == Broadcast.Kind.GROUPS:
            self.rules = {
                key: [getattr(v, "pk", v) for v in cleaned.get(field) or ()]
                for key, field in (
                    ("owners", "group_owners"),
                    ("group_tags", "group_tags"),
                    ("stores", "group_stores"),
                    ("groups", "group_list"),
                )
            }
            self.rules = {key: value for key, value in self.rules.items() if value}
        else:
            self.clean_rules()
        return cleaned

    def _post_clean(self) -> None:
        super()._post_clean()
        if self.errors or getattr(self, "rules", None) is None:
            return
        self.instance.rules = self.rules
        self.instance.sender_rule = self.cleaned_data["sender_rule"]
        if self.instance.kind == Broadcast.Kind.GROUPS:
            self.instance.segment = None
        try:
            broadcast_validate(broadcast=self.instance, attachments=None)
        except ValidationError as error:
            if hasattr(error, "error_dict"):
                for key, messages_ in error.message_dict.items():
                    field = (
                        key
                        if key in self.fields
                        else (
                            "group_owners"
                            if key == "rules" and self.instance.kind == Broadcast.Kind.GROUPS
                            else None
                        )
                    )
                    self.add_error(field, messages_)
            else:
                self.add_error(None, error)


@admin.register(Broadcast)
class BroadcastAdmin(ScrmModelAdmin):
    form = BroadcastForm
    inlines = [BroadcastAttachmentInline]
    list_display = (
        "name",
        "kind",
        "status",
        "scheduled_at",
        "targeted",
        "eligible",
        "handed",
        "confirmed",
        "delivered",
        "report_link",
    )
    list_filter = ("status", "kind", "origin")
    search_fields = ("name",)
    raw_id_fields = ("segment",)
    show_full_result_count = False
    readonly_fields = (
        "status",
        "origin",
        "preview",
        "report_link",
        "error",
        "started_at",
        "planned_at",
        "finished_at",
        "canceled_at",
    )

    def get_fieldsets(self, request, obj=None):
        editable = obj is None or obj.status == Broadcast.Status.DRAFT
        content = ["text", "material"] if editable else ["text"]
        audience = ["kind", "segment", *self._rule_keys(), "sender_rule"]
        groups = ["group_owners", "group_tags", "group_stores", "group_list"]
        if not editable:
            audience = ["kind", "segment"]
            groups = []
        fieldsets = [
            (None, {"fields": ["name", "scheduled_at"]}),
            (
                _("Customers"),
                {
                    "fields": audience,
                    "description": _(
                        "For a broadcast to customers: a segment and/or rules; "
                        "every rule narrows the audience."
                    ),
                },
            ),
        ]
        if groups:
            fieldsets.append(
                (
                    _("Groups"),
                    {
                        "fields": groups,
                        "description": _(
                            "For a broadcast to groups: a group matching any of these is "
                            "targeted; its owner sends."
                        ),
                    },
                )
            )
        fieldsets.append((_("Content"), {"fields": content}))
        if obj is not None:
            fieldsets.append((_("Preview"), {"fields": ["preview"]}))
            fieldsets.append(
                (
                    _("Progress"),
                    {
                        "fields": [
                            "status",
                            "origin",
                            "report_link",
                            "error",
                            ("started_at", "planned_at"),
                            ("finished_at", "canceled_at"),
                        ]
                    },
                )
            )
        return fieldsets

    @staticmethod
    def _rule_keys() -> list[str]:
        from customers.segments import segment_rule_list

        return [rule.key for rule in segment_rule_list()]

    def get_queryset(self, request):
        return broadcast_list(user=request.user)

    def has_change_permission(self, request, obj=None):
        if obj is not None and obj.status != Broadcast.Status.DRAFT:
            return False  # launched: what was sent; read-only
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        if obj is not None and obj.status != Broadcast.Status.DRAFT:
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # drafts only, one at a time from the form
        return actions

    def get_form(self, request, obj=None, change=False, **kwargs):
        kwargs["fields"] = ["name", "kind", "segment", "text", "scheduled_at"]
        form_class = super().get_form(request, obj, change, **kwargs)

        class RememberedForm(form_class):
            def __init__(self, *args, **kw):
                super().__init__(*args, **kw)
                request._broadcast_form = self

        return RememberedForm

    def _create_formsets(self, request, obj, change):
        formsets, inline_instances = super()._create_formsets(request, obj, change)
        # The inline's checks count a material copied by the main form as one more attachment.
        form = getattr(request, "_broadcast_form", None)
        valid = form is not None and form.is_bound and form.is_valid()
        material = form.cleaned_data.get("material") if valid else None
        for formset in formsets:
            formset.material = material
        return formsets, inline_instances

    def save_model(self, request, obj, form, change):
        if not change:
            obj.created_by = request.user
            obj.origin = Broadcast.Origin.ADMIN
        # Saved with its attachments by the service, in save_related.

    def save_related(self, request, form, formsets, change):
        attachments = formsets_attachments(formsets, order_field="position")
        material = form.cleaned_data.get("material")
        if material is not None:
            attachments.append(BroadcastAttachment(**material_attachment_fields(material)))
        broadcast_save(broadcast=form.instance, attachments=attachments)

    def delete_model(self, request, obj):
        broadcast_delete(broadcast=obj)

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # A service error left after the forms' checks (a word added to the list meanwhile)
        # comes back as a message rather than a server error.
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(request.path)

    @display(description=_("before launching"))
    def preview(self, obj):
        if obj is None or not obj.pk:
            return _("Save the draft to see how many it reaches.")
        try:
            counts = broadcast_preview(broadcast=obj)
        except ValidationError as error:
            return " ".join(error.messages)
        return render_to_string(
            "admin/campaigns/broadcast/preview.html",
            {"counts": counts, "reasons": _reasons(counts), "broadcast": obj},
        )

    @display(description=_("report"))
    def report_link(self, obj):
        if obj is None or not obj.pk:
            return "—"
        url = reverse("admin:campaigns_broadcast_report", args=[obj.pk])
        label = (
            gettext("launch, progress, recipients")
            if obj.status == Broadcast.Status.DRAFT
            else gettext("funnel, progress, recipients")
        )
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, label)

    # --- report page and its buttons ---------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/report/", view(self.report_view), name="campaigns_broadcast_report"),
            path("<int:pk>/launch/", view(self.launch_view), name="campaigns_broadcast_launch"),
            path("<int:pk>/cancel/", view(self.cancel_view), name="campaigns_broadcast_cancel"),
            path("<int:pk>/remind/", view(self.remind_view), name="campaigns_broadcast_remind"),
            path("<int:pk>/sync/", view(self.sync_view), name="campaigns_broadcast_sync"),
            *super().get_urls(),
        ]

    def _broadcast(self, request, pk: int) -> Broadcast:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(broadcast_list(user=request.user), pk=pk)

    def report_view(self, request, pk: int):
        broadcast = self._broadcast(request, pk)
        status = request.GET.get("status") or ""
        reason = request.GET.get("reason") or ""
        status = status if status in BroadcastRecipient.Status.values else ""
        reason = reason if reason in BroadcastRecipient.Reason.values else ""
        recipients = broadcast_recipients(
            broadcast=broadcast, user=request.user, status=status or None, reason=reason or None
        ).order_by("id")
        after = request.GET.get("after", "")
        if after.isdigit():
            recipients = recipients.filter(id__gt=int(after))
        rows = list(recipients[: RECIPIENTS_SHOWN + 1])
        more = len(rows) > RECIPIENTS_SHOWN
        rows = rows[:RECIPIENTS_SHOWN]
        senders = list(
            broadcast_senders(broadcast=broadcast, user=request.user).order_by("name")[:SENDERS_SHOWN]
        )
        for sender in senders:
            sender.all_confirmed = sender.batches > 0 and sender.confirmed_batches == sender.batches
        may_act = request.user.has_perm("campaigns.change_broadcast")
        Status = Broadcast.Status
        funnel = [
            (gettext("targeted"), broadcast.targeted),
            (gettext("eligible"), broadcast.eligible),
            (gettext("handed to WeCom"), broadcast.handed),
            (gettext("confirmed by staff"), broadcast.confirmed),
            (gettext("delivered"), broadcast.delivered),
        ]
        preview = broadcast_preview(broadcast=broadcast) if broadcast.status == Status.DRAFT else None
        query = {"status": status, "reason": reason}
        next_url = None
        if more:
            next_url = "?" + "&".join(f"{k}={v}" for k, v in {**query, "after": rows[-1].id}.items() if v)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Broadcast %(name)s") % {"name": broadcast.name},
            "opts": self.opts,
            "original": broadcast,
            "broadcast": broadcast,
            "attachments": list(broadcast.attachments.all()),
            "funnel": funnel,
            "chart": _funnel_chart(funnel),
            "chart_options": json.dumps(
                {
                    "indexAxis": "y",
                    "maintainAspectRatio": False,
                    "plugins": {"legend": {"display": False}},
                    "scales": {"x": {"ticks": {"precision": 0}}},
                }
            ),
            "percent": round(100 * broadcast.handed / broadcast.eligible) if broadcast.eligible else 0,
            "preview": preview,
            "preview_reasons": _reasons(preview) if preview else [],
            "reasons_planned": _reasons(broadcast_preview(broadcast=broadcast))
            if broadcast.planned_at
            else [],
            "senders": senders,
            "recipients": rows,
            "next_url": next_url,
            "status": status,
            "reason": reason,
            "statuses": BroadcastRecipient.Status.choices,
            "reasons": BroadcastRecipient.Reason.choices,
            "may_act": may_act,
            "can_launch": may_act and broadcast.status == Status.DRAFT,
            "can_cancel": may_act
            and broadcast.status in (Status.SCHEDULED, Status.PLANNING, Status.SENDING, Status.SENT),
            "can_remind": may_act and broadcast.status in (Status.SENDING, Status.SENT),
            "can_sync": may_act and broadcast.status in (Status.SENDING, Status.SENT, Status.CANCELED),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/campaigns/broadcast/report.html", context)

    def _act(self, request, pk: int, command, done):
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("campaigns.change_broadcast"):
            raise PermissionDenied
        broadcast = self._broadcast(request, pk)
        try:
            result = command(broadcast)
        except ValidationError as error:
            self.message_user(request, " ".join(error.messages), messages.ERROR)
        except WecomError as error:
            self.message_user(request, gettext("WeCom refused: %(error)s") % {"error": error}, messages.ERROR)
        else:
            self.message_user(request, done(result) if callable(done) else done, messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:campaigns_broadcast_report", args=[pk]))

    def launch_view(self, request, pk: int):
        def launch(broadcast):
            return broadcast_launch(broadcast=broadcast)

        def done(broadcast):
            if broadcast.status == Broadcast.Status.SCHEDULED:
                return gettext("Scheduled for %(when)s.") % {
                    "when": broadcast.scheduled_at.astimezone().strftime("%Y-%m-%d %H:%M")
                }
            return gettext("Launched: the recipients are being planned, then handed to WeCom by sender.")

        return self._act(request, pk, launch, done)

    def cancel_view(self, request, pk: int):
        return self._act(
            request, pk, lambda b: broadcast_cancel(broadcast=b), gettext("The broadcast was canceled.")
        )

    def remind_view(self, request, pk: int):
        def done(count):
            return gettext("%(count)s sender tasks were reminded.") % {"count": count}

        return self._act(request, pk, lambda b: broadcast_remind(broadcast=b), done)

    def sync_view(self, request, pk: int):
        return self._act(
            request,
            pk,
            lambda b: broadcast_sync_request(broadcast=b),
            gettext("Sync queued: reload in a moment."),
        )


def _reasons(counts: dict) -> list[tuple[str, int]]:
    labels = dict(BroadcastRecipient.Reason.choices)
    return [(labels[key], n) for key, n in counts["suppressed"].items() if n]


def _funnel_chart(funnel: list[tuple[str, int]]) -> str:
    return json.dumps(
        {
            "labels": [label for label, _n in funnel],
            "datasets": [
                {
                    "label": gettext("recipients"),
                    "data": [n for _label, n in funnel],
                    "backgroundColor": "var(--color-primary-600)",
                }
            ],
        }
    )
