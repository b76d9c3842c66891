"""Broadcasts (群发, PRODUCT.md D2 and D3, WECOM.md §8): one message to many customers or groups.

A :class:`Broadcast` names its audience (a segment or ad-hoc rules for customers; owners, group
tags, stores or a list for groups) and its content (text and up to 9 :class:`BroadcastAttachment`).
Planning materializes the audience into one :class:`BroadcastRecipient` per customer or group, in
bulk: eligible ones get a sender (one of the staff who follow the customer, or the group's owner),
the others a suppression reason. Dispatch then groups eligible recipients by sender into
:class:`BroadcastBatch` rows of at most WeCom's call size (10,000 customers or 2,000 groups), and
hands each batch to ``add_msg_template`` by the exactly-once protocol of ARCHITECTURE.md: claim the
batch, call, record the msgid; a batch whose outcome is unknown is reconciled against
``get_groupmsg_list_v2`` before any retry. Results come back per sender (confirmed in the client)
and per recipient (sent, not a friend, over the receive cap) from WeCom's result calls.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models import Customer, Segment
from groups.models import GroupChat
from scrm.org.models import Staff

from .welcome import AttachmentContent

__all__ = ["Broadcast", "BroadcastAttachment", "BroadcastBatch", "BroadcastRecipient"]

#: WeCom's largest ``add_msg_template`` call (WECOM.md §8.1).
MAX_CUSTOMERS_PER_CALL = 10_000
MAX_GROUPS_PER_CALL = 2_000


class Broadcast(models.Model):
    """One mass message to customers or to groups, from its audience to its synced results."""

    class Kind(models.TextChoices):
        CUSTOMERS = "customers", _("to customers")
        GROUPS = "groups", _("to groups")

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        SCHEDULED = "scheduled", _("scheduled")
        PLANNING = "planning", _("planning")
        SENDING = "sending", _("handing to WeCom")
        SENT = "sent", _("handed to WeCom")
        CANCELED = "canceled", _("canceled")
        FAILED = "failed", _("failed")

    class Origin(models.TextChoices):
        ADMIN = "admin", _("admin")
        API = "api", _("API")
        SOP = "sop", _("SOP")

    name = models.CharField(_("name"), max_length=128)
    kind = models.CharField(_("recipients"), max_length=16, choices=Kind.choices, default=Kind.CUSTOMERS)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    text = models.TextField(_("text"), blank=True)
    # Customers: a saved segment, or ad-hoc rules in the segment format (customers.segments), or both
    # (the rules then narrow the segment). Groups: {"owners": [staff ids], "group_tags": [ids],
    # "stores": [department ids], "groups": [group ids]}.
    segment = models.ForeignKey(
        Segment, verbose_name=_("segment"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    rules = models.JSONField(_("audience rules"), default=dict, blank=True)
    # Customers named outright (an SOP step's due enrolments) instead of a segment or rules.
    customer_ids = models.JSONField(_("customers"), null=True, blank=True, editable=False)
    # How a customer followed by several staff picks the sender (campaigns.services.broadcasts).
    sender_rule = models.CharField(_("sender rule"), max_length=24, default="last_added")
    scheduled_at = models.DateTimeField(_("send at"), null=True, blank=True, db_index=True)
    origin = models.CharField(_("origin"), max_length=8, choices=Origin.choices, default=Origin.ADMIN)
    # Set by automatic senders (an SOP occurrence): a second attempt finds the first broadcast.
    origin_key = models.CharField(_("origin key"), max_length=128, null=True, blank=True, unique=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    # The funnel (PRODUCT.md D2), kept by the planning, dispatch and result services.
    targeted = models.PositiveIntegerField(_("targeted"), default=0)
    eligible = models.PositiveIntegerField(_("eligible"), default=0)
    handed = models.PositiveIntegerField(_("handed to WeCom"), default=0)
    confirmed = models.PositiveIntegerField(_("confirmed by staff"), default=0)
    delivered = models.PositiveIntegerField(_("delivered"), default=0)
    error = models.TextField(_("error"), blank=True)
    planned_at = models.DateTimeField(_("planned at"), null=True, blank=True)
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("handed over at"), null=True, blank=True)
    canceled_at = models.DateTimeField(_("canceled at"), null=True, blank=True)
    results_synced_at = models.DateTimeField(_("results synced at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("broadcast")
        verbose_name_plural = _("broadcasts")
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "scheduled_at"], name="camp_bcast_status_sched_idx")]

    def __str__(self) -> str:
        return self.name

    @property
    def per_call(self) -> int:
        """The most recipients one ``add_msg_template`` call takes for this kind."""
        return MAX_GROUPS_PER_CALL if self.kind == self.Kind.GROUPS else MAX_CUSTOMERS_PER_CALL


class BroadcastAttachment(AttachmentContent):
    """One of a broadcast's attachments (≤9), in WeCom's shapes (WECOM.md §8.1)."""

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="attachments")
    position = models.PositiveSmallIntegerField(_("position"), default=0)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["position", "id"]

    def clean(self) -> None:
        errors = self.attachment_errors()
        if errors:
            raise ValidationError(errors)


class BroadcastBatch(models.Model):
    """One ``add_msg_template`` call: one sender's recipients, at most the call size.

    ``pending`` → ``claimed`` (the call is being made) → ``handed`` (msgid recorded). A batch found
    ``claimed`` by anyone but its claimer is ``unknown`` until reconciled with WeCom's message list.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting")
        CLAIMED = "claimed", _("calling WeCom")
        UNKNOWN = "unknown", _("outcome unknown")
        HANDED = "handed", _("handed to WeCom")
        FAILED = "failed", _("failed")
        CANCELED = "canceled", _("canceled")

    broadcast = models.ForeignKey(Broadcast, on_delete=models.CASCADE, related_name="batches")
    sender = models.ForeignKey(Staff, verbose_name=_("sender"), on_delete=models.PROTECT, related_name="+")
    seq = models.PositiveIntegerField(_("number"), default=0)
    size = models.PositiveIntegerField(_("recipients"), default=0)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    msgid = models.CharField(_("WeCom msgid"), max_length=128, blank=True, db_index=True)
    fail_count = models.PositiveIntegerField(_("refused by WeCom"), default=0)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    handed_at = models.DateTimeField(_("handed at"), null=True, blank=True)
    # From get_groupmsg_task: whether the sender confirmed the task in the WeCom client.
    confirmed_at = models.DateTimeField(_("confirmed by sender at"), null=True, blank=True)
    error = models.TextField(_("error"), blank=True)
    # The dispatch protocol (campaigns.services.broadcast_dispatch): who holds the claim, when the
    # next attempt may start (backoff, quiet hours), when a send task was last queued for it.
    claim_token = models.CharField(_("claim token"), max_length=32, blank=True)
    not_before = models.DateTimeField(_("next attempt at"), null=True, blank=True)
    queued_at = models.DateTimeField(_("queued at"), null=True, blank=True)
    # When the senders were reminded (ISO times): WeCom allows 3 reminders per message in 24 hours.
    reminded_at = models.JSONField(_("reminded at"), default=list, blank=True)
    results_synced_at = models.DateTimeField(_("results synced at"), null=True, blank=True)
    # The batch's recipients: its sender's pending rows with ids in [first_id, last_id]. Their
    # ``batch`` is set when they are handed over, in the same UPDATE (one write per row).
    first_id = models.PositiveBigIntegerField(_("first recipient id"), default=0)
    last_id = models.PositiveBigIntegerField(_("last recipient id"), default=0)

    class Meta:
        verbose_name = _("sender batch")
        verbose_name_plural = _("sender batches")
        ordering = ["broadcast", "sender", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "sender", "seq"], name="camp_bcast_batch_unique")
        ]
        indexes = [models.Index(fields=["status", "claimed_at"], name="camp_bcast_batch_status_idx")]

    def __str__(self) -> str:
        return f"{self.broadcast_id}/{self.sender_id}/{self.seq}"


class BroadcastRecipient(models.Model):
    """One customer or group of one broadcast, from planning to WeCom's result.

    Suppressed recipients keep their row with the reason, so the preview and the funnel can say who
    was left out and why. ``handed_at`` is when WeCom got the message for them: the receive cap
    counts these rows across every broadcast (and SOP broadcast) in the cap's period.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("waiting")
        SUPPRESSED = "suppressed", _("left out")
        HANDED = "handed", _("handed to WeCom")
        SENT = "sent", _("sent")
        NOT_FRIEND = "not_friend", _("not a friend")
        OVER_CAP = "over_cap", _("over the receive cap")
        FAILED = "failed", _("failed")
        UNSENT = "unsent", _("not sent by staff")
        CANCELED = "canceled", _("canceled")

    class Reason(models.TextChoices):
        RECEIVE_CAP = "receive_cap", _("receive cap reached")
        NO_FOLLOW = "no_follow", _("no longer a friend of any sender")
        OPTED_OUT = "opted_out", _("opted out")
        QUIET_HOURS = "quiet_hours", _("quiet hours")
        GROUP_DISMISSED = "group_dismissed", _("group dismissed")
        NO_OWNER = "no_owner", _("group has no active owner")

    # No single-column indexes on broadcast and batch: the composite ones below lead with them,
    # and every index is one more write per row when a million recipients are planned and handed.
    broadcast = models.ForeignKey(
        Broadcast, on_delete=models.CASCADE, related_name="recipients", db_index=False
    )
    customer = models.ForeignKey(Customer, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    group = models.ForeignKey(GroupChat, null=True, blank=True, on_delete=models.CASCADE, related_name="+")
    # external_userid or chat_id, as sent to WeCom and as WeCom reports results.
    target = models.CharField(_("WeCom id"), max_length=64)
    sender = models.ForeignKey(
        Staff, verbose_name=_("sender"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    batch = models.ForeignKey(
        BroadcastBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", db_index=False
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    reason = models.CharField(_("left out because"), max_length=24, choices=Reason.choices, blank=True)
    handed_at = models.DateTimeField(_("handed at"), null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)

    class Meta:
        verbose_name = _("recipient")
        verbose_name_plural = _("recipients")
        constraints = [
            models.UniqueConstraint(fields=["broadcast", "target"], name="camp_bcast_rcpt_unique"),
        ]
        indexes = [
            models.Index(fields=["broadcast", "status"], name="camp_bcast_rcpt_status_idx"),
            models.Index(fields=["batch", "status"], name="camp_bcast_rcpt_batch_idx"),
            # Dispatch: one sender's recipients still to hand over, by id range (a batch).
            models.Index(
                fields=["broadcast", "sender", "id"],
                condition=models.Q(status="pending"),
                name="camp_bcast_rcpt_pending_idx",
            ),
            # The receive cap: how many broadcasts reached this customer (or group) since a time.
            models.Index(
                fields=["target", "handed_at"],
                condition=models.Q(handed_at__isnull=False),
                name="camp_bcast_rcpt_cap_idx",
            ),
        ]

    def __str__(self) -> str:
        return self.target
