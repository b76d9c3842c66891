"""Admin of customer group chats, their members and group tags.

Groups and members are listed through ``group_list`` / ``group_member_list``: a guide sees the
groups they own, a store manager those owned by the staff of their subtrees. Groups are mirrored
from WeCom; only our own labels on them (type, store, tags) are edited here. The customer page
gets a "groups" section from this module (groups may import customers, never the reverse).
"""

from __future__ import annotations

from django.contrib import admin
from django.utils.translation import gettext_lazy as _
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import ChoicesDropdownFilter, MultipleDropdownFilter
from unfold.contrib.filters.admin.choice_filters import RadioFilter
from unfold.decorators import display

from customers.admin import CustomerAdmin, StaffFilter, id_values
from scrm.admin import ReadOnlyAdminMixin, ScrmModelAdmin
from scrm.org.admin import DepartmentFilter
from scrm.org.selectors import department_list

from .models import GroupChat, GroupMember, GroupTag
from .selectors import group_list, group_member_list

# --- Filters --------------------------------------------------------------------------------------


class StoreFilter(DepartmentFilter):
    """Groups bound to a store in this department's subtree."""

    title = _("store")
    parameter_name = "store"

    def filter_department(self, queryset, department):
        return queryset.filter(store__path__startswith=department.path)


class OwnerFilter(StaffFilter):
    title = _("owner")
    parameter_name = "owner"
    source_model = GroupChat
    source_field = "owner"

    def filter_staff(self, queryset, staff):
        return queryset.filter(owner__in=staff)


class GroupTagFilter(MultipleDropdownFilter):
    """Groups carrying any of these tags (a subquery, so that no group is listed twice)."""

    title = _("group tags")
    parameter_name = "tags"

    def lookups(self, request, model_admin):
        return [(str(pk), name) for pk, name in GroupTag.objects.values_list("pk", "name")]

    def queryset(self, request, queryset):
        ids = id_values(self.value())
        if not ids:
            return queryset
        links = GroupChat.tags.through.objects.filter(grouptag_id__in=ids).values("groupchat_id")
        return queryset.filter(pk__in=links)


class StillInGroupFilter(RadioFilter):
    title = _("membership")
    parameter_name = "present"

    def lookups(self, request, model_admin):
        return (("yes", _("in the group")), ("no", _("left")))

    def queryset(self, request, queryset):
        if self.value() == "yes":
            return queryset.filter(left_at__isnull=True)
        if self.value() == "no":
            return queryset.filter(left_at__isnull=False)
        return queryset


# --- Group chats ----------------------------------------------------------------------------------


class GroupMemberInline(ReadOnlyAdminMixin, TabularInline):
    model = GroupMember
    fields = ("name", "kind", "customer", "staff", "joined_at", "join_scene", "left_at")
    readonly_fields = fields
    extra = 0
    hide_title = True
    per_page = 50

    def get_queryset(self, request):
        return group_member_list(user=request.user)


@admin.register(GroupChat)
class GroupChatAdmin(ScrmModelAdmin):
    list_display = (
        "display_name",
        "owner",
        "kind",
        "status",
        "member_count",
        "store",
        "tag_names",
        "created_at",
    )
    list_select_related = ("owner", "store")
    list_filter = (
        ("kind", ChoicesDropdownFilter),
        ("status", ChoicesDropdownFilter),
        StoreFilter,
        GroupTagFilter,
        OwnerFilter,
    )
    search_fields = ("^name", "=chat_id", "=owner__userid")
    search_help_text = _("The beginning of the group's name, or a whole chat id or owner userid.")
    sortable_by = ("member_count", "created_at")
    autocomplete_fields = ("tags",)
    inlines = [GroupMemberInline]
    fieldsets = (
        (
            None,
            {
                "fields": (
                    ("name", "chat_id"),
                    ("owner", "owner_userid"),
                    ("status", "member_count"),
                    "notice",
                )
            },
        ),
        (_("Our labels"), {"fields": ("kind", "store", "tags")}),
        (_("Dates"), {"fields": (("created_at", "dismissed_at", "synced_at"),)}),
    )
    # Mirrored from WeCom; only the labels above are ours.
    readonly_fields = (
        "name",
        "chat_id",
        "owner",
        "owner_userid",
        "status",
        "member_count",
        "notice",
        "created_at",
        "dismissed_at",
        "synced_at",
    )

    def get_queryset(self, request):
        return group_list(user=request.user)

    def get_list_prefetch_related(self, request):
        return ("tags",)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "store":
            kwargs["queryset"] = department_list(user=request.user).filter(is_store=True)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    @display(description=_("name"), ordering="name")
    def display_name(self, obj):
        return str(obj)

    @display(description=_("tags"), label=True)
    def tag_names(self, obj):
        return [tag.name for tag in obj.tags.all()]

    def has_add_permission(self, request):
        return False  # groups are created in WeCom

    def has_delete_permission(self, request, obj=None):
        return False


@admin.register(GroupMember)
class GroupMemberAdmin(ReadOnlyAdminMixin, ScrmModelAdmin):
    list_display = ("__str__", "group", "kind", "customer", "staff", "joined_at", "join_scene", "left_at")
    list_select_related = ("group", "customer", "staff")
    list_filter = (("kind", ChoicesDropdownFilter), ("join_scene", ChoicesDropdownFilter), StillInGroupFilter)
    search_fields = ("=member_id", "^name", "=group__chat_id")
    search_help_text = _("A whole member id or chat id, or the beginning of a name.")
    sortable_by = ("joined_at",)
    raw_id_fields = ("group", "customer", "staff")

    def get_queryset(self, request):
        return group_member_list(user=request.user)


@admin.register(GroupTag)
class GroupTagAdmin(ScrmModelAdmin):
    list_display = ("name", "created_at")
    search_fields = ("name",)


# --- The customer page: the groups the customer is in ---------------------------------------------


class CustomerGroupInline(ReadOnlyAdminMixin, TabularInline):
    model = GroupMember
    fk_name = "customer"
    fields = ("group", "group_nickname", "joined_at", "join_scene", "left_at")
    readonly_fields = fields
    extra = 0
    hide_title = True
    verbose_name = _("group")
    verbose_name_plural = _("groups")

    def get_queryset(self, request):
        return group_member_list(user=request.user)


CustomerAdmin.inlines = [*CustomerAdmin.inlines, CustomerGroupInline]
