"""Transfers of customers between staff (继承, PRODUCT.md E3, B7; WECOM.md §10) and the pool (公海).

- A :class:`TransferPolicy` says where a departed member's customers go: per department,
  inherited down the tree, with one corp default (``department`` empty).
- A :class:`TransferJob` is one run: the customers of a departed member (resigned transfer), the
  customers an admin chose (on-job transfer), or a claim from the pool.
- A :class:`TransferItem` is one customer in a job, from the handover's follow to one takeover.
  At most one item per follow is in flight (planned, sending or waiting) across all jobs: running
  a job twice, or two jobs at once, cannot hand a customer over twice.
- A :class:`TransferBatch` is one WeCom call (at most 100 customers, one handover → takeover
  pair), claimed before the call and recorded after, like the broadcasts' batches.
- A :class:`PoolEntry` is a customer without an active owner, waiting to be claimed.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from scrm.org.models import Department, Staff

#: WeCom takes at most this many customers per transfer call (WECOM.md §10.1, §10.2).
TRANSFER_BATCH_SIZE = 100


class TransferPolicy(models.Model):
    """Where a departed member's customers go; a department's policy covers its subtree unless a
    department below has its own, and the corp default (no department) covers the rest."""

    class Strategy(models.TextChoices):
        SUCCESSOR = "successor", _("a named successor")
        MANAGER = "manager", _("the department's manager")
        ROUND_ROBIN = "round_robin", _("round-robin among colleagues")
        LEAST_LOADED = "least_loaded", _("the least-loaded colleague")
        POOL = "pool", _("the customer pool")

    class OnRefusal(models.TextChoices):
        POOL = "pool", _("put the customer in the pool")
        NEXT = "next", _("offer the customer to the next colleague")

    department = models.OneToOneField(
        Department,
        verbose_name=_("department"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="transfer_policy",
        help_text=_("Empty: the corp default, for departments without a policy of their own."),
    )
    strategy = models.CharField(_("customers go to"), max_length=16, choices=Strategy.choices)
    successor = models.ForeignKey(
        Staff,
        verbose_name=_("successor"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("For “a named successor”."),
    )
    capacity = models.PositiveIntegerField(
        _("customer capacity"),
        null=True,
        blank=True,
        help_text=_(
            "The most customers a colleague may hold after taking over; empty: TRANSFER_TAKEOVER_CAPACITY."
        ),
    )
    on_refusal = models.CharField(
        _("when a customer refuses"), max_length=8, choices=OnRefusal.choices, default=OnRefusal.POOL
    )
    # Round-robin's place: the colleague who took the last customer.
    round_robin_last = models.ForeignKey(
        Staff, null=True, blank=True, on_delete=models.SET_NULL, related_name="+", editable=False
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("reassignment policy")
        verbose_name_plural = _("reassignment policies")
        ordering = ["department__path"]
        constraints = [
            # One corp default: the department, or 0 for the row without one, is unique.
            models.UniqueConstraint(
                Coalesce("department", models.Value(0)), name="cust_transfer_policy_one_per_dept"
            ),
        ]

    def __str__(self) -> str:
        where = self.department.name if self.department_id else _("corp default")
        return f"{where}: {self.get_strategy_display()}"


class TransferJob(models.Model):
    """One transfer run, with its customers as :class:`TransferItem` rows."""

    class Kind(models.TextChoices):
        RESIGNED = "resigned", _("departed staff (离职继承)")
        ONJOB = "onjob", _("on-job (在职继承)")
        CLAIM = "claim", _("claim from the pool")

    class Status(models.TextChoices):
        PLANNED = "planned", _("planned")
        RUNNING = "running", _("handing over")
        WAITING = "waiting", _("waiting for the customers (24 h)")
        DONE = "done", _("done")
        CANCELED = "canceled", _("canceled")

    class Trigger(models.TextChoices):
        CALLBACK = "callback", _("WeCom said the member left")
        SYNC = "sync", _("the sync found the member gone")
        UNASSIGNED = "unassigned", _("WeCom listed unassigned customers")
        NIGHTLY = "nightly", _("the nightly run")
        ADMIN = "admin", _("admin")
        API = "api", _("API")

    kind = models.CharField(_("kind"), max_length=16, choices=Kind.choices)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PLANNED)
    trigger = models.CharField(_("started by"), max_length=16, choices=Trigger.choices)
    handover = models.ForeignKey(
        Staff,
        verbose_name=pgettext_lazy("transfer", "from"),
        on_delete=models.PROTECT,
        related_name="transfer_jobs_out",
    )
    takeover = models.ForeignKey(
        Staff,
        verbose_name=pgettext_lazy("transfer", "to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="transfer_jobs_in",
        help_text=_("Empty when the policy spreads the customers over several colleagues."),
    )
    strategy = models.CharField(
        _("policy"), max_length=16, choices=TransferPolicy.Strategy.choices, blank=True
    )
    on_refusal = models.CharField(
        _("when a customer refuses"),
        max_length=8,
        choices=TransferPolicy.OnRefusal.choices,
        default=TransferPolicy.OnRefusal.POOL,
    )
    segment = models.ForeignKey(
        "customers.Segment",
        verbose_name=_("segment"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    transfer_message = models.CharField(
        _("message to the customers"),
        max_length=200,
        blank=True,
        help_text=_("On-job transfers: shown to the customers; WeCom's default text when empty."),
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
    started_at = models.DateTimeField(_("started at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("transfer job")
        verbose_name_plural = _("transfer jobs")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["status", "created_at"], name="cust_transfer_job_status_idx"),
            models.Index(fields=["handover", "status"], name="cust_transfer_job_handover_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} #{self.pk}"


class TransferBatch(models.Model):
    """One transfer call: at most 100 customers from the handover to one takeover."""

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        CALLING = "calling", _("calling WeCom")
        DONE = "done", pgettext_lazy("transfer batch", "handed over")

    job = models.ForeignKey(TransferJob, on_delete=models.CASCADE, related_name="batches")
    takeover = models.ForeignKey(Staff, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PENDING)
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("transfer batch")
        verbose_name_plural = _("transfer batches")
        ordering = ["id"]
        indexes = [models.Index(fields=["status", "claimed_at"], name="cust_transfer_batch_status_idx")]

    def __str__(self) -> str:
        return f"{self.job_id}/{self.pk}"


#: Item statuses still moving; at most one item per follow may hold one of them.
IN_FLIGHT = ("planned", "sending", "waiting")


class TransferItem(models.Model):
    """One customer of a job: the handover's follow, offered to one takeover."""

    class Status(models.TextChoices):
        PLANNED = "planned", _("planned")
        SENDING = "sending", _("being handed over")
        WAITING = "waiting", _("waiting for the customer (24 h)")  # WeCom status 2
        DONE = "done", _("taken over")  # WeCom status 1
        REFUSED = "refused", _("customer refused")  # WeCom status 3
        TAKEOVER_FULL = "takeover_full", _("takeover at the customer limit")  # status 4, 40099
        NO_RECORD = "no_record", _("WeCom has no record")  # status 5
        FAILED = "failed", _("WeCom refused the hand-over")  # a per-customer errcode
        BLOCKED = "blocked", _("not allowed (checked before calling WeCom)")
        POOLED = "pooled", _("sent to the customer pool")
        CANCELED = "canceled", _("canceled")

    class Reason(models.TextChoices):
        # Why an item is blocked, pooled or failed; errcodes are kept in ``errcode`` as well.
        NOT_FOLLOWED = "not_followed", _("the customer is not this member's contact")
        IN_PROGRESS = "in_progress", _("already being transferred")
        MAX_TRANSFERS = "max_transfers", _("already transferred twice (WeCom allows 2)")
        PROTECTED = "protected_90_days", _("transferred in the last 90 days (40128)")
        SAME_STAFF = "same_staff", _("the takeover already follows the customer")
        NO_TAKEOVER = "no_takeover", _("no colleague with room to take over")
        POLICY_POOL = "policy_pool", _("the policy sends customers to the pool")
        CUSTOMER_REFUSED = "customer_refused", _("the customer refused")
        TAKEOVER_LIMIT = "customer_limit_exceed", _("the takeover has too many customers")
        WECOM_ERROR = "wecom_error", _("WeCom answered an error")
        DAILY_CLAIM_LIMIT = "daily_claim_limit", _("today's claim limit is reached")

    job = models.ForeignKey(
        TransferJob, verbose_name=_("job"), on_delete=models.CASCADE, related_name="items"
    )
    customer = models.ForeignKey(
        "customers.Customer", verbose_name=_("customer"), on_delete=models.CASCADE, related_name="+"
    )
    follow = models.ForeignKey(
        "customers.Follow",
        verbose_name=_("handover's follow"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="transfer_items",
        help_text=_("Empty for a customer the handover does not follow (listed as blocked)."),
    )
    takeover = models.ForeignKey(
        Staff,
        verbose_name=pgettext_lazy("transfer", "to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    batch = models.ForeignKey(
        TransferBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PLANNED)
    reason = models.CharField(_("reason"), max_length=24, choices=Reason.choices, blank=True)
    errcode = models.IntegerField(_("WeCom errcode"), null=True, blank=True)
    attempt = models.PositiveSmallIntegerField(
        _("attempt"), default=1, help_text=_("2 and up: offered again after a refusal or a full takeover.")
    )
    takeover_at = models.DateTimeField(
        _("takeover time"), null=True, blank=True, help_text=_("WeCom's (planned) takeover time.")
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("transferred customer")
        verbose_name_plural = _("transferred customers")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["follow"],
                condition=models.Q(status__in=IN_FLIGHT),
                name="cust_transfer_item_one_in_flight",
            ),
        ]
        indexes = [
            models.Index(fields=["job", "status"], name="cust_transfer_item_job_idx"),
            models.Index(fields=["batch"], name="cust_transfer_item_batch_idx"),
            # WeCom's on-job rules (2 transfers, 90 days) read a customer's finished transfers.
            models.Index(fields=["customer", "status", "updated_at"], name="cust_transfer_item_cust_idx"),
            models.Index(
                fields=["takeover", "status"],
                condition=models.Q(status__in=IN_FLIGHT),
                name="cust_transfer_item_open_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.customer_id} → {self.takeover_id} ({self.status})"


class TransferNotice(models.Model):
    """The WeCom app message telling one takeover what a job hands them; sent at most once."""

    job = models.ForeignKey(TransferJob, on_delete=models.CASCADE, related_name="notices")
    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="+")
    customers = models.PositiveIntegerField(_("customers"), default=0)
    groups = models.PositiveIntegerField(_("groups"), default=0)
    claimed_at = models.DateTimeField(null=True, blank=True)
    sent_at = models.DateTimeField(_("sent at"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)

    class Meta:
        verbose_name = _("transfer notice")
        verbose_name_plural = _("transfer notices")
        constraints = [
            models.UniqueConstraint(fields=["job", "staff"], name="cust_transfer_notice_once"),
        ]

    def __str__(self) -> str:
        return f"{self.job_id} → {self.staff_id}"


class PoolEntry(models.Model):
    """A customer in the pool (公海): no active owner until a colleague claims them."""

    class Reason(models.TextChoices):
        POLICY = "policy", _("the policy sends customers to the pool")
        REFUSED = "refused", _("the customer refused the successor")
        NO_TAKEOVER = "no_takeover", _("no colleague had room")
        RETURNED = "returned", _("returned by an admin")

    customer = models.ForeignKey(
        "customers.Customer",
        verbose_name=_("customer"),
        on_delete=models.CASCADE,
        related_name="pool_entries",
    )
    follow = models.ForeignKey(
        "customers.Follow",
        verbose_name=_("held by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("The follow that still holds the customer in WeCom (a departed member's)."),
    )
    reason = models.CharField(_("reason"), max_length=16, choices=Reason.choices)
    source_item = models.ForeignKey(
        TransferItem, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    entered_at = models.DateTimeField(_("entered the pool at"))
    claimed_by = models.ForeignKey(
        Staff, verbose_name=_("claimed by"), null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    claimed_at = models.DateTimeField(_("claimed at"), null=True, blank=True)
    claim_job = models.ForeignKey(
        TransferJob, null=True, blank=True, on_delete=models.SET_NULL, related_name="claimed_entries"
    )

    class Meta:
        verbose_name = _("pool customer")
        verbose_name_plural = _("customer pool")
        ordering = ["-entered_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["customer"],
                condition=models.Q(claimed_at__isnull=True),
                name="cust_pool_one_open_entry",
            ),
        ]
        indexes = [
            models.Index(
                fields=["-entered_at"], condition=models.Q(claimed_at__isnull=True), name="cust_pool_open_idx"
            ),
            # The daily claim limit counts a member's claims since midnight.
            models.Index(fields=["claimed_by", "claimed_at"], name="cust_pool_claims_idx"),
        ]

    def __str__(self) -> str:
        return str(self.customer_id)
