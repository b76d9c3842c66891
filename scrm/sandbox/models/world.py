"""The sandbox's own machinery: its simulated clock and the outbox of callbacks it sends us."""

from __future__ import annotations

from django.db import models


class SandboxClock(models.Model):
    """The simulated clock (one row, pk 1): WeCom's time is real time plus ``offset_seconds``.

    Tests and the console advance it to let time-bound state move on (transfers taken over after
    24 h, welcome codes expired after 20 s, mass messages' and moments' windows).
    """

    offset_seconds = models.BigIntegerField(default=0)

    class Meta:
        db_table = "sb_clock"

    def __str__(self) -> str:
        return f"clock +{self.offset_seconds}s"


class SandboxCallback(models.Model):
    """One callback WeCom owes the corp's callback URL: the plain inner XML, encrypted on sending.

    Rows are written by :func:`scrm.sandbox.callbacks.callback_emit` in the same transaction as the
    change they report; delivery re-sends when no HTTP 200 comes back within 5 s, three re-sends
    at most (WECOM.md §12.1), and records each attempt.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "pending"
        DELIVERED = "delivered", "delivered"
        FAILED = "failed", "failed"

    corp_id = models.CharField(max_length=64)
    event = models.CharField(max_length=64)
    change_type = models.CharField(max_length=64, blank=True)
    xml = models.TextField(help_text="The decrypted callback XML, as our callback view will see it.")
    created_at = models.DateTimeField(auto_now_add=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_result = models.CharField(max_length=200, blank=True, help_text="HTTP status or network error.")
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "sb_callback"
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "id"], name="sb_callback_status_idx")]

    def __str__(self) -> str:
        return f"{self.event}/{self.change_type} #{self.pk}"
