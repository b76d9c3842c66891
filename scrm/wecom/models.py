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


class SyncRun(models.Model):
    """One sync from WeCom: which steps ran, how far each got, what they changed, how it ended.

    At most one run per corp is queued or running at a time (a partial unique constraint), so a
    second request while one runs is refused instead of starting a parallel run; ``occurrence``
    makes each scheduled occurrence (the nightly reconciliation of one day) a unique row, so a
    duplicate trigger from the scheduler does nothing (QUALITY.md trap 7).
    """

    class Mode(models.TextChoices):
        FULL = "full", _("full")
        INCREMENTAL = "incremental", _("incremental")

    class Trigger(models.TextChoices):
        COMMAND = "command", _("command")
        ADMIN = "admin", _("admin")
        SCHEDULE = "schedule", _("schedule")
        DEMO = "demo", _("demo")

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    corp_id = models.CharField(_("corp id"), max_length=64)
    mode = models.CharField(_("mode"), max_length=16, choices=Mode.choices)
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    occurrence = models.CharField(
        _("occurrence"), max_length=64, blank=True, help_text=_("Which scheduled occurrence this run is.")
    )
    created_at = models.DateTimeField(_("requested at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    heartbeat_at = models.DateTimeField(_("last sign of life"), null=True, blank=True)
    #: ``{step: {"done": n, "total": n or None, "state": "pending|running|done|failed"}}``
    progress = models.JSONField(_("progress"), default=dict, blank=True)
    #: ``{step: {"created": n, "updated": n, ...}}``
    counts = models.JSONField(_("counts"), default=dict, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("sync run")
        verbose_name_plural = _("sync runs")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["corp_id"],
                condition=models.Q(status__in=["queued", "running"]),
                name="wecom_syncrun_one_active",
            ),
            models.UniqueConstraint(
                fields=["corp_id", "occurrence"],
                condition=~models.Q(occurrence=""),
                name="wecom_syncrun_occurrence_uniq",
            ),
        ]
        indexes = [models.Index(fields=["status", "id"], name="wecom_syncrun_status_idx")]

    def __str__(self) -> str:
        return f"{self.get_mode_display()} sync #{self.pk}"
