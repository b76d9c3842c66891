"""Admin of the staff lifecycle: reassignment policies, transfer jobs, the customer pool.

- Policies say where a departed member's customers go; the form refuses a successor policy
  without an active successor and a second corp default (form errors, never a 500).
- The departure preview (``preview/<staff id>/``) shows who would go to whom, with counts, for any
  member (for an active one it is a "what if"); for a departed one it has the "Reassign now"
  button, which plans the job with ``departure_plan`` and starts it with ``transfer_job_start``.
- A transfer job's page is read-only: counts by status with a progress bar and a chart, the
  reasons customers did not move, its customers page by page (filtered by status or reason), the
  sections other apps register in ``transfer_job_sections`` (the groups moved with the customers)
  and the audit log. Its "add" page is the on-job transfer (``onjob_transfer_create``); so is the
  customer list's "Transfer to a colleague" action.
- The pool lists open entries by default; "Claim for…" hands the chosen entries to one member
  through ``pool_claim``, which applies the daily claim limit.

A policy is one row saved by its form (and audited); every other write goes through a service of
``customers.transfers``, and the views here only read, ask and redirect.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.widgets import AutocompleteSelect
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q, QuerySet
from django.http import HttpResponseNotAllowed, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from unfold.contrib.filters.admin import ChoicesDropdownFilter
from unfold.contrib.filters.admin.dropdown_filters import DropdownFilter
from unfold.decorators import action, display
from unfold.forms import AdminForm
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminTextareaWidget, UnfoldAdminTextInputWidget

from scrm.admin import ReadOnlyAdminMixin, ScrmModelAdmin
from scrm.org.audit import audit_record
from scrm.org.models import AuditEntry, Staff
from scrm.org.scoping import scope_for
from scrm.org.selectors import staff_list

from .admin import CustomerAdmin
from .models import (
    Customer,
    Follow,
    PoolEntry,
    TransferBatch,
    TransferItem,
    TransferJob,
    TransferNotice,
    TransferPolicy,
)
from .models.transfers import IN_FLIGHT
from .selectors import customer_list, transfer_job_counts, transfer_job_list
from .transfers.dispatch import transfer_job_start
from .transfers.onjob import ONJOB_MAX_CUSTOMERS, onjob_transfer_create
from .transfers.planning import departure_plan, departure_preview
from .transfers.pool import CLAIM_REFUSALS, pool_claim

#: Extra sections of a transfer job's page, registered by the apps above (groups adds the group
#: chats moved with the customers). Each callable gets the job and returns None (nothing to show)
#: or ``{"title": str, "counts": {label: n}, "columns": [(key, label)], "rows": [dict]}``.
transfer_job_sections: list[Callable[[TransferJob], dict | None]] = []

#: Customers shown per page of a job; the next page starts after the last id shown.
ITEMS_SHOWN = 100
AUDIT_SHOWN = 50
#: Ids per query when checking typed-in customer ids (well under SQLite's 32,766 variables).
IDS_CHUNK = 5_000
#: Colleagues shown in the preview's table and chart.
PREVIEW_ROWS_SHOWN = 200

ItemStatus = TransferItem.Status
#: Item statuses that will not change any more: the share of them is the job's progress.
FINAL_ITEM_STATUSES = tuple(value for value in ItemStatus.values if value not in IN_FLIGHT)
#: Statuses of the customers that did not move, listed with their reason.
NOT_MOVED_STATUSES = (
    ItemStatus.BLOCKED,
    ItemStatus.FAILED,
    ItemStatus.POOLED,
    ItemStatus.REFUSED,
    ItemStatus.TAKEOVER_FULL,
    ItemStatus.NO_RECORD,
)
STATUS_COLOURS = {
    ItemStatus.PLANNED: "#94a3b8",
    ItemStatus.SENDING: "#60a5fa",
    ItemStatus.WAITING: "#fbbf24",
    ItemStatus.DONE: "#16a34a",
    ItemStatus.REFUSED: "#f97316",
    ItemStatus.TAKEOVER_FULL: "#fb923c",
    ItemStatus.NO_RECORD: "#a855f7",
    ItemStatus.FAILED: "#dc2626",
    ItemStatus.BLOCKED: "#b91c1c",
    ItemStatus.POOLED: "#0ea5e9",
    ItemStatus.CANCELED: "#64748b",
}
JOB_STATUS_LABELS = {
    TransferJob.Status.PLANNED: "info",
    TransferJob.Status.RUNNING: "warning",
    TransferJob.Status.WAITING: "warning",
    TransferJob.Status.DONE: "success",
    TransferJob.Status.CANCELED: "danger",
}


# --- Reads, within the reader's data scope --------------------------------------------------------


def pool_entries_visible(user) -> QuerySet[PoolEntry]:
    """Open and claimed pool entries: corp-wide for every login with a role, as ``pool_list``
    has the open ones (a pooled customer has no owner, so no store's scope holds them)."""
    if scope_for(user).is_empty:
        return PoolEntry.objects.none()
    return PoolEntry.objects.select_related("customer", "follow__staff", "claimed_by")


def progress_of(counts: dict[str, int]) -> tuple[int, int, int]:
    """(final, total, percent) of a job's items."""
    total = sum(counts.values())
    final = sum(n for status, n in counts.items() if status in FINAL_ITEM_STATUSES)
    return final, total, round(100 * final / total) if total else 0


def progress_bar(final: int, total: int, percent: int) -> str:
    return format_html(
        '<div class="flex flex-col gap-1 min-w-32 transfer-progress">'
        '<span class="text-xs">{}</span>'
        '<div class="w-full h-2 rounded-default bg-base-200 dark:bg-base-800" role="progressbar" '
        'aria-valuemin="0" aria-valuemax="100" aria-valuenow="{}">'
        '<div class="h-2 rounded-default bg-primary-600" style="width: {}%"></div></div></div>',
        gettext("%(final)s of %(total)s final") % {"final": final, "total": total},
        percent,
        percent,
    )


def bar_chart(labels: list[str], values: list[int], *, label: str, colours: list[str] | None = None) -> str:
    dataset = {"label": label, "data": values, "backgroundColor": colours or "var(--color-primary-600)"}
    return json.dumps({"labels": labels, "datasets": [dataset]})


BAR_CHART_OPTIONS = json.dumps(
    {
        "indexAxis": "y",
        "maintainAspectRatio": False,
        "plugins": {"legend": {"display": False}},
        "scales": {"x": {"ticks": {"precision": 0}}},
    }
)


def errors_of(error: ValidationError) -> list[str]:
    return [str(m) for m in error.messages]


#: The services' argument names that our forms call differently.
SERVICE_FIELD_NAMES = {"message": "transfer_message"}


def add_service_errors(form: forms.Form, error: ValidationError) -> None:
    """A service's ValidationError as form errors, on the fields it names when the form has them."""
    if hasattr(error, "error_dict"):
        for field, field_errors in error.error_dict.items():
            field = SERVICE_FIELD_NAMES.get(field, field)
            form.add_error(field if field in form.fields else None, field_errors)
    else:
        form.add_error(None, error)


class EmptyStateMixin:
    """On an empty, unfiltered list, say what the page is for."""

    empty_hint = ""

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET" and not request.GET and not self.get_queryset(request).exists():
            self.message_user(request, self.empty_hint, messages.INFO)
        return super().changelist_view(request, extra_context)


def staff_autocomplete(field_name: str, admin_site) -> AutocompleteSelect:
    """The admin's staff autocomplete (scoped by the staff admin's own list) for a plain form."""
    return AutocompleteSelect(TransferJob._meta.get_field(field_name), admin_site)


# --- Policies -------------------------------------------------------------------------------------


class TransferPolicyForm(forms.ModelForm):
    class Meta:
        model = TransferPolicy
        fields = ("department", "strategy", "successor", "capacity", "on_refusal")

    def clean(self):
        cleaned = super().clean()
        strategy = cleaned.get("strategy")
        successor = cleaned.get("successor")
        if strategy == TransferPolicy.Strategy.SUCCESSOR:
            if successor is None:
                self.add_error("successor", _("Choose the successor who takes the customers over."))
            elif successor.status != Staff.Status.ACTIVE:
                self.add_error(
                    "successor",
                    _("%(name)s is %(status)s: the successor must be an active member.")
                    % {"name": successor.name, "status": successor.get_status_display()},
                )
            elif not successor.contact_enabled:
                self.add_error(
                    "successor",
                    _("%(name)s has no customer contact in WeCom and cannot take customers over.")
                    % {"name": successor.name},
                )
        elif successor is not None and strategy:
            self.add_error(
                "successor",
                _("A successor is used only when customers go to “a named successor”: clear it."),
            )
        if "department" in cleaned and cleaned["department"] is None:
            # One corp default; the database would refuse a second one with an IntegrityError.
            others = TransferPolicy.objects.filter(department__isnull=True).exclude(pk=self.instance.pk)
            if others.exists():
                self.add_error(
                    "department",
                    _("There is already a corp default policy: edit it, or choose a department."),
                )
        return cleaned


@admin.register(TransferPolicy)
class TransferPolicyAdmin(EmptyStateMixin, ScrmModelAdmin):
    form = TransferPolicyForm
    list_display = ("where", "strategy", "successor", "capacity_display", "on_refusal", "updated_at")
    list_select_related = ("department", "successor")
    list_filter = (("strategy", ChoicesDropdownFilter), ("on_refusal", ChoicesDropdownFilter))
    search_fields = ("department__name", "successor__name", "=successor__userid")
    search_help_text = _("A department's or a successor's name, or the successor's whole userid.")
    autocomplete_fields = ("department", "successor")
    fields = ("department", "strategy", "successor", "capacity", "on_refusal")
    empty_hint = _(
        "No reassignment policy yet: a departed member's customers go to the customer pool. Add a "
        "corp default (leave the department empty), then policies for departments that differ; a "
        "department's policy covers the departments below it."
    )

    @display(description=_("department"), ordering="department__path")
    def where(self, obj):
        return obj.department.name if obj.department_id else gettext("corp default")

    @display(description=_("customer capacity"))
    def capacity_display(self, obj):
        if obj.capacity is not None:
            return number_format(obj.capacity, force_grouping=True)
        return gettext("%(n)s (default)") % {
            "n": number_format(settings.TRANSFER_TAKEOVER_CAPACITY, force_grouping=True)
        }

    def save_model(self, request, obj, form, change):
        super().save_model(request, obj, form, change)
        audit_record(
            "transfer_policy.changed" if change else "transfer_policy.added",
            target=obj,
            actor=request.user,
            details={field: str(form.cleaned_data.get(field) or "") for field in form.changed_data},
        )

    def delete_model(self, request, obj):
        audit_record("transfer_policy.deleted", target=obj, actor=request.user)
        super().delete_model(request, obj)

    def delete_queryset(self, request, queryset):
        for policy in queryset.select_related("department"):  # a handful: one per department at most
            audit_record("transfer_policy.deleted", target=policy, actor=request.user)
        super().delete_queryset(request, queryset)


# --- Transfer jobs --------------------------------------------------------------------------------


class CustomerIdsField(forms.CharField):
    """Customer ids separated by commas, spaces or lines."""

    def to_python(self, value):
        value = super().to_python(value)
        parts = [p for p in re.split(r"[\s,，]+", value) if p]
        if not all(p.isascii() and p.isdigit() and len(p) < 19 for p in parts):
            raise ValidationError(_("Customer ids (numbers), separated by commas, spaces or lines."))
        return sorted({int(p) for p in parts})


class OnjobTransferForm(forms.ModelForm):
    """An on-job transfer: chosen customers (ids) or a segment, from one member to another."""

    customer_ids = CustomerIdsField(
        label=_("customers"),
        required=False,
        widget=UnfoldAdminTextareaWidget(attrs={"rows": 3}),
        help_text=_("Customer ids, separated by commas, spaces or lines; or choose a segment instead."),
    )

    class Meta:
        model = TransferJob
        fields = ("handover", "takeover", "customer_ids", "segment", "transfer_message")
        labels = {"handover": _("from (handover)"), "takeover": _("to (takeover)")}
        help_texts = {
            "segment": _(
                "The customers of this segment: the handover's move, the others are listed as not theirs."
            ),
            "takeover": _("An active colleague with customer contact."),
        }

    def __init__(self, *args, user=None, **kwargs):
        super().__init__(*args, **kwargs)
        self.user = user
        self.fields["takeover"].required = True

    def clean(self):
        cleaned = super().clean()
        ids, segment = cleaned.get("customer_ids") or [], cleaned.get("segment")
        if "customer_ids" in cleaned and not ids and not segment:
            self.add_error("customer_ids", _("Give customer ids or choose a segment."))
        elif ids and segment:
            self.add_error("segment", _("Give customer ids or a segment, not both."))
        elif ids and self.user is not None and len(ids) <= ONJOB_MAX_CUSTOMERS:
            # Only customers the user may see; the service checks the count and WeCom's rules.
            visible = customer_list(user=self.user)
            known: set[int] = set()
            for start in range(0, len(ids), IDS_CHUNK):
                chunk = ids[start : start + IDS_CHUNK]
                known.update(visible.filter(pk__in=chunk).values_list("pk", flat=True))
            unknown = [str(i) for i in ids if i not in known]
            if unknown:
                shown = ", ".join(unknown[:20]) + (" …" if len(unknown) > 20 else "")
                self.add_error("customer_ids", _("Unknown customer ids: %(ids)s.") % {"ids": shown})
        return cleaned

    def _post_clean(self):
        pass  # the job is made by onjob_transfer_create, not saved from this form


@admin.register(TransferJob)
class TransferJobAdmin(EmptyStateMixin, ScrmModelAdmin):
    list_display = ("job", "kind", "status_label", "handover", "takeover_display", "progress", "created_at")
    list_select_related = ("handover", "takeover")
    list_filter = (
        ("kind", ChoicesDropdownFilter),
        ("status", ChoicesDropdownFilter),
        ("trigger", ChoicesDropdownFilter),
    )
    search_fields = ("=handover__userid", "^handover__name", "=takeover__userid", "^takeover__name")
    search_help_text = _("The beginning of a member's name, or their whole userid (from or to).")
    autocomplete_fields = ("handover", "takeover", "segment")
    sortable_by = ("created_at",)
    empty_hint = _(
        "No transfer job yet. A job starts when a member leaves (policy permitting), when you press "
        "“Reassign now” on a departed member's preview, or when you transfer customers on-job: "
        "“Add transfer job” here, or “Transfer to a colleague” on the customer list."
    )

    def get_queryset(self, request):
        return transfer_job_list(user=request.user)

    def has_change_permission(self, request, obj=None):
        return False  # a job moves by its services; its page is read-only

    def has_delete_permission(self, request, obj=None):
        return False  # its items are the history of who held each customer

    def prepare_page(self, request, results):
        results = list(super().prepare_page(request, results))
        counts = transfer_job_counts([job.pk for job in results])
        for job in results:
            job.item_counts = counts.get(job.pk, {})
        return results

    @display(description=_("job"), ordering="id")
    def job(self, obj):
        return f"#{obj.pk}"

    @display(description=_("status"), label=JOB_STATUS_LABELS)
    def status_label(self, obj):
        return obj.status, obj.get_status_display()

    @display(description=_("to"))
    def takeover_display(self, obj):
        if obj.takeover_id:
            return obj.takeover.name
        return obj.get_strategy_display() if obj.strategy else "-"

    @display(description=_("progress"))
    def progress(self, obj):
        counts = getattr(obj, "item_counts", None)
        if counts is None:
            counts = transfer_job_counts([obj.pk])[obj.pk]
        return progress_bar(*progress_of(counts))

    # --- URLs -------------------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("preview/<int:staff_id>/", view(self.preview_view), name="customers_transferjob_preview"),
            path(
                "preview/<int:staff_id>/reassign/",
                view(self.reassign_view),
                name="customers_transferjob_reassign",
            ),
            path("<int:pk>/start/", view(self.start_view), name="customers_transferjob_start"),
            *super().get_urls(),
        ]

    # --- the job's page ---------------------------------------------------------------------------

    def change_view(self, request, object_id, form_url="", extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        if not (object_id.isascii() and object_id.isdigit()):
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        job = self.get_queryset(request).filter(pk=int(object_id)).first()
        if job is None:
            return self._get_obj_does_not_exist_redirect(request, self.opts, object_id)
        counts = transfer_job_counts([job.pk])[job.pk]
        final, total, percent = progress_of(counts)
        labels = dict(ItemStatus.choices)
        status_rows = [(value, labels[value], counts.get(value, 0)) for value in ItemStatus.values]
        shown_rows = [row for row in status_rows if row[2]]

        status = request.GET.get("status") or ""
        reason = request.GET.get("reason") or ""
        status = status if status in ItemStatus.values else ""
        reason = reason if reason in TransferItem.Reason.values else ""
        items = job.items.select_related("customer", "takeover").order_by("id")
        if status:
            items = items.filter(status=status)
        if reason:
            items = items.filter(reason=reason)
        after = request.GET.get("after", "")
        if after.isascii() and after.isdigit() and len(after) < 19:
            items = items.filter(id__gt=int(after))
        rows = list(items[: ITEMS_SHOWN + 1])
        more = len(rows) > ITEMS_SHOWN
        rows = rows[:ITEMS_SHOWN]
        query = {"status": status, "reason": reason}
        next_url = (
            "?" + urlencode({**{k: v for k, v in query.items() if v}, "after": rows[-1].id}) if more else None
        )
        first_url = "?" + urlencode({k: v for k, v in query.items() if v}) if after else None

        reason_labels = dict(TransferItem.Reason.choices)
        not_moved = [
            {
                "status": labels[row["status"]],
                "status_value": row["status"],
                "reason": reason_labels.get(row["reason"], row["reason"] or "-"),
                "reason_value": row["reason"],
                "count": row["n"],
            }
            for row in job.items.filter(status__in=NOT_MOVED_STATUSES)
            .order_by()
            .values("status", "reason")
            .annotate(n=Count("id"))
            .order_by("-n")
        ]
        sections = [section for build in transfer_job_sections if (section := build(job))]
        for section in sections:
            section.setdefault("counts", {})
            section.setdefault("rows", [])
            columns = section.get("columns") or (list(section["rows"][0]) if section["rows"] else [])
            section["columns"] = [c if isinstance(c, (list, tuple)) else (c, c) for c in columns]
            section["table"] = [
                [row.get(key, "") for key, _label in section["columns"]] for row in section["rows"]
            ]

        audit = AuditEntry.objects.filter(
            Q(target_type=TransferJob._meta.label_lower, target_id=str(job.pk))
            | Q(target_type=Staff._meta.label_lower, target_id=str(job.handover_id))
        ).select_related("actor")[:AUDIT_SHOWN]
        batches = dict(
            job.batches.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
        )
        batch_labels = dict(TransferBatch.Status.choices)
        batch_errors = list(
            job.batches.exclude(error="").order_by("-id").values("id", "error", "takeover__name")[:10]
        )
        notices = list(TransferNotice.objects.filter(job=job).select_related("staff").order_by("id")[:50])
        may_start = job.status == TransferJob.Status.PLANNED and request.user.has_perm(
            "customers.add_transferjob"
        )
        context = {
            **self.admin_site.each_context(request),
            "title": str(job),
            "opts": self.opts,
            "original": job,
            "job": job,
            "status_rows": status_rows,
            "final": final,
            "total": total,
            "percent": percent,
            "chart": bar_chart(
                [str(label) for _v, label, _n in shown_rows],
                [n for _v, _l, n in shown_rows],
                label=gettext("customers"),
                colours=[STATUS_COLOURS.get(v, "#94a3b8") for v, _l, _n in shown_rows],
            ),
            "chart_options": BAR_CHART_OPTIONS,
            "not_moved": not_moved,
            "items": rows,
            "next_url": next_url,
            "first_url": first_url,
            "status": status,
            "reason": reason,
            "statuses": ItemStatus.choices,
            "reasons": TransferItem.Reason.choices,
            "sections": sections,
            "audit": audit,
            "batches": [(batch_labels.get(k, k), n) for k, n in batches.items()],
            "batch_errors": batch_errors,
            "notices": notices,
            "may_start": may_start,
            "preview_url": reverse("admin:customers_transferjob_preview", args=[job.handover_id])
            if job.kind == TransferJob.Kind.RESIGNED
            else None,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/customers/transferjob/job.html", context)

    def start_view(self, request, pk: int):
        """Start a planned job (automatic departures wait here when TRANSFER_AUTO_START is off)."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("customers.add_transferjob"):
            raise PermissionDenied
        job = get_object_or_404(self.get_queryset(request), pk=pk)
        self._start(request, job)
        return HttpResponseRedirect(reverse("admin:customers_transferjob_change", args=[job.pk]))

    def _start(self, request, job: TransferJob) -> None:
        try:
            batches = transfer_job_start(job_id=job.pk)
        except ValidationError as error:
            self.message_user(request, " ".join(errors_of(error)), messages.ERROR)
            return
        self.message_user(
            request,
            ngettext(
                "Job #%(job)s started: %(n)s batch is being handed to WeCom.",
                "Job #%(job)s started: %(n)s batches are being handed to WeCom.",
                batches,
            )
            % {"job": job.pk, "n": batches},
            messages.SUCCESS,
        )

    # --- departure preview ------------------------------------------------------------------------

    def _staff(self, request, staff_id: int) -> Staff:
        if not self.has_view_permission(request):
            raise PermissionDenied
        return get_object_or_404(staff_list(user=request.user), pk=staff_id)

    def preview_view(self, request, staff_id: int):
        staff = self._staff(request, staff_id)
        preview = departure_preview(staff)
        rows = sorted(preview.rows, key=lambda row: -row.customers)[:PREVIEW_ROWS_SHOWN]
        to_colleagues = sum(row.customers for row in preview.rows if row.takeover is not None)
        pooled = preview.pooled + sum(row.customers for row in preview.rows if row.takeover is None)
        chart_rows = [
            (row.takeover.name if row.takeover else gettext("the customer pool"), row.customers)
            for row in rows
        ]
        if preview.pooled and not any(row.takeover is None for row in rows):
            chart_rows.append((gettext("the customer pool"), preview.pooled))
        departed = staff.status == Staff.Status.DEPARTED
        strategy_labels = dict(TransferPolicy.Strategy.choices)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Reassignment of %(name)s") % {"name": staff.name},
            "opts": self.opts,
            "staff": staff,
            "staff_url": reverse("admin:org_staff_change", args=[staff.pk]),
            "preview": preview,
            "strategy": strategy_labels.get(preview.strategy, preview.strategy),
            "rows": rows,
            "more_rows": len(preview.rows) - len(rows),
            "to_colleagues": to_colleagues,
            "pooled": pooled,
            "chart": bar_chart(
                [label for label, _n in chart_rows], [n for _l, n in chart_rows], label=gettext("customers")
            ),
            "chart_options": BAR_CHART_OPTIONS,
            "departed": departed,
            "auto_start": settings.TRANSFER_AUTO_START,
            "can_reassign": departed and request.user.has_perm("customers.add_transferjob"),
            "jobs": list(TransferJob.objects.filter(handover=staff).select_related("takeover")[:20]),
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/customers/transferjob/preview.html", context)

    def reassign_view(self, request, staff_id: int):
        """The "Reassign now" button: plan the departed member's remaining customers, start the job."""
        if request.method != "POST":
            return HttpResponseNotAllowed(["POST"])
        if not request.user.has_perm("customers.add_transferjob"):
            raise PermissionDenied
        staff = self._staff(request, staff_id)
        preview_url = reverse("admin:customers_transferjob_preview", args=[staff.pk])
        if staff.status != Staff.Status.DEPARTED:
            self.message_user(
                request,
                gettext("%(name)s has not left: move their customers with an on-job transfer instead.")
                % {"name": staff.name},
                messages.ERROR,
            )
            return HttpResponseRedirect(preview_url)
        try:
            job = departure_plan(staff_id=staff.pk, trigger=TransferJob.Trigger.ADMIN, actor=request.user)
        except ValidationError as error:
            self.message_user(request, " ".join(errors_of(error)), messages.ERROR)
            return HttpResponseRedirect(preview_url)
        if job is None:
            self.message_user(
                request,
                gettext("Nothing left to reassign: every customer is already moving, moved or in the pool."),
                messages.INFO,
            )
            return HttpResponseRedirect(preview_url)
        if job.status != TransferJob.Status.PLANNED:
            # Every customer went to the pool: nothing to hand to WeCom.
            self.message_user(
                request,
                gettext("Job #%(job)s planned: every customer went to the pool.") % {"job": job.pk},
                messages.SUCCESS,
            )
        elif settings.TRANSFER_AUTO_START:
            # departure_plan starts the job itself after commit when automatic start is on.
            self.message_user(
                request, gettext("Job #%(job)s planned and started.") % {"job": job.pk}, messages.SUCCESS
            )
        else:
            self._start(request, job)
        return HttpResponseRedirect(reverse("admin:customers_transferjob_change", args=[job.pk]))

    # --- the on-job transfer ("add") --------------------------------------------------------------

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name in ("handover", "takeover"):
            members = staff_list(user=request.user)
            if db_field.name == "takeover":
                members = members.filter(status=Staff.Status.ACTIVE)
            kwargs["queryset"] = members
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def add_view(self, request, form_url="", extra_context=None):
        if not self.has_add_permission(request):
            raise PermissionDenied
        form_class = self.get_form(request, None, form=OnjobTransferForm, fields=None, change=False)
        form = form_class(request.POST if request.method == "POST" else None, user=request.user)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            target = (
                {"segment": data["segment"]}
                if data.get("segment")
                else {"customer_ids": data["customer_ids"]}
            )
            try:
                job = onjob_transfer_create(
                    handover=data["handover"],
                    takeover=data["takeover"],
                    message=data.get("transfer_message") or "",
                    actor=request.user,
                    trigger=TransferJob.Trigger.ADMIN,
                    **target,
                )
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                return self._onjob_created(request, job)
        fieldsets = [
            (None, {"fields": ("handover", "takeover")}),
            (_("Customers"), {"fields": ("customer_ids", "segment")}),
            (None, {"fields": ("transfer_message",)}),
        ]
        admin_form = AdminForm(form, fieldsets, {}, (), model_admin=self)
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("On-job transfer"),
            "subtitle": None,
            "adminform": admin_form,
            "object_id": None,
            "original": None,
            "is_popup": False,
            "to_field": None,
            "media": self.media + admin_form.media,
            "inline_admin_formsets": [],
            "errors": helpers.AdminErrorList(form, []),
            "preserved_filters": self.get_preserved_filters(request),
            **(extra_context or {}),
        }
        return self.render_change_form(request, context, add=True, form_url=form_url)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if add:
            context.update({"show_save_and_add_another": False, "show_save_and_continue": False})
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _onjob_created(self, request, job: TransferJob):
        self.message_user(request, onjob_message(job), messages.SUCCESS)
        return HttpResponseRedirect(reverse("admin:customers_transferjob_change", args=[job.pk]))


def onjob_message(job: TransferJob) -> str:
    counts = dict(
        job.items.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    blocked = counts.get(ItemStatus.BLOCKED, 0)
    moving = sum(n for status, n in counts.items() if status != ItemStatus.BLOCKED)
    text = ngettext(
        "On-job transfer #%(job)s: %(n)s customer to hand over.",
        "On-job transfer #%(job)s: %(n)s customers to hand over.",
        moving,
    ) % {"job": job.pk, "n": moving}
    if blocked:
        text += " " + ngettext(
            "%(n)s cannot move: see the reason below.", "%(n)s cannot move: see the reasons below.", blocked
        ) % {"n": blocked}
    return text


# --- The customer list's "Transfer to a colleague" ------------------------------------------------


class OnjobActionForm(forms.Form):
    handover = forms.TypedChoiceField(
        label=_("from (handover)"),
        coerce=int,
        widget=UnfoldAdminSelectWidget,
        help_text=_("Among the active followers of the selected customers; only their customers move."),
    )
    takeover = forms.ModelChoiceField(label=_("to (takeover)"), queryset=Staff.objects.none())
    transfer_message = forms.CharField(
        label=_("message to the customers"),
        max_length=200,
        required=False,
        widget=UnfoldAdminTextInputWidget,
        help_text=_("Shown to the customers; WeCom's default text when empty."),
    )

    def __init__(self, *args, request, handover_choices, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["handover"].choices = handover_choices
        # The widget first: setting the queryset hands the widget its choices.
        self.fields["takeover"].widget = staff_autocomplete("takeover", admin.site)
        self.fields["takeover"].queryset = staff_list(user=request.user).filter(status=Staff.Status.ACTIVE)

    def clean(self):
        cleaned = super().clean()
        if (
            cleaned.get("handover")
            and cleaned.get("takeover")
            and cleaned["handover"] == cleaned["takeover"].pk
        ):
            self.add_error("takeover", _("The takeover must be another member than the handover."))
        return cleaned


HANDOVER_CHOICES_SHOWN = 200


def handover_choices(queryset: QuerySet[Customer]) -> list[tuple[int, str]]:
    """The active followers of the selected customers, those following most of them first."""
    followers = (
        Follow.objects.filter(customer__in=queryset.order_by().values("pk"), status=Follow.Status.ACTIVE)
        .order_by()
        .values("staff_id", "staff__name", "staff__userid")
        .annotate(n=Count("id"))
        .order_by("-n", "staff__name")[:HANDOVER_CHOICES_SHOWN]
    )
    return [
        (
            row["staff_id"],
            ngettext(
                "%(name)s (%(userid)s): follows %(n)s selected customer",
                "%(name)s (%(userid)s): follows %(n)s selected customers",
                row["n"],
            )
            % {"name": row["staff__name"], "userid": row["staff__userid"], "n": row["n"]},
        )
        for row in followers
    ]


@action(description=_("Transfer to a colleague (on-job)"), permissions=["transfer"])
def transfer_onjob(modeladmin, request, queryset):
    """The selected customers of one follower handed to a colleague (WeCom's on-job transfer)."""
    choices = handover_choices(queryset)
    form = OnjobActionForm(
        request.POST if "apply" in request.POST else None, request=request, handover_choices=choices
    )
    if form.is_valid():
        ids = modeladmin._selected_ids(request, queryset)
        if ids is None:
            return None
        handover = get_object_or_404(staff_list(user=request.user), pk=form.cleaned_data["handover"])
        try:
            job = onjob_transfer_create(
                handover=handover,
                takeover=form.cleaned_data["takeover"],
                customer_ids=ids,
                message=form.cleaned_data.get("transfer_message") or "",
                actor=request.user,
                trigger=TransferJob.Trigger.ADMIN,
            )
        except ValidationError as error:
            add_service_errors(form, error)
        else:
            modeladmin.message_user(request, onjob_message(job), messages.SUCCESS)
            return HttpResponseRedirect(reverse("admin:customers_transferjob_change", args=[job.pk]))
    selected_count = queryset.order_by().values("pk")[: settings.SCRM_ADMIN_BULK_ACTION_LIMIT + 1].count()
    context = {
        **modeladmin.admin_site.each_context(request),
        "title": gettext("Transfer to a colleague"),
        "opts": modeladmin.opts,
        "form": form,
        "media": modeladmin.media + form.media,
        "action": "transfer_onjob",
        "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
        "select_across": request.POST.get("select_across", "0"),
        "selected_count": selected_count,
        "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
        "has_followers": bool(choices),
    }
    request.current_app = modeladmin.admin_site.name
    return TemplateResponse(request, "admin/customers/transferjob/onjob_action.html", context)


def may_transfer(model_admin, request) -> bool:
    """Whoever may create transfer jobs may start one from the customer list."""
    return request.user.has_perm("customers.add_transferjob")


# The customer list's other actions are declared in customers/admin.py; this one lives with the
# transfers it starts, and joins that list here (with the permission check it names).
CustomerAdmin.has_transfer_permission = may_transfer
CustomerAdmin.actions = (*CustomerAdmin.actions, transfer_onjob)


# --- The customer pool ----------------------------------------------------------------------------


class PoolStateFilter(DropdownFilter):
    """Open entries (waiting to be claimed) by default."""

    title = _("state")
    parameter_name = "state"
    all_option = None

    def lookups(self, request, model_admin):
        return (("open", _("waiting to be claimed")), ("claimed", _("claimed")), ("all", _("all")))

    def value(self):
        return super().value() or "open"

    def queryset(self, request, queryset):
        value = self.value()
        if value == "all":
            return queryset
        return queryset.filter(claimed_at__isnull=value == "open")


class ClaimForm(forms.Form):
    staff = forms.ModelChoiceField(
        label=_("claim for"),
        queryset=Staff.objects.none(),
        help_text=_("An active member with customer contact; today's claim limit applies to them."),
    )

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["staff"].widget = staff_autocomplete("takeover", admin.site)
        self.fields["staff"].queryset = staff_list(user=request.user).filter(status=Staff.Status.ACTIVE)


@admin.register(PoolEntry)
class PoolEntryAdmin(ReadOnlyAdminMixin, ScrmModelAdmin):
    list_display = ("customer", "held_by", "reason", "entered_at", "claimed_by", "claimed_at")
    list_select_related = ("customer", "follow__staff", "claimed_by")
    list_filter = (PoolStateFilter, ("reason", ChoicesDropdownFilter))
    search_fields = ("=customer__external_userid", "^customer__name")
    search_help_text = _("The beginning of the customer's name, or their whole external userid.")
    sortable_by = ("entered_at", "claimed_at")
    actions = ("claim_for",)
    list_before_template = "admin/customers/poolentry/intro.html"

    def get_queryset(self, request):
        return pool_entries_visible(request.user)

    def changelist_view(self, request, extra_context=None):
        extra_context = {
            **(extra_context or {}),
            "pool_daily_limit": settings.POOL_DAILY_CLAIM_LIMIT,
            "pool_is_empty": not self.get_queryset(request).filter(claimed_at__isnull=True).exists(),
        }
        return super().changelist_view(request, extra_context)

    def has_claim_permission(self, request):
        return request.user.has_perm("customers.change_poolentry")

    @display(description=_("held by"))
    def held_by(self, obj):
        if obj.follow_id is None:
            return "-"
        staff = obj.follow.staff
        return f"{staff.name} ({staff.get_status_display()})"

    @action(description=_("Claim for…"), permissions=["claim"])
    def claim_for(self, request, queryset):
        form = ClaimForm(request.POST if "apply" in request.POST else None, request=request)
        entry_ids = list(
            queryset.filter(claimed_at__isnull=True).order_by().values_list("pk", flat=True)[:1001]
        )
        if not entry_ids:
            self.message_user(
                request, gettext("The selected customers were claimed already."), messages.WARNING
            )
            return None
        if len(entry_ids) > 1000:
            self.message_user(request, gettext("Claim at most 1,000 customers at once."), messages.ERROR)
            return None
        if form.is_valid():
            staff = form.cleaned_data["staff"]
            try:
                result = pool_claim(staff=staff, entry_ids=entry_ids, actor=request.user)
            except ValidationError as error:
                add_service_errors(form, error)
            else:
                self._claim_messages(request, staff, result)
                return None
        context = {
            **self.admin_site.each_context(request),
            "title": gettext("Claim from the pool"),
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "action": "claim_for",
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "selected_count": len(entry_ids),
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "daily_limit": settings.POOL_DAILY_CLAIM_LIMIT,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/customers/poolentry/claim_action.html", context)

    def _claim_messages(self, request, staff: Staff, result) -> None:
        claimed = len(result.claimed)
        if claimed:
            self.message_user(
                request,
                ngettext(
                    "%(n)s customer claimed for %(name)s: the hand-over to them has started.",
                    "%(n)s customers claimed for %(name)s: the hand-over to them has started.",
                    claimed,
                )
                % {"n": claimed, "name": staff.name},
                messages.SUCCESS,
            )
        if result.refused:
            by_reason: dict[str, int] = {}
            for _entry_id, reason in result.refused:
                label = str(CLAIM_REFUSALS.get(reason, reason))
                by_reason[label] = by_reason.get(label, 0) + 1
            self.message_user(
                request,
                ngettext(
                    "%(n)s customer not claimed: %(reasons)s.",
                    "%(n)s customers not claimed: %(reasons)s.",
                    len(result.refused),
                )
                % {
                    "n": len(result.refused),
                    "reasons": "; ".join(f"{label} ({n})" for label, n in by_reason.items()),
                },
                messages.WARNING,
            )
        if not claimed and not result.refused:
            self.message_user(request, gettext("Nobody was claimed."), messages.WARNING)
