"""Admin of group live codes: the list, the change form with the code's groups in order, and the
QR downloads (PNG, SVG, A4 poster).

Saving goes through ``groupcode_save``, which writes WeCom's join way before anything is saved:
the view therefore runs without the admin's usual transaction (no transaction may wait on WeCom;
on SQLite the sandbox records its calls in the same database), and a refusal of WeCom or of the
service is shown on the form, with what was typed, as a form error.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.forms.models import BaseInlineFormSet
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline

from scrm.admin import ScrmModelAdmin

from ..models import GroupCode, GroupCodeChat
from ..selectors.groupcodes import (
    groupcode_group_counts,
    groupcode_joins_since,
    groupcode_list,
    groupcode_members_by_group,
)
from ..services.groupcodes import GroupCodeEntry, channel_taken, groupcode_delete, groupcode_save
from .codes import STATE_MAX, CodeAdminMixin, CodeForm, SaveRefused


class GroupCodeForm(CodeForm):
    state = forms.CharField(
        label=pgettext_lazy("channel", "state"),
        max_length=STATE_MAX,
        help_text=_(
            "Put by WeCom on every member who joins through the code; at most 30 characters, unique."
        ),
    )

    class Meta:
        model = GroupCode
        fields = [
            "name",
            "state",
            "status",
            "member_cap",
            "auto_create_room",
            "room_base_name",
            "room_base_id",
            "welcome_template",
        ]

    def clean_state(self) -> str:
        state = self.cleaned_data["state"].strip()
        if channel_taken(state=state, channel_id=self.instance.channel_id):
            raise ValidationError(_("This state is already used by another code."))
        return state


class GroupCodeChatFormSet(BaseInlineFormSet):
    def clean(self):
        super().clean()
        if any(self.errors):
            return
        groups = [
            form.cleaned_data["group"]
            for form in self.forms
            if form.cleaned_data.get("group") and not form.cleaned_data.get("DELETE")
        ]
        if not groups:
            raise ValidationError(_("Give the code at least one group."))
        if len(set(groups)) != len(groups):
            raise ValidationError(_("A group is listed twice."))


class GroupCodeChatInline(TabularInline):
    model = GroupCodeChat
    formset = GroupCodeChatFormSet
    fields = ("position", "group", "status", "members", "auto_created")
    readonly_fields = ("members", "auto_created")
    autocomplete_fields = ("group",)
    extra = 1
    min_num = 0
    ordering = ("position", "id")
    verbose_name_plural = _("groups, in order")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("group")

    @admin.display(description=_("members"))
    def members(self, obj: GroupCodeChat):
        return obj.group.member_count if obj.pk else "-"


@admin.register(GroupCode)
class GroupCodeAdmin(CodeAdminMixin, ScrmModelAdmin):
    qr_filename_prefix = "group-code"
    poster_subtitle = _("Scan to join the group")
    sandbox_move = "scan_join_way"
    form = GroupCodeForm
    inlines = [GroupCodeChatInline]
    list_display = (
        "name",
        "show_state",
        "show_status",
        "groups_live",
        "groups_full",
        "members_today",
        "downloads",
    )
    list_filter = ("status",)
    search_fields = ("name", "=channel__state")
    search_help_text = _("Name, or a whole state.")
    readonly_fields = ("wecom_way", "qr_links", "wecom_groups", "joins", "synced_at", "sync_error")

    def get_fieldsets(self, request, obj=None):
        main = (
            None,
            {
                "fields": (
                    "name",
                    "state",
                    "status",
                    "member_cap",
                    "auto_create_room",
                    "room_base_name",
                    "room_base_id",
                    "welcome_template",
                )
            },
        )
        if obj is None:
            return [main]
        wecom = (
            _("WeCom"),
            {"fields": ("wecom_way", "qr_links", "wecom_groups", "joins", "synced_at", "sync_error")},
        )
        return [main, wecom]

    def get_queryset(self, request):
        return groupcode_list(user=request.user)

    # --- the list -------------------------------------------------------------------------------

    def prepare_page(self, request, results):
        results = list(super().prepare_page(request, results))
        counts = groupcode_group_counts(code_ids=[c.pk for c in results])
        today = timezone.localtime().replace(hour=0, minute=0, second=0, microsecond=0)
        joins = groupcode_joins_since(codes=results, since=today)
        for code in results:
            code.group_counts = counts.get(code.pk, {})
            code.joins_today = joins.get(code.pk, 0)
        return results

    @admin.display(description=_("groups live"))
    def groups_live(self, obj: GroupCode):
        counts = getattr(obj, "group_counts", {})
        return format_html(
            "{} / {}", counts.get(GroupCodeChat.Status.LIVE, 0), counts.get(GroupCodeChat.Status.WAITING, 0)
        )

    @admin.display(description=_("groups full"))
    def groups_full(self, obj: GroupCode):
        return getattr(obj, "group_counts", {}).get(GroupCodeChat.Status.FULL, 0)

    @admin.display(description=_("joined today"))
    def members_today(self, obj: GroupCode):
        return getattr(obj, "joins_today", 0)

    @admin.display(description=_("QR"))
    def downloads(self, obj: GroupCode):
        return self.qr_download_links(obj)

    # --- the change form's WeCom part -----------------------------------------------------------

    @admin.display(description=_("join way"))
    def wecom_way(self, obj: GroupCode):
        return self.way_html(obj)

    @admin.display(description=_("QR code"))
    def qr_links(self, obj: GroupCode):
        return self.qr_download_links(obj)

    @admin.display(description=_("groups in the QR now"))
    def wecom_groups(self, obj: GroupCode):
        if not obj.wecom_chat_ids:
            return "-"
        names = dict(
            obj.chats.filter(group__chat_id__in=obj.wecom_chat_ids).values_list(
                "group__chat_id", "group__name"
            )
        )
        return format_html_join(", ", "{}", ((names.get(c) or c,) for c in obj.wecom_chat_ids))

    @admin.display(description=_("joins through the code"))
    def joins(self, obj: GroupCode):
        rows = groupcode_members_by_group(code=obj)
        if not rows:
            return "-"
        return format_html_join(
            "",
            "<div>{} ({}): {} / {}</div>",
            (
                (
                    row["seat"].group,
                    row["seat"].get_status_display(),
                    gettext("%(joined)s joined, %(still_in)s still in")
                    % {"joined": row["joined"], "still_in": row["still_in"]},
                    gettext("%(members)s members") % {"members": row["members"]},
                )
                for row in rows
            ),
        )

    # --- saving through the service --------------------------------------------------------------

    def save_model(self, request, obj, form, change):
        pass  # saved with its groups in save_related, by the service

    def save_related(self, request, form, formsets, change):
        rows = []
        for formset in formsets:
            for index, inline_form in enumerate(formset.forms):
                data = getattr(inline_form, "cleaned_data", None) or {}
                if not data.get("group") or data.get("DELETE"):
                    continue
                status = data.get("status") if "status" in inline_form.changed_data else None
                rows.append(
                    (data.get("position") or 0, index, GroupCodeEntry(group=data["group"], status=status))
                )
            formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        entries = [entry for _position, _index, entry in sorted(rows, key=lambda r: (r[0], r[1]))]
        try:
            groupcode_save(code=form.instance, state=form.cleaned_data["state"], entries=entries)
        except ValidationError as error:
            raise SaveRefused(error) from error

    def delete_model(self, request, obj):
        groupcode_delete(code=obj)

    def delete_view(self, request, object_id, extra_context=None):
        # Without ModelAdmin's transaction, as for saving: the deletion calls WeCom.
        try:
            return self._delete_view(request, object_id, extra_context)
        except ValidationError as error:
            self.message_user(request, "; ".join(error.messages), messages.ERROR)
            return HttpResponseRedirect(reverse("admin:campaigns_groupcode_change", args=[object_id]))

    def get_actions(self, request):
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)  # each deletion calls WeCom: one at a time, from the form
        return actions

    def get_urls(self):
        return [*self.qr_urls(), *super().get_urls()]
