"""Admin of customer SOPs: rules with their steps inline, each step's attachments on its own page,
and the read-only record of enrolments and occurrences (filtered by rule and status).

Rules are saved through ``sop_rule_save`` (its errors become form errors); a step's offset and
content are checked by the same rules as the API. "Enrol now" evaluates a segment rule at once,
in a background task.
"""

from __future__ import annotations

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from unfold.admin import TabularInline
from unfold.decorators import action, display

from scrm.admin import ReadOnlyAdminMixin, ScrmModelAdmin

from ..models import SopEnrolment, SopOccurrence, SopRule, SopStep, SopStepAttachment
from ..selectors.sop import sop_enrolment_list, sop_occurrence_list, sop_rule_list
from ..services.sop import sop_rule_delete, sop_rule_errors, sop_rule_save, sop_step_errors
from .content import EmptyStateMixin
from .welcome import (
    ATTACHMENT_MODEL_FIELDS,
    AttachmentFileForm,
    AttachmentInline,
    sensitive_words_form_screen,
    url_https,
)


class SopStepForm(forms.ModelForm):
    class Meta:
        model = SopStep
        fields = ["day", "at_time", "hours", "action", "title", "text"]
        widgets = {"text": forms.Textarea(attrs={"rows": 3})}

    def clean(self):
        cleaned = super().clean()
        sensitive_words_form_screen(self, ("text",))
        step = SopStep(
            day=cleaned.get("day"),
            at_time=cleaned.get("at_time"),
            hours=cleaned.get("hours"),
            text=cleaned.get("text") or "",
            material_ids=self.instance.material_ids,
        )
        attachments = list(self.instance.attachments.all()) if self.instance.pk else []
        errors = sop_step_errors(step, attachments)
        if errors and not cleaned.get("DELETE"):
            raise ValidationError(errors)
        return cleaned


class SopStepInline(TabularInline):
    model = SopStep
    form = SopStepForm
    extra = 1
    show_change_link = True
    fields = ("day", "at_time", "hours", "action", "title", "text")
    ordering = ("position", "id")


class SopRuleForm(forms.ModelForm):
    class Meta:
        model = SopRule
        fields = [
            "name",
            "active",
            "trigger",
            "channel",
            "live_code",
            "trigger_tag",
            "segment",
            "allow_reenrol",
            "exit_on_follow_deleted",
            "exit_tag_removed",
            "goal_tag",
            "time_zone",
        ]

    def clean(self):
        cleaned = super().clean()
        sensitive_words_form_screen(self, ("name",))
        return cleaned

    def _post_clean(self) -> None:
        super()._post_clean()
        for field, messages_ in sop_rule_errors(self.instance).items():
            for message in messages_:
                self.add_error(field if field in self.fields else None, message)


@admin.register(SopRule)
class SopRuleAdmin(EmptyStateMixin, ScrmModelAdmin):
    form = SopRuleForm
    inlines = [SopStepInline]
    list_display = ("name", "trigger", "trigger_target", "active", "step_count", "enrolled", "updated_at")
    list_filter = ("trigger", "active")
    search_fields = ("name",)
    raw_id_fields = ("channel", "live_code", "trigger_tag", "segment", "exit_tag_removed", "goal_tag")
    readonly_fields = ("created_by", "created_at", "updated_at")
    actions = ["enrol_now"]
    fieldsets = (
        (None, {"fields": ("name", "active", "time_zone")}),
        (
            _("Trigger"),
            {"fields": ("trigger", "channel", "live_code", "trigger_tag", "segment", "allow_reenrol")},
        ),
        (_("Exit when"), {"fields": ("exit_on_follow_deleted", "exit_tag_removed", "goal_tag")}),
        (_("Record"), {"fields": ("created_by", "created_at", "updated_at")}),
    )
    empty_hint = _(
        "No customer SOP yet. An SOP enrols customers when they add a staff member through a channel "
        "or a live code, get a tag or enter a segment, then gives their staff member a task (or sends "
        "a broadcast) at each step: day 0 at 10:00, day 1, 3 hours after…"
    )

    def get_queryset(self, request):
        return sop_rule_list(user=request.user)

    def save_model(self, request, obj, form, change):
        sop_rule_save(rule=obj, user=request.user)  # steps follow in save_related, same transaction

    def save_formset(self, request, form, formset, change):
        instances = formset.save(commit=False)
        for removed in formset.deleted_objects:
            removed.delete()
        last = form.instance.steps.order_by("-position").values_list("position", flat=True).first() or 0
        for step in instances:
            if step.pk is None:
                last += 1
                step.position = last
            step.save()

    def delete_model(self, request, obj):
        sop_rule_delete(rule=obj)

    @display(description=_("of"))
    def trigger_target(self, obj):
        return obj.channel or obj.live_code or obj.trigger_tag or obj.segment or "—"

    @display(description=_("steps"))
    def step_count(self, obj):
        return len(obj.steps.all())  # prefetched by the selector

    @display(description=_("active enrolments"))
    def enrolled(self, obj):
        return obj.active_enrolments

    @action(description=_("Enrol the segment's new matches now"))
    def enrol_now(self, request, queryset):
        from ..tasks.sop import sop_segment_enrol_task

        rules = list(
            queryset.filter(trigger=SopRule.Trigger.SEGMENT, active=True).values_list("pk", flat=True)
        )
        for pk in rules:
            transaction.on_commit(lambda pk=pk: sop_segment_enrol_task.delay(rule_id=pk))
        if rules:
            self.message_user(
                request,
                ngettext(
                    "%(count)d segment SOP is being evaluated; new enrolments appear in the list.",
                    "%(count)d segment SOPs are being evaluated; new enrolments appear in the list.",
                    len(rules),
                )
                % {"count": len(rules)},
                messages.SUCCESS,
            )
        else:
            self.message_user(
                request, _("Only active SOPs triggered by a segment can be enrolled now."), messages.WARNING
            )


class SopStepAttachmentForm(AttachmentFileForm):
    class Meta:
        model = SopStepAttachment
        formfield_callback = url_https
        fields = ["kind", *ATTACHMENT_MODEL_FIELDS, "position"]


class SopStepAttachmentInline(AttachmentInline):
    model = SopStepAttachment
    form = SopStepAttachmentForm
    formset = forms.BaseInlineFormSet  # a step's own page: its text is checked with the step


@admin.register(SopStep)
class SopStepAdmin(ScrmModelAdmin):
    """A step's own page, for its attachments (reached from its rule)."""

    form = SopStepForm
    inlines = [SopStepAttachmentInline]
    list_display = ("__str__", "rule", "position", "action")
    list_filter = ("action",)
    list_select_related = ("rule",)
    raw_id_fields = ("rule",)
    fields = ("rule", "day", "at_time", "hours", "action", "title", "text")

    def has_module_permission(self, request):
        return False  # reached from its rule


@admin.register(SopEnrolment)
class SopEnrolmentAdmin(EmptyStateMixin, ReadOnlyAdminMixin, ScrmModelAdmin):
    list_display = (
        "customer",
        "rule",
        "staff",
        "sequence",
        "status",
        "anchor_at",
        "exit_reason",
        "exited_at",
    )
    list_filter = ("status", "rule")
    raw_id_fields = ("rule", "customer", "staff")
    empty_hint = _(
        "No one is enrolled yet. Customers are enrolled by the active SOPs' triggers; a segment SOP "
        'can be enrolled at once with its "enrol now" action.'
    )

    def get_queryset(self, request):
        return sop_enrolment_list(user=request.user)


@admin.register(SopOccurrence)
class SopOccurrenceAdmin(EmptyStateMixin, ReadOnlyAdminMixin, ScrmModelAdmin):
    list_display = ("enrolment", "step", "due_at", "status", "skipped_reason", "done_at")
    list_filter = ("status", "enrolment__rule")
    raw_id_fields = ("enrolment", "step")
    date_hierarchy = None
    empty_hint = _("No SOP step has been planned yet: each enrolment plans one occurrence per step.")

    def get_queryset(self, request):
        return sop_occurrence_list(user=request.user)
