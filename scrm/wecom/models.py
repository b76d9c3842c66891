"""The callback inbox: every accepted WeCom callback, stored once, then processed once."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _


class CallbackInbox(models.Model):
    """One WeCom callback event, stored by the callback view before it answers WeCom.

    ``dedupe_key`` is a hash of the event's own identity (``CallbackEvent.dedupe_key``) and is
    unique, so WeCom's retries of the same event are no-ops. A Celery task claims the row
    (received or failed → processing), dispatches it to the apps' handlers and records done or
    failed with the error; failed rows can be retried from the admin.
    """

    class Status(models.TextChoices):
        RECEIVED = "received", _("received")
        PROCESSING = "processing", _("processing")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    dedupe_key = models.CharField(_("dedupe key"), max_length=64)
    event = models.CharField(_("event"), max_length=64)
    change_type = models.CharField(_("change type"), max_length=64, blank=True)
    received_at = models.DateTimeField(_("received at"), auto_now_add=True)
    xml = models.TextField(_("decrypted XML"))
    payload = models.JSONField(_("parsed payload"), default=dict)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(_("attempts"), default=0)
    last_error = models.TextField(_("last error"), blank=True)
    processed_at = models.DateTimeField(_("processed at"), null=True, blank=True)

    class Meta:
        verbose_name = _("callback")
        verbose_name_plural = _("callback inbox")
        ordering = ["-id"]
        constraints = [models.UniqueConstraint(fields=["dedupe_key"], name="wecom_inbox_dedupe_key_uniq")]
        indexes = [
            models.Index(fields=["status", "id"], name="wecom_inbox_status_idx"),
            models.Index(fields=["event", "change_type"], name="wecom_inbox_event_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.event}/{self.change_type or '-'} #{self.pk}"
