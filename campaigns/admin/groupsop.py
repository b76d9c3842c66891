"""Admin of group SOP rules and their runs.

A rule is edited with its attachments inline; the schedule (weekdays and a time, or a cron
expression), the targets and the content are checked by the service's own rules, shown as form
errors. Runs are read-only: when each occurrence happened, or why it was skipped.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from scrm.admin import ReadOnlyAdminMixin, ScrmModelAdmin

from ..models import GroupSopAttachment, GroupSopRule, GroupSopRun
from ..models.livecodes import WEEKDAYS
from ..selectors.groupsop import group_sop_rule_list, group_sop_run_list
from ..services.content import sensitive_words_check
from ..services.groupsop import group_sop_rule_errors, group_sop_rule_save
from .welcome import AttachmentFileForm, AttachmentInline, url_https

TARGETS = ("groups", "owners", "group_tags", "stores")


class GroupSopAttachmentForm(AttachmentFileForm):
    class Meta:
        model = GroupSopAttachment
        formfield_callback = url_https
        fields = ["kind", "title", "link_url", "description", "pic_url", "appid", "page", "position"]


class GroupSopAttachmentInline(AttachmentInline):
    model = GroupSopAttachment
    form = GroupSopAttachmentForm


class GroupSopRuleForm(forms.ModelForm):
    weekdays = forms.TypedMultipleChoiceField(
        label=_("weekdays"),
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )

    class Meta:
        model = GroupSopRule
        fields = [
            "name",
            "active",
            "schedule_kind",
            "weekdays",
            "time_of_day",
            "cron",
            "time_zone",
            *TARGETS,
            "action",
            "text",
        ]
        widgets = {"text": forms.Textarea(attrs={"rows": 6})}

    def clean(self):
        data = super().clean()
        if not any(data.get(name) for name in TARGETS):
            self.add_error("groups", _("Choose groups, or owners, group tags or stores whose groups get it."))
        return data

    def _post_clean(self) -> None:
        super()._post_clean()
        for field, messages in group_sop_rule_errors(rule=self.instance).items():
            self.add_error(field if field in self.fields else None, messages)
        if self.instance.text.strip():
            try:
                sensitive_words_check(self.instance.text)
            except ValidationError as error:
                self.add_error("text", error.messages)


@admin.register(GroupSopRule)
class GroupSopRuleAdmin(ScrmModelAdmin):
    form = GroupSopRuleForm
    inlines = [GroupSopAttachmentInline]
    list_display = ("name", "active", "schedule", "action", "last_scheduled_for", "updated_at")
    list_filter = ("active", "action", "schedule_kind")
    search_fields = ("name",)
    autocomplete_fields = TARGETS
    fieldsets = (
        (None, {"fields": ("name", "active", "action")}),
        (_("When"), {"fields": ("schedule_kind", "weekdays", "time_of_day", "cron", "time_zone")}),
        (_("Which groups"), {"fields": TARGETS}),
        (_("What"), {"fields": ("text",)}),
    )

    def get_queryset(self, request):
        return group_sop_rule_list()

    def save_model(self, request, obj, form, change):
        # Attachments follow in save_related, in the same transaction (the formset checked them).
        group_sop_rule_save(rule=obj, by=request.user, **{name: form.cleaned_data[name] for name in TARGETS})

    @display(description=_("schedule"))
    def schedule(self, obj):
        if obj.schedule_kind == GroupSopRule.ScheduleKind.CRON:
            return f"cron {obj.cron}"
        days = dict(WEEKDAYS)
        names = ", ".join(str(days[d]) for d in sorted(obj.weekdays or []) if d in days)
        return f"{names} {obj.time_of_day:%H:%M}" if obj.time_of_day else names


@admin.register(GroupSopRun)
class GroupSopRunAdmin(ReadOnlyAdminMixin, ScrmModelAdmin):
    list_display = ("rule", "scheduled_for", "due_at", "status", "reason", "groups_count", "tasks_count")
    list_filter = ("status", "rule")
    list_select_related = ("rule",)
    raw_id_fields = ("rule", "broadcast")

    def get_queryset(self, request):
        return group_sop_run_list()
