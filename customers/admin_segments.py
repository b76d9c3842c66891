"""Admin of segments: the rules edited with one widget per rule, a live count and a sample.

The form's fields come from the rule registry (``customers.segments``), so the rules that groups
and campaigns register get their widgets too. While the rules are edited, the change page posts the
form to ``count/`` (debounced) and shows how many customers match and the newest of them; the count
is the same ``segment_count`` broadcasts use. Counts and exports are within the user's scope.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.html import format_html
from django.utils.text import slugify
from django.utils.translation import gettext, ngettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from unfold.decorators import action, display
from unfold.widgets import (
    UnfoldAdminDecimalFieldWidget,
    UnfoldAdminSelect2MultipleWidget,
    UnfoldAdminSelectWidget,
    UnfoldAdminSingleDateWidget,
)

from scrm.admin import ScrmModelAdmin

from .models import Segment
from .segments import (
    segment_count,
    segment_count_refresh,
    segment_delete,
    segment_export_response,
    segment_rule_list,
    segment_rules_clean,
    segment_sample,
    segment_save,
)

RULES_HELP = _("Every rule narrows the audience; within a rule, any of the chosen values matches.")


class AnyMultipleChoiceField(forms.MultipleChoiceField):
    """Values checked by the rule's own clean only (the live count needs no choices read)."""

    def valid_value(self, value):
        return True


def rule_field(rule, current, *, with_choices: bool = True) -> forms.Field:
    """The form field that edits ``rule``; ``current`` (the saved value) stays a valid choice."""
    common = {"label": rule.label, "required": False, "help_text": rule.help_text}
    if rule.kind == "bool":
        choices = [("", gettext("any")), ("true", gettext("yes")), ("false", gettext("no"))]
        return forms.ChoiceField(choices=choices, widget=UnfoldAdminSelectWidget, **common)
    if rule.kind == "date":
        return forms.DateField(widget=UnfoldAdminSingleDateWidget, **common)
    if rule.kind == "decimal":
        return forms.DecimalField(
            min_value=0, max_digits=14, decimal_places=2, widget=UnfoldAdminDecimalFieldWidget, **common
        )
    if not with_choices:
        return AnyMultipleChoiceField(**common)
    choices = list(rule.choices()) if rule.choices else []
    known = {str(value) for value, label in _flat(choices)}
    missing = [(value, str(value)) for value in current or () if str(value) not in known]
    return forms.MultipleChoiceField(
        choices=choices + missing, widget=UnfoldAdminSelect2MultipleWidget, **common
    )


def _flat(choices):
    for value, label in choices:
        if isinstance(label, (list, tuple)):
            yield from label
        else:
            yield value, label


def rule_value(rule, value):
    """A form value as the rules format has it (the rule's own clean does the rest)."""
    if rule.kind == "date" and value:
        return value.isoformat()
    if rule.kind == "decimal" and value is not None:
        return str(value)
    return value


def rule_initial(rule, value):
    if rule.kind == "bool" and value is not None:
        return "true" if value else "false"
    return value


class RuleFieldsMixin:
    """Adds one field per registered rule and turns them into clean rules (``self.rules``)."""

    def add_rule_fields(self, rules: dict, *, with_choices: bool = True) -> None:
        self.rule_keys = []
        for rule in segment_rule_list():
            self.fields[rule.key] = rule_field(rule, rules.get(rule.key), with_choices=with_choices)
            self.initial.setdefault(rule.key, rule_initial(rule, rules.get(rule.key)))
            self.rule_keys.append(rule.key)

    def clean_rules(self) -> None:
        by_key = {rule.key: rule for rule in segment_rule_list()}
        raw = {
            key: rule_value(by_key[key], self.cleaned_data.get(key))
            for key in self.rule_keys
            if key in self.cleaned_data
        }
        try:
            self.rules = segment_rules_clean(raw)
        except ValidationError as error:
            self.rules = None
            for key, messages_ in error.message_dict.items():
                self.add_error(key if key in self.fields else None, messages_)


class SegmentRulesForm(RuleFieldsMixin, forms.Form):
    """The rules alone, as the change page posts them for a live count."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_rule_fields({}, with_choices=False)

    def clean(self):
        cleaned = super().clean()
        self.clean_rules()
        return cleaned


class SegmentForm(RuleFieldsMixin, forms.ModelForm):
    class Meta:
        model = Segment
        fields = ("name", "description")

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.add_rule_fields(self.instance.rules or {})

    def clean(self):
        cleaned = super().clean()
        self.clean_rules()
        return cleaned

    def save(self, commit=True):
        self.instance.rules = self.rules or {}
        return super().save(commit=commit)


@admin.register(Segment)
class SegmentAdmin(ScrmModelAdmin):
    form = SegmentForm
    list_display = ("name", "rules_summary", "count_display", "last_counted_at", "created_by")
    search_fields = ("name",)
    readonly_fields = ("last_count", "last_counted_at", "created_by")
    actions = ("refresh_counts", "export_selected_csv")
    actions_detail = ("export_detail",)
    change_form_after_template = "admin/customers/segment/live_count.html"

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("created_by")

    def get_form(self, request, obj=None, **kwargs):
        # The rule fields are the form's own (from the registry), not model fields.
        kwargs["fields"] = ("name", "description")
        return super().get_form(request, obj, **kwargs)

    def get_fieldsets(self, request, obj=None):
        rule_keys = [rule.key for rule in segment_rule_list()]
        fieldsets = [
            (None, {"fields": ("name", "description")}),
            (_("Rules"), {"fields": rule_keys, "description": RULES_HELP}),
        ]
        if obj is not None:
            fieldsets.append((_("Last count"), {"fields": ("last_count", "last_counted_at", "created_by")}))
        return fieldsets

    def save_model(self, request, obj, form, change):
        segment_save(obj, by=request.user)
        segment_count_refresh(segment=obj)

    def delete_model(self, request, obj):
        segment_delete(obj)

    @display(description=_("rules"))
    def rules_summary(self, obj):
        labels = {rule.key: rule.label for rule in segment_rule_list()}
        return "; ".join(str(labels.get(key, key)) for key in (obj.rules or {})) or gettext("every customer")

    @display(description=_("last count"), ordering="last_count")
    def count_display(self, obj):
        return "—" if obj.last_count is None else number_format(obj.last_count, force_grouping=True)

    # --- live count -----------------------------------------------------------------------------

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("count/", view(require_POST(self.count_view)), name="customers_segment_count"),
            *super().get_urls(),
        ]

    def count_view(self, request):
        """The count and a sample of the rules as the form has them now (form fields posted)."""
        if not (self.has_add_permission(request) or self.has_change_permission(request)):
            raise PermissionDenied
        form = SegmentRulesForm(request.POST)
        if not form.is_valid():
            errors = {key: [str(m) for m in value] for key, value in form.errors.items()}
            lines = [
                f"{form.fields[key].label}: {' '.join(value)}" if key in form.fields else " ".join(value)
                for key, value in errors.items()
            ]
            return JsonResponse({"errors": errors, "messages": lines}, status=400)
        count = segment_count(form.rules, user=request.user)
        sample = [
            {
                "id": customer.id,
                "name": str(customer),
                "url": reverse("admin:customers_customer_change", args=[customer.id]),
            }
            for customer in segment_sample(form.rules, user=request.user)
        ]
        return JsonResponse(
            {
                "count": count,
                "count_display": ngettext("%(count)s customer", "%(count)s customers", count)
                % {"count": number_format(count, force_grouping=True)},
                "sample": sample,
                "errors": {},
            }
        )

    # --- actions --------------------------------------------------------------------------------

    @action(description=_("Count selected segments again"), permissions=["view"])
    def refresh_counts(self, request, queryset):
        segments = list(queryset[:50])
        for segment in segments:
            segment_count_refresh(segment=segment)
        self.message_user(
            request,
            ngettext("Counted %(n)s segment.", "Counted %(n)s segments.", len(segments))
            % {"n": len(segments)},
            messages.SUCCESS,
        )

    @action(description=_("Export the customers of the selected segment as CSV"), permissions=["view"])
    def export_selected_csv(self, request, queryset):
        segments = list(queryset[:2])
        if len(segments) != 1:
            self.message_user(request, gettext("Select exactly one segment to export."), messages.WARNING)
            return None
        return self._export(request, segments[0])

    @action(description=_("Export CSV"), url_path="export", icon="download", permissions=["view"])
    def export_detail(self, request, object_id):
        segment = get_object_or_404(self.get_queryset(request), pk=object_id)
        return self._export(request, segment)

    def _export(self, request, segment):
        filename = f"segment-{slugify(segment.name) or segment.pk}-{timezone.localtime():%Y%m%d-%H%M}.csv"
        return segment_export_response(segment.rules or {}, user=request.user, filename=filename)

    def render_change_form(self, request, context, add=False, change=False, form_url="", obj=None):
        context["segment_count_url"] = reverse("admin:customers_segment_count")
        context["segment_count_help"] = format_html(
            "{}", gettext("Counted within what you may see, as the rules change.")
        )
        return super().render_change_form(request, context, add, change, form_url, obj)
