"""Admin of the callback inbox: what WeCom sent, what became of it, and a retry for failures.

Rows are written by the callback view and the processing task only; the admin reads them and
re-enqueues failed ones through ``inbox_retry``. The models of this app are granted to
administrators and marketing managers only (``scrm.org.roles``).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter
from unfold.decorators import action, display

from scrm.admin import ScrmModelAdmin

from .models import CallbackInbox
from .services import inbox_retry


@admin.register(CallbackInbox)
class CallbackInboxAdmin(ScrmModelAdmin):
    list_display = (
        "id",
        "show_status",
        "event",
        "change_type",
        "received_at",
        "processed_at",
        "attempts",
        "short_error",
    )
    list_display_links = ("id", "event")
    list_filter = (
        ("status", ChoicesDropdownFilter),
        "event",
        "change_type",
        ("received_at", RangeDateTimeFilter),
    )
    search_fields = ("=dedupe_key",)
    readonly_fields = (
        "dedupe_key",
        "event",
        "change_type",
        "status",
        "attempts",
        "received_at",
        "processed_at",
        "last_error",
        "xml",
        "payload",
    )
    fields = readonly_fields
    actions = ["retry"]

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_retry_permission(self, request, obj=None):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.change_{opts.model_name}")

    @display(
        description=_("status"),
        ordering="status",
        label={
            CallbackInbox.Status.RECEIVED: "info",
            CallbackInbox.Status.PROCESSING: "warning",
            CallbackInbox.Status.DONE: "success",
            CallbackInbox.Status.FAILED: "danger",
        },
    )
    def show_status(self, obj: CallbackInbox):
        return obj.status, obj.get_status_display()

    @admin.display(description=_("last error"))
    def short_error(self, obj: CallbackInbox) -> str:
        return obj.last_error[:80]

    @action(description=_("Retry selected failed callbacks"), permissions=["retry"])
    def retry(self, request, queryset):
        count = inbox_retry(inbox_ids=list(queryset.values_list("pk", flat=True)[:10_000]))
        self.message_user(
            request,
            ngettext(
                "%(count)d failed callback enqueued again.",
                "%(count)d failed callbacks enqueued again.",
                count,
            )
            % {"count": count},
            messages.SUCCESS if count else messages.WARNING,
        )
