"""Admin of the staff task inbox: every role sees the tasks in its scope (a guide their own, a
store manager those of their staff, administrators all) and marks them done or skipped.

Tasks are made by the SOP engines, so the admin neither adds nor edits them; the detail page shows
what to send. The list is filtered by status (open by default: it is an inbox), staff, type and
due date, and never counts the whole table.
"""

from __future__ import annotations

from django.contrib import admin, messages
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.contrib.filters.admin import ChoicesDropdownFilter, RangeDateTimeFilter
from unfold.decorators import action, display

from customers.admin import AutocompleteIdsFilter
from scrm.admin import ScrmModelAdmin
from scrm.org.scoping import user_role

from ..models import StaffTask
from ..selectors.stafftasks import staff_task_list
from ..services.stafftasks import staff_tasks_finish


class TaskStaffFilter(AutocompleteIdsFilter):
    """Tasks of these staff members (the scope still applies: others' ids match nothing)."""

    title = _("staff member")
    parameter_name = "staff"
    source_model = StaffTask
    source_field = "staff"

    def apply(self, request, queryset, ids):
        return queryset.filter(staff_id__in=ids)


class TaskStatusFilter(admin.SimpleListFilter):
    """Open tasks unless another status (or all) is chosen: the list is an inbox."""

    title = _("status")
    parameter_name = "status"

    def lookups(self, request, model_admin):
        return [("all", _("All")), *StaffTask.Status.choices]

    def choices(self, changelist):
        value = self.value() or StaffTask.Status.OPEN
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request, queryset):
        value = self.value() or StaffTask.Status.OPEN
        return queryset if value == "all" else queryset.filter(status=value)


@admin.register(StaffTask)
class StaffTaskAdmin(ScrmModelAdmin):
    list_display = ("title", "staff", "target", "kind", "due_at", "status", "notified_at")
    list_filter = (
        TaskStatusFilter,
        TaskStaffFilter,
        ("kind", ChoicesDropdownFilter),
        ("due_at", RangeDateTimeFilter),
    )
    list_select_related = ("staff", "customer", "group")
    search_fields = ("^title",)
    ordering = ("due_at", "id")
    actions = ("mark_done", "mark_skipped")
    fields = (
        "title",
        "kind",
        "staff",
        "customer",
        "group",
        "due_at",
        "status",
        "status_changed_at",
        "note",
        "what_to_send",
        "source_key",
        "notified_at",
        "created_at",
    )
    readonly_fields = fields

    def get_queryset(self, request):
        return staff_task_list(user=request.user)

    # Every role has an inbox; which rows it holds is the selector's business (scrm.org.scoping).
    def has_view_permission(self, request, obj=None):
        return user_role(request.user) is not None

    def has_module_permission(self, request):
        return user_role(request.user) is not None

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @display(description=_("customer or group"))
    def target(self, obj):
        return obj.customer or obj.group or "—"

    @display(description=_("what to send"))
    def what_to_send(self, obj):
        content = obj.content or {}
        parts = [format_html("<p style='white-space: pre-wrap'>{}</p>", content.get("text", ""))]
        attachments = content.get("attachments") or []
        if attachments:
            parts.append(
                format_html(
                    "<ul>{}</ul>",
                    format_html_join(
                        "",
                        "<li>{} — {} {}</li>",
                        ((a.get("kind"), a.get("title"), a.get("url") or "") for a in attachments),
                    ),
                )
            )
        groups = content.get("groups") or []
        if groups:
            parts.append(
                format_html(
                    "<p>{}</p><ul>{}</ul>",
                    _("In these groups:"),
                    format_html_join(
                        "", "<li>{}</li>", ((g.get("name") or g.get("chat_id"),) for g in groups)
                    ),
                )
            )
        return format_html_join("", "{}", ((part,) for part in parts))

    def _finish(self, request, queryset, status: str) -> None:
        done = staff_tasks_finish(ids=queryset.values_list("pk", flat=True), status=status, by=request.user)
        self.message_user(
            request,
            ngettext("%(count)d task marked.", "%(count)d tasks marked.", done) % {"count": done},
            messages.SUCCESS if done else messages.WARNING,
        )

    @action(description=_("Mark done"))
    def mark_done(self, request, queryset):
        self._finish(request, queryset, StaffTask.Status.DONE)

    @action(description=_("Mark skipped"))
    def mark_skipped(self, request, queryset):
        self._finish(request, queryset, StaffTask.Status.SKIPPED)
