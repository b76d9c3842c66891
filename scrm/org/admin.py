"""Admin of the organisation: departments and stores, staff, roles and API keys.

Departments and staff are listed through the scoping selectors, so a store manager sees their
subtrees and a guide their own record. Roles and API keys belong to administrators: roles are
given through ``operator_assign`` and API keys are created through ``api_key_create``, which shows
the key once and stores only its digest.
"""

from __future__ import annotations

from collections.abc import Iterable

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpResponseRedirect
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import BooleanRadioFilter, ChoicesDropdownFilter, DropdownFilter
from unfold.decorators import action, display

from scrm.admin import ReadOnlyAdminMixin, ScrmModelAdmin

from .models import ApiKey, AuditEntry, Department, Operator, Role, Staff, StaffDepartment
from .scoping import user_role
from .selectors import department_list, staff_in_departments, staff_list
from .services import api_key_create, api_key_revoke, department_save, operator_assign, operator_remove


def is_administrator(request) -> bool:
    """Whether the person behind ``request`` holds the administrator role (cached per request)."""
    if not hasattr(request, "_scrm_is_administrator"):
        request._scrm_is_administrator = user_role(request.user) == Role.ADMIN
    return request._scrm_is_administrator


# --- Department labels and the department filter the other apps reuse ----------------------------


def _path_ids(department: Department) -> list[int]:
    return [int(part) for part in department.path.strip("/").split("/") if part]


def department_labels(departments: Iterable[Department]) -> dict[int, str]:
    """``{department id: "HQ / East region / Store A"}`` for these departments, in one query."""
    departments = list(departments)
    wecom_ids = {wecom_id for d in departments for wecom_id in _path_ids(d)}
    names = dict(Department.objects.filter(wecom_id__in=wecom_ids).values_list("wecom_id", "name"))
    return {
        d.id: " / ".join(names.get(wecom_id, str(wecom_id)) for wecom_id in _path_ids(d)) for d in departments
    }


class DepartmentFilter(DropdownFilter):
    """A department (and everything below it) among those the user may see.

    Subclasses say what "in this department" means for their rows in ``filter_department``.
    """

    title = _("department")
    parameter_name = "department"
    stores_only = False

    def lookups(self, request, model_admin):
        departments = department_list(user=request.user).select_related(None).only("id", "path", "name")
        if self.stores_only:
            departments = departments.filter(is_store=True)
        labels = department_labels(departments)
        return sorted(labels.items(), key=lambda item: item[1])

    def queryset(self, request, queryset):
        value = self.value()
        if not value:
            return queryset
        is_id = value.isascii() and value.isdigit() and len(value) < 19  # stays inside 64 bits
        department = department_list(user=request.user).filter(pk=value).first() if is_id else None
        if department is None:
            return queryset.none()
        return self.filter_department(queryset, department)

    def filter_department(self, queryset: QuerySet, department: Department) -> QuerySet:
        raise NotImplementedError


class StaffDepartmentFilter(DepartmentFilter):
    def filter_department(self, queryset, department):
        return queryset.filter(pk__in=staff_in_departments([department]).values("pk"))


# --- Departments ----------------------------------------------------------------------------------


@admin.register(Department)
class DepartmentAdmin(ScrmModelAdmin):
    list_display = ("name", "tree_path", "is_store", "wecom_id", "order")
    list_filter = (("is_store", BooleanRadioFilter),)
    search_fields = ("name", "=wecom_id")
    search_help_text = _("Name, or exact WeCom id.")
    readonly_fields = ("wecom_id", "name", "parent", "order", "path", "created_at", "updated_at")
    fields = ("name", "wecom_id", "parent", "order", "is_store", "path", "created_at", "updated_at")

    def get_queryset(self, request):
        return department_list(user=request.user)

    def prepare_page(self, request, results):
        results = list(super().prepare_page(request, results))
        labels = department_labels(results)
        for department in results:
            department.tree_label = labels.get(department.id, department.name)
        return results

    def save_model(self, request, obj, form, change):
        department_save(obj)

    @display(description=_("tree path"), ordering="path")
    def tree_path(self, obj):
        return getattr(obj, "tree_label", obj.path)

    # The tree is WeCom's: it is synced, never drawn by hand here. Only the store flag is ours.
    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- Staff ----------------------------------------------------------------------------------------


class StaffMembershipInline(ReadOnlyAdminMixin, TabularInline):
    model = StaffDepartment
    fields = ("department", "is_leader", "order")
    readonly_fields = fields
    extra = 0
    hide_title = True
    verbose_name = _("department")
    verbose_name_plural = _("departments")

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("department")


@admin.register(Staff)
class StaffAdmin(ScrmModelAdmin):
    list_display = (
        "name",
        "userid",
        "main_department",
        "department_names",
        "position",
        "status",
        "contact_enabled",
        "user",
        "reassignment",
    )
    list_select_related = ("main_department", "user")
    list_filter = (
        StaffDepartmentFilter,
        ("status", ChoicesDropdownFilter),
        ("contact_enabled", BooleanRadioFilter),
    )
    search_fields = ("name", "=userid", "=mobile")
    search_help_text = _("Name, or exact userid or mobile.")
    autocomplete_fields = ("user",)
    inlines = (StaffMembershipInline,)
    actions_detail = ("preview_reassignment",)
    fieldsets = (
        (None, {"fields": ("name", "userid", "main_department", "position", "status", "departed_at")}),
        (
            _("Contact"),
            {"fields": ("mobile", "email", "gender", "avatar", "contact_enabled", "wecom_created_at")},
        ),
        (_("Login"), {"fields": ("user",), "description": _("The login that works as this staff member.")}),
    )
    # Everything but the login link is mirrored from WeCom.
    readonly_fields = (
        "name",
        "userid",
        "main_department",
        "position",
        "status",
        "departed_at",
        "mobile",
        "email",
        "gender",
        "avatar",
        "contact_enabled",
        "wecom_created_at",
    )

    def get_queryset(self, request):
        return staff_list(user=request.user)

    def get_list_prefetch_related(self, request):
        return ("departments",)

    @display(description=_("departments"))
    def department_names(self, obj):
        return ", ".join(d.name for d in obj.departments.all())

    def has_add_permission(self, request):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    # The reassignment preview is the customers app's page (customers.admin_transfers); it is
    # reached by its URL name, so this module still imports nothing from above.
    def has_preview_reassignment_permission(self, request, object_id=None):
        return request.user.has_perm("customers.view_transferjob")

    @display(description=_("reassignment"))
    def reassignment(self, obj):
        if obj.status != Staff.Status.DEPARTED:
            return "-"
        url = reverse("admin:customers_transferjob_preview", args=[obj.pk])
        return format_html('<a class="text-primary-600" href="{}">{}</a>', url, _("preview, reassign"))

    @action(
        description=_("Preview reassignment"),
        url_path="preview-reassignment",
        icon="move_up",
        permissions=["preview_reassignment"],
    )
    def preview_reassignment(self, request, object_id):
        return HttpResponseRedirect(reverse("admin:customers_transferjob_preview", args=[object_id]))


# --- Audit log ------------------------------------------------------------------------------------


class AuditValueFilter(DropdownFilter):
    """One of the values the log holds in ``field`` (the log has one row per event, not per
    customer, so the distinct values are few)."""

    field = ""

    def lookups(self, request, model_admin):
        values = AuditEntry.objects.order_by(self.field).values_list(self.field, flat=True).distinct()[:200]
        return [(value, value) for value in values]

    def queryset(self, request, queryset):
        value = self.value()
        return queryset.filter(**{self.field: value}) if value else queryset


class AuditActionFilter(AuditValueFilter):
    title = _("action")
    parameter_name = "action"
    field = "action"


class AuditTargetTypeFilter(AuditValueFilter):
    title = _("record type")
    parameter_name = "target_type"
    field = "target_type"


@admin.register(AuditEntry)
class AuditEntryAdmin(ReadOnlyAdminMixin, ScrmModelAdmin):
    """The audit log, read-only; written only through ``scrm.org.audit.audit_record``."""

    list_display = ("occurred_at", "action", "target_type", "target_repr", "actor")
    list_select_related = ("actor",)
    list_filter = (AuditActionFilter, AuditTargetTypeFilter)
    search_fields = ("=target_id", "^target_repr")
    search_help_text = _("A record's whole id, or the beginning of its name.")
    sortable_by = ("occurred_at",)
    fields = (
        "occurred_at",
        "action",
        "target_type",
        "target_id",
        "target_repr",
        "actor",
        "details",
        "created_at",
    )
    readonly_fields = fields

    def changelist_view(self, request, extra_context=None):
        if request.method == "GET" and not request.GET and not self.get_queryset(request).exists():
            self.message_user(
                request,
                _(
                    "The audit log is empty. It records departures, reassignment policies and transfer "
                    "jobs, with who did what and when."
                ),
                messages.INFO,
            )
        return super().changelist_view(request, extra_context)


# --- Roles ----------------------------------------------------------------------------------------


class AdministratorOnlyMixin:
    """Only administrators manage roles and other people's keys: a marketing manager must not be
    able to make themselves an administrator."""

    def has_module_permission(self, request):
        return is_administrator(request) and super().has_module_permission(request)

    def has_view_permission(self, request, obj=None):
        return is_administrator(request) and super().has_view_permission(request, obj)

    def has_add_permission(self, request, *args):
        return is_administrator(request) and super().has_add_permission(request, *args)

    def has_change_permission(self, request, obj=None):
        return is_administrator(request) and super().has_change_permission(request, obj)

    def has_delete_permission(self, request, obj=None):
        return is_administrator(request) and super().has_delete_permission(request, obj)


@admin.register(Operator)
class OperatorAdmin(AdministratorOnlyMixin, ScrmModelAdmin):
    list_display = ("user", "role", "managed_departments")
    list_select_related = ("user",)
    list_filter = (("role", ChoicesDropdownFilter),)
    search_fields = ("user__username", "user__first_name", "user__last_name")
    autocomplete_fields = ("user", "departments")
    fields = ("user", "role", "departments")

    def get_list_prefetch_related(self, request):
        return ("departments",)

    def get_readonly_fields(self, request, obj=None):
        return ("user",) if obj else ()

    @display(description=_("managed departments"))
    def managed_departments(self, obj):
        return ", ".join(d.name for d in obj.departments.all())

    def save_model(self, request, obj, form, change):
        user = obj.user if change else form.cleaned_data["user"]
        operator = operator_assign(
            user=user, role=form.cleaned_data["role"], departments=form.cleaned_data.get("departments") or ()
        )
        obj.pk = operator.pk

    def save_related(self, request, form, formsets, change):
        pass  # operator_assign has set the departments

    def delete_model(self, request, obj):
        operator_remove(user=obj.user)

    def delete_queryset(self, request, queryset):
        for operator in queryset.select_related("user"):
            operator_remove(user=operator.user)


# --- API keys -------------------------------------------------------------------------------------


@admin.register(ApiKey)
class ApiKeyAdmin(ScrmModelAdmin):
    list_display = ("name", "prefix", "user", "state", "created_at", "expires_at", "last_used_at")
    list_select_related = ("user",)
    search_fields = ("name", "=prefix")
    actions = ("revoke",)
    readonly_fields = ("prefix", "created_at", "last_used_at", "revoked_at")

    def get_queryset(self, request):
        keys = super().get_queryset(request).select_related("user")
        return keys if is_administrator(request) else keys.filter(user=request.user)

    def get_fields(self, request, obj=None):
        if obj is None:
            return ("name", "user", "expires_at") if is_administrator(request) else ("name", "expires_at")
        return ("name", "user", "prefix", "created_at", "expires_at", "last_used_at", "revoked_at")

    def get_autocomplete_fields(self, request):
        return ("user",)

    def has_change_permission(self, request, obj=None):
        # A key is created and revoked, never edited: its owner and expiry are what was agreed.
        return False

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change, **kwargs)
        if "expires_at" in form.base_fields:
            form.base_fields["expires_at"].help_text = _("Leave empty for the default lifetime.")
        return form

    def save_model(self, request, obj, form, change):
        user = form.cleaned_data.get("user") or request.user
        key, raw_key = api_key_create(
            user=user, name=form.cleaned_data["name"], expires_at=form.cleaned_data.get("expires_at")
        )
        for field in ApiKey._meta.concrete_fields:
            setattr(obj, field.attname, getattr(key, field.attname))
        obj._state.adding = False
        self.message_user(
            request,
            format_html(
                "{} <code>{}</code><br>{}",
                _("The new API key is:"),
                raw_key,
                _("Copy it now: it is shown only this once and cannot be recovered."),
            ),
            messages.SUCCESS,
        )

    @display(description=_("state"), label={"live": "success", "revoked": "danger", "expired": "warning"})
    def state(self, obj):
        if obj.revoked_at:
            return "revoked", _("revoked")
        if obj.expires_at and obj.expires_at <= timezone.now():
            return "expired", _("expired")
        return "live", _("live")

    @action(description=_("Revoke selected API keys"), permissions=["delete"])
    def revoke(self, request, queryset):
        count = 0
        for key in queryset.filter(revoked_at__isnull=True):
            api_key_revoke(key)
            count += 1
        self.message_user(
            request,
            ngettext("%(count)d API key revoked.", "%(count)d API keys revoked.", count) % {"count": count},
            messages.SUCCESS,
        )
