"""Staff tasks (PRODUCT.md E4): what a frontline staff member is asked to do, by an SOP or by hand.

A task says "send this content to this customer" (or "post this in this group"), due at a time.
``source_key`` is unique: an SOP step or group post creates its task under a key built from the
occurrence, so a second beat or a retried job finds the task already there. Staff hear about new
tasks through WeCom app messages, batched per person (``notified_at``).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models import Customer
from groups.models import GroupChat
from scrm.org.models import Staff

__all__ = ["StaffTask"]


class StaffTask(models.Model):
    """One thing one staff member should do for one customer or group."""

    class Kind(models.TextChoices):
        CUSTOMER_SOP = "customer_sop", _("customer SOP")
        GROUP_SOP = "group_sop", _("group SOP")
        MANUAL = "manual", _("manual")

    class Status(models.TextChoices):
        OPEN = "open", _("to do")
        DONE = "done", _("done")
        SKIPPED = "skipped", _("skipped")
        CANCELED = "canceled", _("canceled")

    staff = models.ForeignKey(
        Staff, verbose_name=_("staff member"), on_delete=models.CASCADE, related_name="tasks"
    )
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tasks",
    )
    group = models.ForeignKey(
        GroupChat,
        verbose_name=_("group"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="tasks",
    )
    kind = models.CharField(_("type"), max_length=16, choices=Kind.choices, default=Kind.MANUAL)
    title = models.CharField(_("title"), max_length=200)
    # What to send: {"text": ..., "attachments": [summaries as AttachmentContent.summary()],
    # "material_ids": [...]}
    content = models.JSONField(_("content"), default=dict, blank=True)
    due_at = models.DateTimeField(_("due at"))
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.OPEN)
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True)
    note = models.CharField(_("note"), max_length=500, blank=True)
    source_key = models.CharField(_("source"), max_length=160, unique=True)
    notified_at = models.DateTimeField(_("staff notified at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("staff task")
        verbose_name_plural = _("staff tasks")
        ordering = ["due_at", "id"]
        indexes = [
            models.Index(fields=["staff", "status", "due_at"], name="camp_task_staff_idx"),
            models.Index(
                fields=["due_at"],
                condition=models.Q(notified_at__isnull=True),
                name="camp_task_unnotified_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.title
