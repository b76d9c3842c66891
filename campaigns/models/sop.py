"""Customer SOP rules (PRODUCT.md E1): triggers, steps at offsets, enrolments and their occurrences.

A :class:`SopRule` enrols a customer when its trigger fires (added through a channel or a live
code, tagged, entered a segment) into a :class:`SopEnrolment`, anchored at the moment it fired.
Each :class:`SopStep` then becomes one :class:`SopOccurrence` of that enrolment with its due time
computed once, at enrolment, in the rule's time zone. The beat's tick claims due occurrences (each
row once, ``SELECT … FOR UPDATE SKIP LOCKED``) and turns them into staff tasks or broadcasts.

Uniqueness does the exactly-once work: one active enrolment per (rule, customer), one enrolment
per (rule, customer, sequence), one occurrence per (enrolment, step).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Segment, Tag
from scrm.fields import IdArrayField
from scrm.org.models import Staff

from .channels import Channel
from .livecodes import LiveCode
from .welcome import AttachmentContent

__all__ = [
    "SopCursor",
    "SopEnrolment",
    "SopOccurrence",
    "SopRule",
    "SopStep",
    "SopStepAttachment",
]


def default_time_zone() -> str:
    """The project's time zone (Asia/Shanghai unless configured otherwise)."""
    return settings.TIME_ZONE


class SopRule(models.Model):
    """A customer SOP: who enters (the trigger), what happens when (the steps), who leaves early."""

    class Trigger(models.TextChoices):
        CHANNEL = "channel", _("added through a channel")
        LIVE_CODE = "live_code", _("added through a live code")
        TAGGED = "tagged", _("tagged")
        SEGMENT = "segment", _("entered a segment")

    name = models.CharField(_("name"), max_length=128)
    active = models.BooleanField(_("active"), default=True)
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices)
    channel = models.ForeignKey(
        Channel,
        verbose_name=_("channel"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sop_rules",
    )
    live_code = models.ForeignKey(
        LiveCode,
        verbose_name=_("live code"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sop_rules",
    )
    trigger_tag = models.ForeignKey(
        Tag,
        verbose_name=_("trigger tag"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    segment = models.ForeignKey(
        Segment,
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="sop_rules",
    )
    allow_reenrol = models.BooleanField(
        _("allow re-enrolment"),
        default=False,
        help_text=_("A customer whose enrolment ended may be enrolled again by a new trigger."),
    )
    exit_on_follow_deleted = models.BooleanField(
        _("exit when the follow is deleted"),
        default=True,
        help_text=_("The customer leaves when the staff member and the customer are no longer contacts."),
    )
    exit_tag_removed = models.ForeignKey(
        Tag,
        verbose_name=_("exit when this tag is removed"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    goal_tag = models.ForeignKey(
        Tag,
        verbose_name=_("goal tag"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The customer leaves once they carry this tag: the SOP reached its goal."),
    )
    time_zone = models.CharField(
        _("time zone"),
        max_length=64,
        default=default_time_zone,
        help_text=_("Steps at a time of day are computed in it."),
    )
    # Segment rules are evaluated periodically; the last evaluation is kept to space them.
    segment_evaluated_at = models.DateTimeField(
        _("segment evaluated at"), null=True, blank=True, editable=False
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("customer SOP")
        verbose_name_plural = _("customer SOPs")
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["active", "trigger"], name="camp_sop_rule_trigger_idx")]

    def __str__(self) -> str:
        return self.name


class SopStep(models.Model):
    """One step of an SOP: at an offset from the enrolment's anchor, a staff task or a broadcast.

    Offsets: "day N at HH:MM" (``day`` and ``at_time``; the anchor's local date plus N days) or
    "N hours after" (``hours``; the anchor plus N hours).
    """

    class Action(models.TextChoices):
        STAFF_TASK = "staff_task", _("staff task")
        BROADCAST = "broadcast", _("automatic broadcast")

    rule = models.ForeignKey(SopRule, verbose_name=_("SOP"), on_delete=models.CASCADE, related_name="steps")
    position = models.PositiveSmallIntegerField(_("position"), default=0)
    day = models.PositiveSmallIntegerField(
        _("day"), null=True, blank=True, help_text=_("0: the day of enrolment.")
    )
    at_time = models.TimeField(_("at"), null=True, blank=True)
    hours = models.PositiveIntegerField(_("hours after"), null=True, blank=True)
    action = models.CharField(_("action"), max_length=16, choices=Action.choices, default=Action.STAFF_TASK)
    title = models.CharField(_("title"), max_length=200, blank=True)
    text = models.TextField(_("text"), blank=True)
    material_ids = IdArrayField(_("library materials"))

    class Meta:
        verbose_name = _("SOP step")
        verbose_name_plural = _("SOP steps")
        ordering = ["rule", "position", "id"]

    def __str__(self) -> str:
        return self.title or self.offset_label

    @property
    def offset_label(self) -> str:
        if self.hours is not None:
            return str(_("%(hours)s h after")) % {"hours": self.hours}
        at = self.at_time.strftime("%H:%M") if self.at_time else "--:--"
        return str(_("day %(day)s at %(at)s")) % {"day": self.day, "at": at}


class SopStepAttachment(AttachmentContent):
    """One attachment of a step's content (≤9), in WeCom's shapes."""

    step = models.ForeignKey(SopStep, on_delete=models.CASCADE, related_name="attachments")
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["position", "id"]


class SopEnrolment(models.Model):
    """One customer going through one SOP, from the trigger's moment (``anchor_at``).

    ``sequence`` counts the customer's enrolments in the rule: without re-enrolment it is always 1,
    so (rule, customer, sequence) makes a second enrolment a conflict; with it, at most one is
    active at a time. ``planned_at`` is set once the occurrences exist.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        EXITED = "exited", _("exited")
        COMPLETED = "completed", _("completed")

    rule = models.ForeignKey(
        SopRule, verbose_name=_("SOP"), on_delete=models.CASCADE, related_name="enrolments"
    )
    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="sop_enrolments"
    )
    staff = models.ForeignKey(
        Staff, verbose_name=_("staff member"), on_delete=models.CASCADE, related_name="sop_enrolments"
    )
    sequence = models.PositiveIntegerField(_("enrolment number"), default=1)
    anchor_at = models.DateTimeField(_("enrolled at"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    exit_reason = models.CharField(_("exit reason"), max_length=200, blank=True)
    exited_at = models.DateTimeField(_("ended at"), null=True, blank=True)
    planned_at = models.DateTimeField(_("planned at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("SOP enrolment")
        verbose_name_plural = _("SOP enrolments")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["rule", "customer"],
                condition=models.Q(status="active"),
                name="camp_sop_enrol_one_active",
            ),
            models.UniqueConstraint(
                fields=["rule", "customer", "sequence"], name="camp_sop_enrol_unique_seq"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "rule"], name="camp_sop_enrol_status_idx"),
            models.Index(
                fields=["rule"],
                condition=models.Q(planned_at__isnull=True),
                name="camp_sop_enrol_unplanned_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule_id} ← {self.customer_id}"


class SopOccurrence(models.Model):
    """One step of one enrolment, due at a computed time; claimed and run exactly once."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        CLAIMED = "claimed", _("claimed")
        DONE = "done", _("done")
        SKIPPED = "skipped", _("skipped")

    enrolment = models.ForeignKey(
        SopEnrolment, verbose_name=_("enrolment"), on_delete=models.CASCADE, related_name="occurrences"
    )
    step = models.ForeignKey(
        SopStep, verbose_name=_("step"), on_delete=models.CASCADE, related_name="occurrences"
    )
    due_at = models.DateTimeField(_("due at"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    skipped_reason = models.CharField(_("skipped because"), max_length=200, blank=True)
    done_at = models.DateTimeField(_("done at"), null=True, blank=True)

    class Meta:
        verbose_name = _("SOP occurrence")
        verbose_name_plural = _("SOP occurrences")
        ordering = ["due_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["enrolment", "step"], name="camp_sop_occ_unique"),
        ]
        indexes = [
            models.Index(
                fields=["due_at"], condition=models.Q(status="pending"), name="camp_sop_occ_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.enrolment_id}/{self.step_id} @ {self.due_at:%Y-%m-%d %H:%M}"

    @property
    def task_key(self) -> str:
        """The staff task's ``source_key``: a rerun finds the task already there."""
        return f"sop:{self.pk}"


class SopCursor(models.Model):
    """How far an incremental trigger has read its source (the timeline's tagged events)."""

    name = models.CharField(_("name"), max_length=64, unique=True)
    position = models.BigIntegerField(_("last id read"), default=0)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("SOP cursor")
        verbose_name_plural = _("SOP cursors")

    def __str__(self) -> str:
        return f"{self.name}: {self.position}"
