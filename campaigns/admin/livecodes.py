"""Admin of staff live codes: the list with today's adds, the change form with the pool, hours and
special dates inline, the status page (who is live now and why the others are not), and the QR
downloads (PNG, SVG, A4 poster).

Saving goes through ``livecode_save``, which writes the rows and then WeCom's contact way: the
view runs without the admin's usual transaction (no transaction may wait on WeCom; on SQLite the
sandbox records its calls in the same database). A refusal of a new code is shown on the form
with what was typed; a changed code is kept and WeCom's refusal shown as a message, the way being
retried by the minute review.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline

from scrm.admin import ScrmModelAdmin

from ..models import Channel, LiveCode, LiveCodeHours, LiveCodeMember, LiveCodeSpecialDate
from ..selectors.livecodes import livecode_adds_today, livecode_list
from ..services.eligibility import CAPPED
from ..services.livecodes import LiveCodeSyncError, livecode_delete, livecode_evaluate, livecode_save
from .codes import STATE_MAX, CodeAdminMixin, CodeForm, SaveRefused


class LiveCodeForm(CodeForm):
    state = forms.CharField(
        label=pgettext_lazy("channel", "state"),
        max_length=STATE_MAX,
        help_text=_("WeCom echoes it on every add through the code; at most 30 characters, unique."),
    )

    class Meta:
        model = LiveCode
        fields = [
            "name",
            "state",
            "status",
            "strategy",
            "departments",
            "daily_cap",
            "skip_verify",
            "auto_accept_from",
            "auto_accept_until",
            "exclusive",
            "tags",
            "remark_template",
            "description_template",
        ]

    def clean_state(self) -> str:
        state = self.cleaned_data["state"].strip()
        taken = Channel.objects.filter(state=state)
        if self.instance.channel_id:
            taken = taken.exclude(pk=self.instance.channel_id)
        if taken.exists():
            raise ValidationError(_("This state is already used by another channel."))
        return state


def _kept(formset) -> list[dict]:
    return [
        form.cleaned_data
        for form in formset.forms
        if getattr(form, "cleaned_data", None) and not form.cleaned_data.get("DELETE")
    ]


class MemberFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        staff = [row["staff"].pk for row in _kept(self) if row.get("staff")]
        if len(set(staff)) != len(staff):
            raise ValidationError(_("A staff member is listed twice."))


class HoursFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        for row in _kept(self):
            if row.get("start") and row.get("end") and row["start"] >= row["end"]:
                raise ValidationError(
                    _("Working hours must end after they start (%(start)s–%(end)s).")
                    % {"start": f"{row['start']:%H:%M}", "end": f"{row['end']:%H:%M}"}
                )


class SpecialDateFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        for row in _kept(self):
            if row.get("first_day") and row.get("last_day") and row["first_day"] > row["last_day"]:
                raise ValidationError(_("A special date range must end on or after its start."))
            start, end = row.get("start"), row.get("end")
            if not row.get("closed") and start and end and start >= end:
                raise ValidationError(_("Special hours must end after they start."))


class MemberInline(TabularInline):
    model = LiveCodeMember
    formset = MemberFormSet
    fields = ("staff", "weight", "daily_cap", "is_backup")
    autocomplete_fields = ("staff",)
    extra = 1
    verbose_name_plural = _("members (departments add their staff with weight 1)")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("staff")


class HoursInline(TabularInline):
    model = LiveCodeHours
    formset = HoursFormSet
    fields = ("weekday", "start", "end")
    extra = 0
    verbose_name_plural = _("working hours (none: around the clock; outside them only backups are live)")


class SpecialDateInline(TabularInline):
    model = LiveCodeSpecialDate
    formset = SpecialDateFormSet
    fields = ("first_day", "last_day", "closed", "start", "end")
    extra = 0
    verbose_name_plural = _("special dates (replace the working hours)")


@admin.register(LiveCode)
class LiveCodeAdmin(CodeAdminMixin, ScrmModelAdmin):
    qr_filename_prefix = "live-code"
    poster_subtitle = _("Scan to add us on WeCom")
    sandbox_move = "scan_contact_way"
    form = LiveCodeForm
    inlines = [MemberInline, HoursInline, SpecialDateInline]
    list_display = ("name", "show_state", "show_status", "strategy", "adds_today", "live_now", "downloads")
    list_filter = ("status", "strategy")
    search_fields = ("name", "=channel__state")
    search_help_text = _("Name, or a whole state.")
    autocomplete_fields = ("departments", "tags")
    readonly_fields = ("wecom_way", "qr_links", "status_link", "wecom_list", "synced_at", "sync_error")

    def get_fieldsets(self, request, obj=None):
        main = (None, {"fields": ("name", "state", "status", "strategy", "departments", "daily_cap")})
        accept = (
            _("Adding"),
            {"fields": ("skip_verify", ("auto_accept_from", "auto_accept_until"), "exclusive")},
        )
        customer = (
            _("On each new customer"),
            {"fields": ("tags", "remark_template", "description_template")},
        )
        if obj is None:
            return [main, accept, customer]
        wecom = (
            _("WeCom"),
            {"fields": ("wecom_way", "qr_links", "status_link", "wecom_list", "synced_at", "sync_error")},
        )
        return [main, accept, customer, wecom]

    def get_queryset(self, request):
        return livecode_list()

    def get_readonly_fields(self, request, obj=None):
        fields = super().get_readonly_fields(request, obj)
        # WeCom takes is_exclusive only when a way is created (update_contact_way has no such field).
        return (*fields, "exclusive") if obj is not None and obj.config_id else fields

    # --- the list -------------------------------------------------------------------------------

    def prepare_page(self, request, results):
        results = list(super().prepare_page(request, results))
        adds = livecode_adds_today(code_ids=[c.pk for c in results], day=timezone.localdate())
        for code in results:
            code.adds_today = adds.get(code.pk, 0)
        return results

    @admin.display(description=_("adds today"))
    def adds_today(self, obj: LiveCode):
        return getattr(obj, "adds_today", 0)

    @admin.display(description=_("in the QR now"))
    def live_now(self, obj: LiveCode):
        url = reverse("admin:campaigns_livecode_status", args=[obj.pk])
        label = ", ".join(obj.wecom_users) if obj.wecom_users else "-"
        if obj.sync_error:
            return format_html('<a href="{}">{}</a> ⚠', url, label)
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description=_("QR"))
    def downloads(self, obj: LiveCode):
        return self.qr_download_links(obj)

    # --- the change form's WeCom part -----------------------------------------------------------

    @admin.display(description=_("contact way"))
    def wecom_way(self, obj: LiveCode):
        return self.way_html(obj)

    @admin.display(description=_("QR code"))
    def qr_links(self, obj: LiveCode):
        return self.qr_download_links(obj)

    @admin.display(description=_("status"))
    def status_link(self, obj: LiveCode):
        url = reverse("admin:campaigns_livecode_status", args=[obj.pk])
        return format_html('<a href="{}">{}</a>', url, gettext("Who is live now, and why not the others"))

    @admin.display(description=_("users in WeCom"))
    def wecom_list(self, obj: LiveCode):
        return ", ".join(obj.wecom_users) or "-"

    # --- saving through the service --------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        pass  # saved with its pool and hours in save_related, by the service

    def save_related(self, request, form, formsets, change):
        rows: dict[type, list[dict]] = {}
        for formset in formsets:
            rows[formset.model] = _kept(formset)
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        members = [
            {k: row.get(k) for k in ("staff", "weight", "daily_cap", "is_backup")}
            for row in rows.get(LiveCodeMember, [])
            if row.get("staff")
        ]
        hours = [
            {k: row[k] for k in ("weekday", "start", "end")}
            for row in rows.get(LiveCodeHours, [])
            if row.get("start") and row.get("end")
        ]
        special_dates = [
            {k: row.get(k) for k in ("first_day", "last_day", "closed", "start", "end")}
            for row in rows.get(LiveCodeSpecialDate, [])
            if row.get("first_day") and row.get("last_day")
        ]
        code = form.instance
        creating = code.pk is None
        try:
            livecode_save(
                code=code,
                state=form.cleaned_data["state"],
                departments=list(form.cleaned_data.get("departments") or ()),
                tags=list(form.cleaned_data.get("tags") or ()),
                members=members,
                hours=hours,
                special_dates=special_dates,
            )
        except ValidationError as error:
            raise SaveRefused(error) from error
        except LiveCodeSyncError as error:
            if creating:
                raise SaveRefused(ValidationError(str(error))) from error
            self.message_user(
                request,
                gettext(
                    "Saved, but the contact way was not updated: %(error)s It is retried in a few minutes."
                )
                % {"error": error},
                messages.WARNING,
            )

    def delete_model(self, request, obj):
        livecode_delete(code=obj)

    def delete_view(self, request, object_id, extra_context=None):
        # Without ModelAdmin's transaction, as for saving: the deletion calls WeCom.
        try:
            return self._delete_view(request, object_id, extra_context)
        except LiveCodeSyncError as error:
            self.message_user(request, str(error), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:campaigns_livecode_change", args=[object_id]))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # each deletion calls WeCom: one at a time, from the form
        return actions

    # --- status page and QR downloads -----------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/status/", view(self.status_view), name="campaigns_livecode_status"),
            *self.qr_urls(),
            *super().get_urls(),
        ]

    def status_view(self, request, pk: int):
        code = self.code_for(request, pk)
        result = livecode_evaluate(code=code)
        rows = []
        for status in result.seats:
            detail = status.reason_label
            if status.reason == CAPPED:
                detail = gettext("capped (%(adds)s/%(cap)s today)") % {
                    "adds": status.seat.adds_today,
                    "cap": status.cap,
                }
            rows.append(
                {
                    "status": status,
                    "detail": detail,
                    "in_wecom": status.seat.userid in (code.wecom_users or ()),
                }
            )
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Status of %(code)s") % {"code": code.name},
            "opts": self.opts,
            "original": code,
            "code": code,
            "result": result,
            "rows": rows,
            "nobody_live": not result.users,
            "way": self.way_html(code),
            "now": timezone.localtime(),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/campaigns/livecode/status.html", context)
