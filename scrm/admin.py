"""Admin building blocks shared by every app, and the admin's sidebar.

- ``EstimatedCountPaginator``: never runs a full ``COUNT(*)`` on a big table (QUALITY.md trap 8).
  It counts at most ``SCRM_ADMIN_COUNT_LIMIT + 1`` rows through a ``LIMIT`` subquery and shows
  "10,000+" past that; an unfiltered PostgreSQL table is sized from the planner's estimate.
- ``ScrmModelAdmin``: the theme's ``ModelAdmin`` with that paginator, no full counts, no facets,
  and a per-page prefetch hook, so that a page costs the same queries whatever its size.
- ``csv_streaming_response``: a CSV download written row by row, with a BOM for Excel.
- ``sidebar_navigation``: the sidebar, grouped by what people do, showing only what they may see.

This module sits at the bottom of the stack: it imports nothing from the apps.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.apps import apps
from django.conf import settings
from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.auth import get_user_model
from django.contrib.auth.admin import GroupAdmin as BaseGroupAdmin
from django.contrib.auth.admin import UserAdmin as BaseUserAdmin
from django.contrib.auth.models import Group
from django.core.paginator import EmptyPage, InvalidPage, Paginator
from django.db import connections
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.urls import reverse
from django.utils.formats import number_format
from django.utils.functional import cached_property
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from unfold.admin import ModelAdmin
from unfold.forms import AdminPasswordChangeForm, UserChangeForm, UserCreationForm
from unfold.views import ChangeList

# --- Counting without counting --------------------------------------------------------------------


class DisplayCount(int):
    """A row count that is an ``int`` for arithmetic but prints as "10,000+" or "about 1,234,567".

    The admin's templates print ``cl.result_count`` in several places ("Select all N customers",
    the pagination line); handing them this number makes every one of them honest.
    """

    label: str

    def __new__(cls, value: int, label: str):
        number = super().__new__(cls, value)
        number.label = label
        return number

    def __str__(self) -> str:
        return self.label

    def __html__(self) -> str:
        return self.label


def table_row_estimate(queryset: QuerySet) -> int | None:
    """The planner's row estimate for the table of ``queryset`` (PostgreSQL only), or None."""
    connection = connections[queryset.db]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [connection.ops.quote_name(queryset.model._meta.db_table)],
        )
        row = cursor.fetchone()
    # -1 (or 0) means the table was never analysed: the estimate is worthless then.
    return int(row[0]) if row and row[0] and row[0] > 0 else None


def is_unfiltered(queryset: QuerySet) -> bool:
    query = queryset.query
    return not query.where and not query.distinct and not query.combinator and not query.is_sliced


class EstimatedCountPaginator(Paginator):
    """Counts at most ``limit + 1`` rows; shows "limit+" or the planner's estimate beyond that.

    When the count is not exact, any page number is accepted (the page may simply be empty) and
    the pagination shows Previous / Next instead of a list of page numbers that would be invented.
    """

    def __init__(self, *args, count_limit: int | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.count_limit = count_limit if count_limit is not None else settings.SCRM_ADMIN_COUNT_LIMIT
        self.is_exact = True
        self.is_estimate = False

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        if not isinstance(queryset, QuerySet):
            return len(queryset)
        if is_unfiltered(queryset):
            estimate = table_row_estimate(queryset)
            if estimate is not None and estimate > self.count_limit:
                self.is_exact = False
                self.is_estimate = True
                label = gettext("about %(count)s") % {"count": number_format(estimate, force_grouping=True)}
                return DisplayCount(estimate, label)
        # COUNT over a LIMIT subquery: the database stops after limit + 1 rows.
        counted = queryset.order_by().values("pk")[: self.count_limit + 1].count()
        if counted <= self.count_limit:
            return counted
        self.is_exact = False
        label = gettext("%(count)s+") % {"count": number_format(self.count_limit, force_grouping=True)}
        return DisplayCount(counted, label)

    @property
    def template_name(self) -> str | None:
        # Read by the theme's pagination template; None falls back to numbered pages.
        self.count  # noqa: B018 -- decides is_exact
        return None if self.is_exact else "admin/scrm/pagination_estimated.html"

    def validate_number(self, number):
        if self.is_exact:
            return super().validate_number(number)
        try:
            number = int(number)
        except (TypeError, ValueError):
            number = 0
        if number < 1:
            raise EmptyPage(self.error_messages["min_page"])
        return number

    def page(self, number):
        self.count  # noqa: B018
        if self.is_exact:
            return super().page(number)
        number = self.validate_number(number)
        bottom = (number - 1) * self.per_page
        return self._get_page(self.object_list[bottom : bottom + self.per_page], number, self)


# --- Base admin -----------------------------------------------------------------------------------


class ScrmChangeList(ChangeList):
    """Lets the model admin prepare the page of results once it is known (``prepare_page``)."""

    def get_results(self, request):
        super().get_results(request)
        if not getattr(self.paginator, "is_exact", True):
            # "Show all" of an uncounted list would be a million rows: always serve one page.
            self.can_show_all = False
            self.show_all = False
            self.multi_page = True
            try:
                self.result_list = self.paginator.page(self.page_num).object_list
            except InvalidPage as error:
                raise IncorrectLookupParameters from error
        self.result_list = self.model_admin.prepare_page(request, self.result_list)


class ScrmModelAdmin(ModelAdmin):
    """The theme's ModelAdmin, made safe for million-row tables."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    list_per_page = 50
    list_max_show_all = 200
    list_filter_submit = True

    def get_changelist(self, request, **kwargs):
        return ScrmChangeList

    def get_list_prefetch_related(self, request) -> Sequence:
        """Prefetches applied to the page of results only (one query each, whatever the page size)."""
        return ()

    def prepare_page(self, request, results):
        """The changelist's page of results, made ready to display without a query per row."""
        lookups = self.get_list_prefetch_related(request)
        if lookups and isinstance(results, QuerySet):
            results = results.prefetch_related(*lookups)
        return results

    def changelist_view(self, request, extra_context=None):
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None)
        if context and context.get("actions_list") and request.GET:
            # List actions (such as an export) act on the list as filtered: carry the filters along.
            query = request.GET.copy()
            query.pop("p", None)
            for action in context["actions_list"]:
                if action.get("path"):
                    action["path"] = f"{action['path']}?{query.urlencode()}"
        return response


class ReadOnlyAdminMixin:
    """For mirrors of WeCom data and for logs: viewable, never written from the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


# --- CSV ------------------------------------------------------------------------------------------

_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value) -> str:
    """A value made safe for spreadsheets: customer names are chosen by strangers, and a cell that
    starts with ``=`` would be run as a formula by Excel."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.isoformat(sep=" ", timespec="seconds")
    text = str(value)
    return f"'{text}" if text.startswith(_FORMULA_START) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_streaming_response(
    filename: str, header: Sequence, rows: Iterable[Sequence]
) -> StreamingHttpResponse:
    """Stream ``rows`` as a UTF-8 CSV file with a BOM, so that Excel shows Chinese correctly."""
    writer = csv.writer(_Echo())

    def lines():
        yield "\ufeff" + writer.writerow([str(h) for h in header])
        for row in rows:
            yield writer.writerow([csv_cell(v) for v in row])

    response = StreamingHttpResponse(lines(), content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- Sidebar --------------------------------------------------------------------------------------

# (title, icon, [(title, icon, "app_label.model_name"), ...]); only what the user may view is shown.
SIDEBAR = [
    (
        _("Customers"),
        [
            (_("Customers"), "person", "customers.customer"),
            (_("Follows"), "handshake", "customers.follow"),
            (_("Timeline"), "timeline", "customers.customerevent"),
            (_("Notes"), "sticky_note_2", "customers.customernote"),
            (_("Segments"), "filter_alt", "customers.segment"),
        ],
    ),
    (
        _("Tags"),
        [
            (_("Tag groups"), "folder", "customers.taggroup"),
            (_("Corporate tags"), "sell", "customers.tag"),
            (_("Personal tags"), "label", "customers.personaltag"),
        ],
    ),
    (
        _("Group chats"),
        [
            (_("Group chats"), "forum", "groups.groupchat"),
            (_("Group members"), "groups", "groups.groupmember"),
            (_("Group tags"), "bookmark", "groups.grouptag"),
        ],
    ),
    (
        _("Acquisition"),
        [
            (_("Staff live codes"), "qr_code_2", "campaigns.livecode"),
            (_("Group live codes"), "group_add", "campaigns.groupcode"),
            (_("Channels"), "campaign", "campaigns.channel"),
            (_("Welcome messages"), "waving_hand", "campaigns.welcomemessage"),
            (_("Welcome sends"), "mark_chat_read", "campaigns.welcomesend"),
            (_("Group welcome templates"), "groups_2", "campaigns.groupwelcometemplate"),
            (_("Channel analytics"), "monitoring", "campaigns.channelday"),
        ],
    ),
    (
        _("Content"),
        [
            (_("Materials"), "perm_media", "campaigns.material"),
            (_("Material folders"), "folder_open", "campaigns.materialfolder"),
            (_("Material tags"), "style", "campaigns.materialtag"),
            (_("Scripts"), "chat", "campaigns.script"),
            (_("Script categories"), "category", "campaigns.scriptcategory"),
            (_("Sensitive words"), "block", "campaigns.sensitiveword"),
        ],
    ),
    (
        _("Outreach"),
        [
            (_("Broadcasts"), "campaign", "campaigns.broadcast"),
            (_("Moments"), "photo_library", "campaigns.momentcampaign"),
        ],
    ),
    (
        _("Automation"),
        [
            (_("Customer SOP rules"), "route", "campaigns.soprule"),
            (_("SOP enrolments"), "how_to_reg", "campaigns.sopenrolment"),
            (_("SOP occurrences"), "event_repeat", "campaigns.sopoccurrence"),
            (_("Group SOP rules"), "event_note", "campaigns.groupsoprule"),
            (_("Group SOP runs"), "history", "campaigns.groupsoprun"),
            (_("Staff tasks"), "task_alt", "campaigns.stafftask"),
        ],
    ),
    (
        _("Organisation"),
        [
            (_("Departments and stores"), "account_tree", "org.department"),
            (_("Staff"), "badge", "org.staff"),
            (_("Roles"), "admin_panel_settings", "org.operator"),
            (_("API keys"), "key", "org.apikey"),
        ],
    ),
    (
        _("Staff lifecycle"),
        [
            (_("Transfer jobs"), "move_up", "customers.transferjob"),
            (_("Customer pool"), "waves", "customers.poolentry"),
            (_("Reassignment policies"), "alt_route", "customers.transferpolicy"),
            (_("Audit log"), "history_edu", "org.auditentry"),
        ],
    ),
    (
        _("WeCom"),
        [
            (_("Callback inbox"), "inbox", "wecom.callbackinbox"),
            (_("Sync runs"), "sync", "wecom.syncrun"),
        ],
    ),
    (
        _("Accounts"),
        [
            (_("Users"), "manage_accounts", "auth.user"),
            (_("Permission groups"), "group_work", "auth.group"),
        ],
    ),
]


def sidebar_navigation(request) -> list[dict]:
    """The sidebar (``UNFOLD["SIDEBAR"]["navigation"]``): groups of links the user may open.

    Each link is asked of its model admin, so that an admin that narrows its permissions (roles,
    for instance, are for administrators only) is hidden exactly when it would refuse.
    """
    navigation = [
        {
            "items": [
                {"title": _("Dashboard"), "icon": "dashboard", "link": reverse("admin:index")},
            ]
        }
    ]
    for title, entries in SIDEBAR:
        items = []
        for item_title, icon, label in entries:
            try:
                model = apps.get_model(label)
            except LookupError:
                continue
            model_admin = admin.site._registry.get(model)
            if model_admin is None or not model_admin.has_module_permission(request):
                continue
            if not model_admin.has_view_or_change_permission(request):
                continue
            link = reverse(f"admin:{model._meta.app_label}_{model._meta.model_name}_changelist")
            items.append({"title": item_title, "icon": icon, "link": link})
        if items:
            navigation.append({"title": title, "separator": True, "items": items})
    if settings.WECOM_MODE == "sandbox" and request.user.is_staff:
        # The emulated WeCom's console: not a model, and gone in live mode.
        console = {"title": _("Sandbox console"), "icon": "science", "link": reverse("sandbox:console")}
        navigation.append({"title": _("WeCom sandbox"), "separator": True, "items": [console]})
    return navigation


# --- Logins and permission groups, in the admin's theme -------------------------------------------

User = get_user_model()
admin.site.unregister(User)
admin.site.unregister(Group)


@admin.register(User)
class UserAdmin(BaseUserAdmin, ModelAdmin):
    form = UserChangeForm
    add_form = UserCreationForm
    change_password_form = AdminPasswordChangeForm
    list_display = ("username", "first_name", "last_name", "email", "is_staff", "is_active", "last_login")


@admin.register(Group)
class GroupAdmin(BaseGroupAdmin, ModelAdmin):
    pass
