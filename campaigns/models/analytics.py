"""Channel analytics (PRODUCT.md A4): adds, deletions and retention per channel and day.

Figures are never aggregated over all follows on a request. ``ChannelDay`` holds one row per
channel ``state``, staff member and local day, recomputed by a nightly job for the days whose
figures can still change; the current day is read live from ``customers.Follow`` with indexed
queries. Rows are per staff member so that a store manager's figures cover their own staff only
(``scrm.org.scoping``), and a channel's figures are the sum of its rows.
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from scrm.org.models import Staff

__all__ = ["ChannelDay", "ChannelRollup", "RETENTION_DAYS"]

# Retention is measured this many days after each add.
RETENTION_DAYS = (1, 7, 30)


class ChannelDay(models.Model):
    """The figures of one channel ``state``, staff member and day (in ``TIME_ZONE``).

    ``adds`` and the retention columns count the follows *added* that day; the deletion columns
    count the follows of the channel *deleted* that day, whenever they were added. A retention
    column is empty until N days have passed after the day: until then its figure could change.
    """

    state = models.CharField(_("channel (state)"), max_length=64)
    staff = models.ForeignKey(
        Staff, verbose_name=_("staff member"), on_delete=models.CASCADE, related_name="+"
    )
    day = models.DateField(_("day"))
    adds = models.PositiveIntegerField(_("adds"), default=0)
    deleted_by_customer = models.PositiveIntegerField(_("deleted by customer"), default=0)
    deleted_by_staff = models.PositiveIntegerField(_("deleted by staff"), default=0)
    retained_1 = models.PositiveIntegerField(_("retained after 1 day"), null=True, blank=True)
    retained_7 = models.PositiveIntegerField(_("retained after 7 days"), null=True, blank=True)
    retained_30 = models.PositiveIntegerField(_("retained after 30 days"), null=True, blank=True)
    computed_at = models.DateTimeField(_("computed at"))

    class Meta:
        verbose_name = _("channel analytics")
        verbose_name_plural = _("channel analytics")
        ordering = ["state", "day"]
        constraints = [
            # Also the index of "one channel over a date range".
            models.UniqueConstraint(fields=["state", "day", "staff"], name="camp_channelday_unique"),
        ]
        indexes = [
            # Every channel over a date range, and each day's recomputation.
            models.Index(fields=["day", "state"], name="camp_channelday_day_idx"),
            # The days whose 30-day retention is still open: found by the nightly job if it missed nights.
            models.Index(
                fields=["day"], condition=models.Q(retained_30__isnull=True), name="camp_channelday_open_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.state} · {self.day}"


class ChannelRollup(models.Model):
    """One recomputation of a range of days into ``ChannelDay``: the nightly one or a rebuild.

    Shows a rebuild's progress, and the last finished run tells up to which day the rollup is
    complete (later days are read live).
    """

    class Trigger(models.TextChoices):
        SCHEDULE = "schedule", _("nightly")
        ADMIN = "admin", _("admin")
        COMMAND = "command", _("command")

    class Status(models.TextChoices):
        QUEUED = "queued", _("queued")
        RUNNING = "running", _("running")
        DONE = "done", _("done")
        FAILED = "failed", _("failed")

    first_day = models.DateField(_("from"))
    last_day = models.DateField(_("until"))
    trigger = models.CharField(_("trigger"), max_length=16, choices=Trigger.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.QUEUED)
    days_done = models.PositiveIntegerField(_("days done"), default=0)
    rows = models.PositiveIntegerField(_("rows written"), default=0)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)

    class Meta:
        verbose_name = _("channel analytics rollup")
        verbose_name_plural = _("channel analytics rollups")
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "-last_day"], name="camp_rollup_status_idx")]

    def __str__(self) -> str:
        return f"{self.first_day}–{self.last_day}"

    @property
    def days_total(self) -> int:
        return (self.last_day - self.first_day).days + 1

    @property
    def percent(self) -> int:
        return min(100, round(100 * self.days_done / max(1, self.days_total)))
