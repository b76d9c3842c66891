"""Admin of the callback inbox: what WeCom sent, what became of it, and a retry for failures.

Rows are written by the callback view and the processing task only; the admin reads them and
re-enqueues failed ones through ``inbox_retry``. The models of this app are granted to
administrators and marketing managers only (``scrm.org.roles``).
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied
from django.http import HttpResponseRedirect
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_POST
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter
from unfold.decorators import action, display

from scrm.admin import ScrmModelAdmin

from .models import CallbackInbox, SyncRun
from .services import inbox_retry
from .sync import SyncBusy, sync_enqueue, sync_steps


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


# --- sync runs ------------------------------------------------------------------------------------

STATE_COLOURS = {"pending": "#9ca3af", "running": "#3b82f6", "done": "#22c55e", "failed": "#ef4444"}


def progress_bars(run: SyncRun):
    """One bar per step: done of total, coloured by the step's state."""
    rows = []
    # JSON objects keep no order on PostgreSQL: show the steps in the order they run.
    order = {step.name: i for i, step in enumerate(sync_steps())}
    for step, entry in sorted(
        run.progress.items(), key=lambda item: (order.get(item[0], len(order)), item[0])
    ):
        done, total = entry.get("done") or 0, entry.get("total")
        percent = (
            min(100, round(100 * done / total)) if total else (100 if entry.get("state") == "done" else 0)
        )
        rows.append(
            (
                step,
                STATE_COLOURS.get(entry.get("state"), "#9ca3af"),
                percent,
                done,
                total if total is not None else "?",
            )
        )
    return format_html_join(
        "",
        '<div style="display:flex;align-items:center;gap:.5rem;min-width:16rem;margin:.1rem 0">'
        '<span style="width:5rem">{}</span>'
        '<span style="flex:1;height:.5rem;background:#e5e7eb;border-radius:.25rem;overflow:hidden">'
        '<span style="display:block;height:100%;background:{};width:{}%"></span></span>'
        '<span style="white-space:nowrap">{} / {}</span></div>',
        rows,
    )


@admin.register(SyncRun)
class SyncRunAdmin(ScrmModelAdmin):
    """The syncs from WeCom: read-only, with their progress, and buttons to start one."""

    list_display = ("id", "show_status", "mode", "trigger", "started_at", "finished_at", "show_progress")
    list_filter = (("status", ChoicesDropdownFilter), "mode", "trigger")
    readonly_fields = (
        "id",
        "status",
        "mode",
        "trigger",
        "occurrence",
        "created_at",
        "started_at",
        "heartbeat_at",
        "finished_at",
        "show_progress",
        "show_counts",
        "error",
    )
    fields = readonly_fields

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def changelist_view(self, request, extra_context=None):
        active = SyncRun.objects.filter(status__in=SyncRun.ACTIVE).exists()
        return super().changelist_view(
            request,
            {
                **(extra_context or {}),
                "sync_active": active,
                "sync_buttons": self.has_sync_permission(request),
            },
        )

    def get_urls(self):
        # Starting a sync changes state and costs WeCom calls: POST only, under the admin's CSRF
        # check, so that a link or an image on another page cannot start one. The buttons are
        # forms in the changelist's template.
        def start(mode: str):
            @require_POST
            def view(request):
                if not self.has_sync_permission(request):
                    raise PermissionDenied
                return self._start(request, mode)

            return self.admin_site.admin_view(view)

        return [
            path("sync-incremental/", start(SyncRun.Mode.INCREMENTAL), name="wecom_syncrun_sync_incremental"),
            path("sync-full/", start(SyncRun.Mode.FULL), name="wecom_syncrun_sync_full"),
            *super().get_urls(),
        ]

    def has_sync_permission(self, request, obj=None):
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.add_{opts.model_name}")

    @display(
        description=_("status"),
        ordering="status",
        label={
            SyncRun.Status.QUEUED: "info",
            SyncRun.Status.RUNNING: "warning",
            SyncRun.Status.DONE: "success",
            SyncRun.Status.FAILED: "danger",
        },
    )
    def show_status(self, obj: SyncRun):
        return obj.status, obj.get_status_display()

    @admin.display(description=_("progress"))
    def show_progress(self, obj: SyncRun):
        return progress_bars(obj)

    @admin.display(description=_("counts"))
    def show_counts(self, obj: SyncRun):
        return format_html_join(
            "",
            "<div><strong>{}</strong>: {}</div>",
            (
                (step, ", ".join(f"{what} {n}" for what, n in sorted(counts.items())))
                for step, counts in obj.counts.items()
            ),
        ) or format_html("{}", "-")

    def _start(self, request, mode: str):
        try:
            run = sync_enqueue(mode=mode, trigger=SyncRun.Trigger.ADMIN)
        except SyncBusy as busy:
            self.message_user(request, str(busy), messages.WARNING)
        else:
            self.message_user(
                request,
                _("Sync #%(id)s queued; its progress shows below.") % {"id": run.pk},
                messages.SUCCESS,
            )
        return HttpResponseRedirect(reverse("admin:wecom_syncrun_changelist"))
