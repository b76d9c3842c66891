"""Group SOP rules (PRODUCT.md C3, E2): recurring posts to chosen groups, one occurrence per run.

A :class:`GroupSopRule` says *when* (weekdays and a time of day, or a cron expression, in its time
zone), *where* (chosen groups, and/or every group of some owners, group tags or stores) and *what*
(a text with attachments, and the materials to use), and *how*: as one staff task per group owner
or as one group broadcast. Every occurrence is a :class:`GroupSopRun`, unique per rule and
scheduled time, so a second scheduler or a retried task finds the row already there and does
nothing twice (QUALITY.md trap 7).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _

from groups.models import GroupChat, GroupTag
from scrm.org.models import Department, Staff

from .broadcasts import Broadcast
from .welcome import AttachmentContent

__all__ = ["GroupSopAttachment", "GroupSopRule", "GroupSopRun"]


def default_time_zone() -> str:
    return settings.TIME_ZONE


class GroupSopRule(models.Model):
    """A recurring post to groups: its schedule, its target groups, its content and its action."""

    class ScheduleKind(models.TextChoices):
        WEEKLY = "weekly", _("weekdays and a time")
        CRON = "cron", _("cron expression")

    class Action(models.TextChoices):
        OWNER_TASKS = "owner_tasks", _("a task for each group owner")
        BROADCAST = "broadcast", _("a group broadcast")

    name = models.CharField(_("name"), max_length=128)
    active = models.BooleanField(_("active"), default=True)
    schedule_kind = models.CharField(
        _("schedule"), max_length=8, choices=ScheduleKind.choices, default=ScheduleKind.WEEKLY
    )
    # 0 = Monday … 6 = Sunday, as Python's date.weekday().
    weekdays = models.JSONField(
        _("weekdays"), default=list, blank=True, help_text=_("0 = Monday … 6 = Sunday.")
    )
    time_of_day = models.TimeField(_("time of day"), null=True, blank=True)
    cron = models.CharField(
        _("cron expression"),
        max_length=100,
        blank=True,
        help_text=_("Five fields: minute hour day-of-month month day-of-week (0 = Sunday), e.g. 0 10 * * 1."),
    )
    time_zone = models.CharField(_("time zone"), max_length=64, default=default_time_zone)
    # Targets: the union of these.
    groups = models.ManyToManyField(GroupChat, verbose_name=_("groups"), blank=True, related_name="+")
    owners = models.ManyToManyField(
        Staff, verbose_name=_("groups of these owners"), blank=True, related_name="+"
    )
    group_tags = models.ManyToManyField(
        GroupTag, verbose_name=_("groups with these tags"), blank=True, related_name="+"
    )
    stores = models.ManyToManyField(
        Department, verbose_name=_("groups of these stores"), blank=True, related_name="+"
    )
    action = models.CharField(_("action"), max_length=16, choices=Action.choices, default=Action.OWNER_TASKS)
    text = models.TextField(_("text"), blank=True)
    material_ids = models.JSONField(_("materials"), default=list, blank=True)
    # Occurrences are looked for after this moment only (the rule's creation or re-activation, then
    # the latest occurrence recorded), so a new rule never fires for times before it existed.
    active_since = models.DateTimeField(_("active since"), null=True, blank=True, editable=False)
    last_scheduled_for = models.DateTimeField(_("latest occurrence"), null=True, blank=True, editable=False)
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
        verbose_name = _("group SOP rule")
        verbose_name_plural = _("group SOP rules")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def cron_expression(self) -> str:
        """The schedule as five cron fields (day of week 0 = Sunday), whatever its kind."""
        if self.schedule_kind == self.ScheduleKind.CRON:
            return self.cron.strip()
        at = self.time_of_day
        days = ",".join(str((int(d) + 1) % 7) for d in sorted(self.weekdays or []))
        return f"{at.minute if at else 0} {at.hour if at else 0} * * {days or '*'}"


class GroupSopAttachment(AttachmentContent):
    """One of a group SOP rule's attachments (≤9), in WeCom's shapes."""

    rule = models.ForeignKey(GroupSopRule, on_delete=models.CASCADE, related_name="attachments")
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["position", "id"]


class GroupSopRun(models.Model):
    """One occurrence of a rule: ``pending`` → ``done``, or ``skipped`` with the reason (found too
    late, nothing to post to, content refused). A run is claimed by locking its row (``SKIP
    LOCKED``) and acted on in that same transaction, so no half-done state is ever committed."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        DONE = "done", _("done")
        SKIPPED = "skipped", _("skipped")

    rule = models.ForeignKey(
        GroupSopRule, verbose_name=_("rule"), on_delete=models.CASCADE, related_name="runs"
    )
    scheduled_for = models.DateTimeField(_("scheduled for"))
    # scheduled_for, or the end of the quiet hours holding it.
    due_at = models.DateTimeField(_("due at"))
    status = models.CharField(_("status"), max_length=8, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(_("reason"), max_length=300, blank=True)
    groups_count = models.PositiveIntegerField(_("groups"), default=0)
    tasks_count = models.PositiveIntegerField(_("tasks created"), default=0)
    broadcast = models.ForeignKey(
        Broadcast,
        verbose_name=_("broadcast"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("group SOP run")
        verbose_name_plural = _("group SOP runs")
        ordering = ["-scheduled_for", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["rule", "scheduled_for"], name="camp_gsop_run_uniq"),
        ]
        indexes = [
            models.Index(
                fields=["due_at"], condition=models.Q(status="pending"), name="camp_gsop_run_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule} @ {self.scheduled_for:%Y-%m-%d %H:%M}"
