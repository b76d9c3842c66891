"""Admin of customers, follows, tags, the timeline and notes.

Every list comes from a scoping selector (``customer_list``, ``follow_list``, …), so a guide or a
store manager can neither list nor open rows outside their scope. The customer list is built for a
million rows: no full count, filters that use the indexed query pieces of ``customers.filters``,
tag names from ``Customer.tag_ids`` through the cached tag map, and a fixed number of queries
whatever the page size. Writes go through ``customers.services``.
"""

from __future__ import annotations

import json
import re

from django import forms
from django.conf import settings
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.db.models import Count, Prefetch, Q
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import TabularInline
from unfold.contrib.filters.admin import (
    ChoicesDropdownFilter,
    MultipleChoicesDropdownFilter,
    RangeDateFilter,
    RelatedDropdownFilter,
    TextFilter,
)
from unfold.contrib.filters.admin.dropdown_filters import DropdownFilter
from unfold.contrib.filters.forms import AutocompleteDropdownForm
from unfold.decorators import action, display
from unfold.utils import parse_date_str
from unfold.widgets import UnfoldAdminSelect2MultipleWidget

from scrm.admin import ReadOnlyAdminMixin, ScrmModelAdmin, csv_streaming_response
from scrm.org.admin import DepartmentFilter
from scrm.org.selectors import staff_in_departments, staff_list

from .filters import (
    MAX_ID,
    filter_added,
    filter_channel,
    filter_department,
    filter_staff,
    filter_tags_all,
    filter_tags_any,
    filter_tags_none,
)
from .models import Customer, CustomerEvent, CustomerNote, Follow, FollowTag, PersonalTag, Tag, TagGroup
from .selectors import (
    customer_event_list,
    customer_list,
    customer_note_list,
    follow_list,
    tag_labels,
    tag_list,
    tag_names,
)
from .services import (
    customer_note_add,
    customers_tag,
    customers_tag_enqueue,
    customers_untag,
    tag_delete,
    tag_group_delete,
    tag_group_save,
    tag_save,
)

TIMELINE_LENGTH = 50
TAG_BADGE_CLASS = (
    "inline-block font-semibold rounded-default text-[11px] uppercase whitespace-nowrap h-6 leading-6 px-2 "
    "bg-base-500/8 text-base-700 dark:bg-base-500/20 dark:text-base-200"
)


def bulk_action_limit() -> int:
    """How many customers one admin action may change at once."""
    return settings.SCRM_ADMIN_BULK_ACTION_LIMIT


def visible_follows(user) -> Prefetch:
    """The active follows the user may see, with their staff, as ``customer.visible_follows``."""
    follows = (
        follow_list(user=user)
        .filter(status=Follow.Status.ACTIVE)
        .select_related(None)
        .select_related("staff")
    )
    return Prefetch("follows", queryset=follows, to_attr="visible_follows")


# --- Tag choices ----------------------------------------------------------------------------------


def tag_choices(request) -> list[tuple[str, list[tuple[int, str]]]]:
    """Live corporate tags grouped by tag group, in WeCom's order; read once per request."""
    cached = getattr(request, "_scrm_tag_choices", None)
    if cached is None:
        grouped: dict[str, list[tuple[int, str]]] = {}
        for tag in tag_list():
            grouped.setdefault(tag.group.name, []).append((tag.id, tag.name))
        cached = request._scrm_tag_choices = list(grouped.items())
    return cached


def id_values(values) -> list[int]:
    """Ids from ``?tags_any=1&tags_any=2`` or ``?tags_any=1,2``; anything else is a bad link."""
    ids = []
    for value in values or ():
        for part in str(value).split(","):
            part = part.strip()
            if not part:
                continue
            # A number past 64 bits would reach the database and fail there.
            if not (part.isascii() and part.isdigit()) or int(part) > MAX_ID:
                raise IncorrectLookupParameters(f"Not an id: {part!r}")
            ids.append(int(part))
    return ids


# --- Customer list filters ------------------------------------------------------------------------


class AutocompleteIdsFilter(admin.SimpleListFilter):
    """Several rows picked by autocomplete: only the chosen ones are rendered, so a filter over
    hundreds of tags or thousands of staff costs the page nothing until it is used."""

    template = "unfold/filters/filters_field.html"
    form_class = AutocompleteDropdownForm
    # The relation the autocomplete widget asks about (its target model's admin answers the search).
    source_model: type
    source_field: str

    def __init__(self, request, params, model, model_admin):
        super().__init__(request, params, model, model_admin)
        self.request = request
        self.model_admin = model_admin
        if self.parameter_name in request.GET:
            self.used_parameters[self.parameter_name] = request.GET.getlist(self.parameter_name)

    def has_output(self):
        return True

    def lookups(self, request, model_admin):
        return ()

    def choices(self, changelist):
        yield {
            "form": self.form_class(
                request=self.request,
                label=_(" By %(filter_title)s ") % {"filter_title": self.title},
                name=self.parameter_name,
                choices=(),
                field=self.source_model._meta.get_field(self.source_field),
                model_admin=self.model_admin,
                # "1,2" and repeated parameters both arrive here; the widget wants one id per value.
                data={self.parameter_name: [str(i) for i in id_values(self.value())]},
                multiple=True,
            ),
        }

    def queryset(self, request, queryset):
        ids = id_values(self.value())
        return self.apply(request, queryset, ids) if ids else queryset

    def apply(self, request, queryset, ids: list[int]):
        raise NotImplementedError


class TagFilter(AutocompleteIdsFilter):
    """Several tags at once; the subclass decides whether the customer needs any, all or none."""

    source_model = FollowTag
    source_field = "tag"

    def apply(self, request, queryset, ids):
        return self.filter_tags(queryset, ids)


class TagsAnyFilter(TagFilter):
    title = _("has any of these tags")
    parameter_name = "tags_any"
    filter_tags = staticmethod(filter_tags_any)


class TagsAllFilter(TagFilter):
    title = _("has all of these tags")
    parameter_name = "tags_all"
    filter_tags = staticmethod(filter_tags_all)


class TagsNoneFilter(TagFilter):
    title = _("has none of these tags")
    parameter_name = "tags_none"
    filter_tags = staticmethod(filter_tags_none)


class StaffFilter(AutocompleteIdsFilter):
    """Followed by one of these staff members; the autocomplete lists only the staff in scope."""

    title = _("followed by staff")
    parameter_name = "staff"
    source_model = Follow
    source_field = "staff"

    def apply(self, request, queryset, ids):
        staff = list(staff_list(user=request.user).filter(pk__in=ids))
        return self.filter_staff(queryset, staff) if staff else queryset.none()

    def filter_staff(self, queryset, staff):
        return filter_staff(queryset, staff)


class CustomerDepartmentFilter(DepartmentFilter):
    title = _("department of a following staff member")

    def filter_department(self, queryset, department):
        return filter_department(queryset, department)


class ChannelFilter(TextFilter):
    title = _("channel (state)")
    parameter_name = "channel"

    def queryset(self, request, queryset):
        return filter_channel(queryset, (self.value() or "").strip())


class FirstAddedFilter(RangeDateFilter):
    """First added between two local dates, both included (``filters.filter_added``)."""

    def queryset(self, request, queryset):
        after = parse_date_str(self.used_parameters.get(f"{self.parameter_name}_from"))
        before = parse_date_str(self.used_parameters.get(f"{self.parameter_name}_to"))
        return filter_added(queryset, after, before)


# --- Customer change page pieces ------------------------------------------------------------------


class FollowInline(ReadOnlyAdminMixin, TabularInline):
    model = Follow
    fk_name = "customer"
    fields = ("staff", "added_at", "add_way", "state", "remark", "status", "follow_tags")
    readonly_fields = fields
    extra = 0
    hide_title = True
    verbose_name_plural = _("followed by")

    def get_queryset(self, request):
        return follow_list(user=request.user).prefetch_related("tag_links")

    @display(description=_("tags on this follow"))
    def follow_tags(self, obj):
        names = tag_names()
        return ", ".join(names[link.tag_id][1] for link in obj.tag_links.all() if link.tag_id in names) or "-"


class CustomerNoteInline(TabularInline):
    """Notes, newest first. New notes go through ``customer_note_add`` (see ``save_formset``)."""

    model = CustomerNote
    fields = ("body", "author", "created_at")
    readonly_fields = ("author", "created_at")
    extra = 1
    hide_title = True
    per_page = 10
    can_delete = False

    def get_queryset(self, request):
        return customer_note_list(user=request.user)

    def has_change_permission(self, request, obj=None):
        return False  # a note is a record of what was said: added, never rewritten


def event_summary(event: CustomerEvent) -> str:
    """A one-line description of an event's details for the timeline."""
    payload = event.payload or {}
    if payload.get("tags"):
        return ", ".join(str(tag.get("name", tag.get("id"))) for tag in payload["tags"])
    for key in ("text", "group_name", "name", "state", "remark"):
        if payload.get(key):
            return str(payload[key])
    visible = {k: v for k, v in payload.items() if k not in ("by", "note_id")}
    return json.dumps(visible, ensure_ascii=False)[:200] if visible else ""


# --- Customers ------------------------------------------------------------------------------------

_WECOM_ID = re.compile(r"^[A-Za-z0-9_-]{20,64}$")


class TagChoiceForm(forms.Form):
    tags = forms.TypedMultipleChoiceField(
        label=_("Tags"),
        coerce=int,
        widget=UnfoldAdminSelect2MultipleWidget,
        help_text=_("One or several tags."),
    )

    def __init__(self, *args, request, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["tags"].choices = tag_choices(request)

    def clean_tags(self):
        return list(tag_list().filter(pk__in=self.cleaned_data["tags"]))


@admin.register(Customer)
class CustomerAdmin(ScrmModelAdmin):
    list_display = ("name", "corporate_tags", "followed_by", "gender", "lifecycle_stage", "first_added_at")
    sortable_by = ("name", "first_added_at")
    list_filter = (
        TagsAnyFilter,
        TagsAllFilter,
        TagsNoneFilter,
        StaffFilter,
        CustomerDepartmentFilter,
        ChannelFilter,
        ("first_added_at", FirstAddedFilter),
        ("gender", ChoicesDropdownFilter),
        ("lifecycle_stage", MultipleChoicesDropdownFilter),
        ("type", ChoicesDropdownFilter),
    )
    # The real search is get_search_results below; these name what it looks at.
    search_fields = ("name", "external_userid", "unionid")
    search_help_text = _("The beginning of a name, or a whole external userid or unionid.")
    actions = ("add_tags", "remove_tags", "export_selected_csv")
    actions_list = ("export_csv",)
    fieldsets = (
        (
            _("Identity"),
            {
                "fields": (
                    ("name", "type", "gender"),
                    ("external_userid", "unionid"),
                    ("corp_name", "corp_full_name", "position"),
                    ("first_added_at", "avatar"),
                )
            },
        ),
        (_("Corporate tags"), {"fields": ("tags_by_group",)}),
        (_("Lifecycle"), {"fields": ("lifecycle_stage", "custom_fields")}),
    )
    # Identity is WeCom's: synced, not typed in. The lifecycle stage is ours to set.
    readonly_fields = (
        "name",
        "type",
        "gender",
        "external_userid",
        "unionid",
        "corp_name",
        "corp_full_name",
        "position",
        "first_added_at",
        "avatar",
        "tags_by_group",
        "custom_fields",
    )
    inlines = [FollowInline, CustomerNoteInline]
    change_form_outer_after_template = "admin/customers/customer/timeline.html"

    def get_queryset(self, request):
        return customer_list(user=request.user)

    def get_list_prefetch_related(self, request):
        return (visible_follows(request.user),)

    def get_search_results(self, request, queryset, search_term):
        term = search_term.strip()
        if not term:
            return queryset, False
        if _WECOM_ID.match(term):
            # A WeCom id: two unique-ish index lookups, never a scan.
            return queryset.filter(Q(external_userid=term) | Q(unionid=term)), False
        # A name prefix: LIKE 'term%' can use an index, a "contains" never can.
        return queryset.filter(name__startswith=term), False

    def has_add_permission(self, request):
        return False  # customers come from WeCom

    def has_delete_permission(self, request, obj=None):
        return False

    # --- display ---

    def prepare_page(self, request, results):
        # One read of the tag-name map for the whole page, not one per row.
        results = list(super().prepare_page(request, results))
        names = tag_names()
        for customer in results:
            customer.tag_name_map = names
        return results

    @display(description=_("corporate tags"))
    def corporate_tags(self, obj):
        # The theme's label badges, written out here: its template per badge was a quarter of the page.
        labels = tag_labels(obj.tag_ids, getattr(obj, "tag_name_map", None))
        if not labels:
            return "-"
        return format_html_join(
            " ",
            '<span class="{}" title="{}">{}</span>',
            ((TAG_BADGE_CLASS, t["group"], t["name"]) for t in labels),
        )

    @display(description=_("corporate tags"))
    def tags_by_group(self, obj):
        labels = tag_labels(obj.tag_ids)
        return "; ".join(f"{label['group']}: {label['name']}" for label in labels) or "-"

    @display(description=_("followed by"))
    def followed_by(self, obj):
        follows = getattr(obj, "visible_follows", None)
        if follows is None:
            return "-"
        return ", ".join(follow.staff.name for follow in follows) or "-"

    # --- change page ---

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        if obj is not None and obj.pk:
            events = customer_event_list(user=request.user, customer=obj)[:TIMELINE_LENGTH]
            context["timeline"] = [{"event": event, "summary": event_summary(event)} for event in events]
        return super().render_change_form(request, context, add, change, form_url, obj)

    def save_formset(self, request, form, formset, change):
        if formset.model is not CustomerNote:
            return super().save_formset(request, form, formset, change)
        formset.new_objects, formset.changed_objects, formset.deleted_objects = [], [], []
        for note_form in formset.extra_forms:
            body = (note_form.cleaned_data.get("body") or "").strip() if note_form.has_changed() else ""
            if body:
                note = customer_note_add(customer=form.instance, body=body, author=request.user)
                formset.new_objects.append(note)

    # --- actions ---

    def _selected_ids(self, request, queryset) -> list[int] | None:
        limit = bulk_action_limit()
        ids = list(queryset.order_by().values_list("pk", flat=True)[: limit + 1])
        if len(ids) > limit:
            self.message_user(
                request,
                _("More than %(limit)s customers are selected: narrow the list down and run it in parts.")
                % {"limit": number_format(limit, force_grouping=True)},
                messages.ERROR,
            )
            return None
        return ids

    def _tag_action(self, request, queryset, *, adding: bool):
        form = TagChoiceForm(request.POST if "apply" in request.POST else None, request=request)
        if form.is_valid():
            ids = self._selected_ids(request, queryset)
            if ids is None:
                return None
            tags = form.cleaned_data["tags"]
            if len(ids) > settings.SCRM_ADMIN_INLINE_BULK_LIMIT:
                queued = customers_tag_enqueue(customer_ids=ids, tags=tags, add=adding, by=request.user)
                self.message_user(
                    request,
                    ngettext(
                        "%(count)s customers are being changed in the background in %(batches)d batch; "
                        "their timelines show each change as it lands.",
                        "%(count)s customers are being changed in the background in %(batches)d batches; "
                        "their timelines show each change as it lands.",
                        queued,
                    )
                    % {"count": number_format(len(ids), force_grouping=True), "batches": queued},
                    messages.SUCCESS,
                )
                return None
            service = customers_tag if adding else customers_untag
            changed = service(customer_ids=ids, tags=tags, by=request.user, source=CustomerEvent.Source.ADMIN)
            if adding:
                message = ngettext(
                    "Tagged %(count)d customer with %(tags)s.",
                    "Tagged %(count)d customers with %(tags)s.",
                    changed,
                )
            else:
                message = ngettext(
                    "Removed %(tags)s from %(count)d customer.",
                    "Removed %(tags)s from %(count)d customers.",
                    changed,
                )
            self.message_user(
                request,
                message % {"count": changed, "tags": ", ".join(t.name for t in tags)},
                messages.SUCCESS,
            )
            return None
        selected_count = queryset.order_by().values("pk")[: bulk_action_limit() + 1].count()
        context = {
            **self.admin_site.each_context(request),
            "title": _("Add tags") if adding else _("Remove tags"),
            "opts": self.opts,
            "form": form,
            "media": self.media + form.media,
            "action": "add_tags" if adding else "remove_tags",
            "selected": request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            "select_across": request.POST.get("select_across", "0"),
            "selected_count": selected_count,
            "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            "adding": adding,
        }
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/customers/customer/tag_action.html", context)

    @action(description=_("Add tags to selected customers"), permissions=["change"])
    def add_tags(self, request, queryset):
        return self._tag_action(request, queryset, adding=True)

    @action(description=_("Remove tags from selected customers"), permissions=["change"])
    def remove_tags(self, request, queryset):
        return self._tag_action(request, queryset, adding=False)

    @action(description=_("Export selected customers as CSV"), permissions=["view"])
    def export_selected_csv(self, request, queryset):
        return self._csv(request, queryset)

    @action(description=_("Export CSV"), url_path="export", icon="download", permissions=["view"])
    def export_csv(self, request):
        """The whole list as filtered and searched on the page (the filters come in the query string)."""
        changelist = self.get_changelist_instance(request)
        return self._csv(request, changelist.get_queryset(request))

    def _csv(self, request, queryset):
        names = tag_names()
        header = [
            _("id"),
            _("external userid"),
            _("name"),
            _("unionid"),
            _("type"),
            _("gender"),
            _("company"),
            _("position"),
            _("lifecycle stage"),
            _("first added at"),
            _("corporate tags"),
            _("followed by"),
            _("channels"),
        ]
        customers = queryset.prefetch_related(visible_follows(request.user))

        def rows():
            for c in customers.iterator(chunk_size=2000):
                follows = c.visible_follows
                yield [
                    c.id,
                    c.external_userid,
                    c.name,
                    c.unionid,
                    c.get_type_display(),
                    c.get_gender_display(),
                    c.corp_name,
                    c.position,
                    c.get_lifecycle_stage_display(),
                    timezone.localtime(c.first_added_at),
                    "; ".join(f"{names[t][0]}/{names[t][1]}" for t in c.tag_ids if t in names),
                    "; ".join(f.staff.name for f in follows),
                    "; ".join(sorted({f.state for f in follows if f.state})),
                ]

        filename = f"customers-{timezone.localtime():%Y%m%d-%H%M}.csv"
        return csv_streaming_response(filename, header, rows())


# --- Follows --------------------------------------------------------------------------------------


class FollowStaffFilter(StaffFilter):
    title = _("staff member")

    def filter_staff(self, queryset, staff):
        return queryset.filter(staff__in=staff)


class FollowDepartmentFilter(DepartmentFilter):
    def filter_department(self, queryset, department):
        return queryset.filter(staff__in=staff_in_departments([department]))


class StateFilter(TextFilter):
    title = _("channel (state)")
    parameter_name = "state"

    def queryset(self, request, queryset):
        value = (self.value() or "").strip()
        return queryset.filter(state=value) if value else queryset


@admin.register(Follow)
class FollowAdmin(ReadOnlyAdminMixin, ScrmModelAdmin):
    list_display = ("customer", "staff", "status", "add_way", "state", "remark", "added_at")
    list_select_related = ("customer", "staff")
    list_filter = (
        ("status", ChoicesDropdownFilter),
        ("add_way", ChoicesDropdownFilter),
        FollowStaffFilter,
        FollowDepartmentFilter,
        StateFilter,
    )
    search_fields = ("=customer__external_userid", "^customer__name")
    search_help_text = _("The beginning of the customer's name, or their whole external userid.")
    sortable_by = ("added_at",)
    raw_id_fields = ("customer", "staff")

    def get_queryset(self, request):
        return follow_list(user=request.user)


# --- Timeline and notes ---------------------------------------------------------------------------


@admin.register(CustomerEvent)
class CustomerEventAdmin(ReadOnlyAdminMixin, ScrmModelAdmin):
    list_display = ("occurred_at", "customer", "type", "staff", "source", "details")
    list_select_related = ("customer", "staff")
    list_filter = (("type", ChoicesDropdownFilter), ("source", ChoicesDropdownFilter))
    search_fields = ("=customer__external_userid",)
    search_help_text = _("A customer's whole external userid.")
    sortable_by = ("occurred_at",)
    raw_id_fields = ("customer", "staff")

    def get_queryset(self, request):
        return customer_event_list(user=request.user).select_related("customer")

    @display(description=_("details"))
    def details(self, obj):
        return event_summary(obj)


@admin.register(CustomerNote)
class CustomerNoteAdmin(ScrmModelAdmin):
    list_display = ("customer", "excerpt", "author", "staff", "created_at")
    list_select_related = ("customer", "author", "staff")
    search_fields = ("=customer__external_userid",)
    search_help_text = _("A customer's whole external userid.")
    autocomplete_fields = ("customer",)
    fields = ("customer", "body")

    def get_queryset(self, request):
        return customer_note_list(user=request.user)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "customer":
            kwargs["queryset"] = customer_list(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def has_change_permission(self, request, obj=None):
        return False  # added, never rewritten

    def get_readonly_fields(self, request, obj=None):
        return ("customer", "body", "author", "staff", "created_at") if obj else ()

    def get_fields(self, request, obj=None):
        return ("customer", "body", "author", "staff", "created_at") if obj else ("customer", "body")

    def save_model(self, request, obj, form, change):
        note = customer_note_add(
            customer=form.cleaned_data["customer"], body=form.cleaned_data["body"], author=request.user
        )
        obj.pk, obj.created_at, obj.author, obj.staff = note.pk, note.created_at, note.author, note.staff
        obj._state.adding = False

    @display(description=_("note"))
    def excerpt(self, obj):
        return obj.body[:80]


# --- Tags -----------------------------------------------------------------------------------------


class LiveOrDeletedFilter(DropdownFilter):
    """Tags are marked deleted, never erased (WeCom keeps their ids): live ones are shown by default."""

    title = _("state")
    parameter_name = "state"
    all_option = None

    def lookups(self, request, model_admin):
        return (("live", _("live")), ("deleted", _("deleted")), ("all", _("all")))

    def value(self):
        return super().value() or "live"

    def queryset(self, request, queryset):
        value = self.value()
        if value == "all":
            return queryset
        return queryset.filter(deleted=value == "deleted")


class DeleteThroughServiceMixin:
    """Deleting marks rows deleted through the tag services, which also fix the customer index.

    The confirmation page does not list the tag assignments that go with a tag: there may be
    millions, and the tag itself stays, marked deleted.
    """

    delete_service = None

    def get_deleted_objects(self, objs, request):
        objs = list(objs)
        return [str(obj) for obj in objs], {self.opts.verbose_name_plural: len(objs)}, set(), []

    def delete_model(self, request, obj):
        self.delete_service(obj)

    def delete_queryset(self, request, queryset):
        for obj in queryset:
            self.delete_service(obj)


class TagInline(TabularInline):
    model = Tag
    fields = ("name", "order", "wecom_id")
    readonly_fields = ("wecom_id",)
    extra = 0

    def get_queryset(self, request):
        return tag_list()


@admin.register(TagGroup)
class TagGroupAdmin(DeleteThroughServiceMixin, ScrmModelAdmin):
    list_display = ("name", "order", "live_tags", "deleted", "wecom_id")
    list_filter = (LiveOrDeletedFilter,)
    search_fields = ("name",)
    fields = ("name", "order", "wecom_id")
    readonly_fields = ("wecom_id",)
    inlines = [TagInline]
    delete_service = staticmethod(tag_group_delete)

    def get_queryset(self, request):
        return (
            TagGroup.objects.all()
            .annotate(live_tag_count=Count("tags", filter=Q(tags__deleted=False)))
            .order_by(*TagGroup._meta.ordering)
        )

    @display(description=_("tags"), ordering="live_tag_count")
    def live_tags(self, obj):
        return obj.live_tag_count

    def save_model(self, request, obj, form, change):
        tag_group_save(obj)

    def save_formset(self, request, form, formset, change):
        if formset.model is not Tag:
            return super().save_formset(request, form, formset, change)
        for tag in formset.save(commit=False):
            tag_save(tag)
        for tag in formset.deleted_objects:
            tag_delete(tag)


@admin.register(Tag)
class TagAdmin(DeleteThroughServiceMixin, ScrmModelAdmin):
    list_display = ("name", "group", "order", "deleted", "wecom_id", "customers_link")
    list_select_related = ("group",)
    list_filter = (("group", RelatedDropdownFilter), LiveOrDeletedFilter)
    search_fields = ("name", "group__name")
    fields = ("group", "name", "order", "wecom_id")
    readonly_fields = ("wecom_id",)
    delete_service = staticmethod(tag_delete)

    def get_queryset(self, request):
        return tag_list(include_deleted=True)

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "group":
            kwargs["queryset"] = TagGroup.objects.filter(deleted=False)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)

    def save_model(self, request, obj, form, change):
        tag_save(obj)

    @display(description=_("customers"))
    def customers_link(self, obj):
        if obj.deleted:
            return "-"
        url = reverse("admin:customers_customer_changelist")
        return format_html('<a href="{}?tags_any={}">{}</a>', url, obj.pk, _("customers with this tag"))


@admin.register(PersonalTag)
class PersonalTagAdmin(ScrmModelAdmin):
    list_display = ("name", "group_name", "staff", "created_at")
    list_select_related = ("staff",)
    search_fields = ("name", "=staff__userid")
    autocomplete_fields = ("staff",)
    fields = ("staff", "group_name", "name")

    def get_queryset(self, request):
        return PersonalTag.objects.filter(staff__in=staff_list(user=request.user)).select_related("staff")

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "staff":
            kwargs["queryset"] = staff_list(user=request.user)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)


# Registers the segment admin, and the transfer, policy and pool admins (with a customer action).
from . import admin_segments, admin_transfers  # noqa: E402, F401
