"""Customer group chats (客户群) and their members, mirrored from WeCom."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from customers.models import Customer
from scrm.org.models import Department, Staff


class GroupTag(models.Model):
    """A label the company puts on its groups (e.g. 新品群, VIP群) to pick them for broadcasts."""

    name = models.CharField(_("name"), max_length=30, unique=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("group tag")
        verbose_name_plural = _("group tags")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class GroupChat(models.Model):
    """A customer group chat (``chat_id``), with WeCom's inheritance states for departed owners."""

    class Status(models.TextChoices):
        NORMAL = "normal", _("normal")
        OWNER_DEPARTED = "owner_departed", _("owner departed, awaiting transfer")
        TRANSFERRING = "transferring", _("transfer in progress")
        TRANSFERRED = "transferred", _("transferred")
        DISMISSED = "dismissed", _("dismissed")

    class Kind(models.TextChoices):
        ACTIVITY = "activity", _("activity group")
        SERVICE = "service", _("service group")
        SALES = "sales", _("sales group")

    chat_id = models.CharField(_("chat id"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=128, blank=True)
    owner = models.ForeignKey(
        Staff,
        verbose_name=_("owner"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="owned_groups",
    )
    owner_userid = models.CharField(_("owner userid"), max_length=64, blank=True)
    admin_userids = models.JSONField(_("admins"), default=list, blank=True)
    notice = models.TextField(_("notice"), blank=True)
    created_at = models.DateTimeField(_("created at"), null=True, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.NORMAL)
    member_count = models.PositiveIntegerField(_("members"), default=0)
    member_version = models.CharField(_("member version"), max_length=64, blank=True)
    kind = models.CharField(_("type"), max_length=16, choices=Kind.choices, blank=True)
    store = models.ForeignKey(
        Department,
        verbose_name=_("store"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="groups",
    )
    tags = models.ManyToManyField(GroupTag, verbose_name=_("tags"), blank=True, related_name="groups")
    dismissed_at = models.DateTimeField(_("dismissed at"), null=True, blank=True)
    synced_at = models.DateTimeField(_("synced at"), auto_now=True)

    class Meta:
        verbose_name = _("group chat")
        verbose_name_plural = _("group chats")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["owner", "status"], name="grp_chat_owner_status_idx"),
            models.Index(fields=["store", "status"], name="grp_chat_store_status_idx"),
            models.Index(fields=["kind", "status"], name="grp_chat_kind_status_idx"),
        ]

    def __str__(self) -> str:
        return self.name or self.chat_id


class GroupMember(models.Model):
    """One person in a group: a staff member or a customer, with how and when they came and left."""

    class Kind(models.IntegerChoices):
        STAFF = 1, _("staff member")
        CUSTOMER = 2, _("customer")

    class JoinScene(models.IntegerChoices):
        # groupchat/get codes (WECOM.md 6.2); callbacks use others and are mapped on the way in.
        UNKNOWN = 0, _("unknown")
        INVITED = 1, _("invited by a member")
        INVITE_LINK = 2, _("invite link")
        QR_CODE = 3, _("scanned the group QR code")

    class QuitScene(models.IntegerChoices):
        LEFT = 0, _("left by themselves")
        REMOVED = 1, _("removed by owner or admin")

    group = models.ForeignKey(
        GroupChat, verbose_name=_("group chat"), on_delete=models.CASCADE, related_name="members"
    )
    member_id = models.CharField(_("member id"), max_length=64, help_text=_("userid or external_userid"))
    kind = models.PositiveSmallIntegerField(_("kind"), choices=Kind.choices)
    customer = models.ForeignKey(
        Customer,
        verbose_name=_("customer"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="group_memberships",
    )
    staff = models.ForeignKey(
        Staff,
        verbose_name=_("staff member"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="group_memberships",
    )
    unionid = models.CharField(_("unionid"), max_length=64, blank=True)
    name = models.CharField(_("name"), max_length=128, blank=True)
    group_nickname = models.CharField(_("nickname in group"), max_length=128, blank=True)
    joined_at = models.DateTimeField(_("joined at"), null=True, blank=True)
    join_scene = models.PositiveSmallIntegerField(
        _("join scene"), choices=JoinScene.choices, default=JoinScene.UNKNOWN
    )
    inviter_userid = models.CharField(_("inviter"), max_length=64, blank=True)
    state = models.CharField(_("channel (state)"), max_length=64, blank=True)
    left_at = models.DateTimeField(_("left at"), null=True, blank=True)
    quit_scene = models.PositiveSmallIntegerField(
        _("quit scene"), choices=QuitScene.choices, null=True, blank=True
    )

    class Meta:
        verbose_name = _("group member")
        verbose_name_plural = _("group members")
        ordering = ["group", "joined_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["group", "member_id"], name="grp_member_unique_pair"),
        ]
        indexes = [
            models.Index(fields=["customer", "group"], name="grp_member_customer_idx"),
            models.Index(fields=["staff", "group"], name="grp_member_staff_idx"),
            models.Index(fields=["group", "left_at"], name="grp_member_group_left_idx"),
        ]

    def __str__(self) -> str:
        return self.name or self.member_id


class GroupTransfer(models.Model):
    """One group handed to a new owner within a customer transfer job (PRODUCT.md C4).

    WeCom takes at most 100 groups a call and 300 a day from the same person (WECOM.md §10.3), so
    each row has the day (Asia/Shanghai) it may go out on; a job's groups spread over days when
    needed. At most one row per group is in flight (planned or sending).
    """

    class Status(models.TextChoices):
        PLANNED = "planned", _("planned")
        SENDING = "sending", _("being handed over")
        DONE = "done", _("transferred")
        FAILED = "failed", _("failed")
        NO_OWNER = "no_owner", _("no new owner")
        CANCELED = "canceled", _("canceled")

    job = models.ForeignKey(
        "customers.TransferJob",
        verbose_name=_("job"),
        on_delete=models.CASCADE,
        related_name="group_transfers",
    )
    group = models.ForeignKey(
        GroupChat, verbose_name=_("group"), on_delete=models.CASCADE, related_name="transfers"
    )
    old_owner = models.ForeignKey(
        "org.Staff",
        verbose_name=pgettext_lazy("transfer", "from"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    new_owner = models.ForeignKey(
        "org.Staff",
        verbose_name=pgettext_lazy("transfer", "to"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.PLANNED)
    due_on = models.DateField(_("goes out on"))
    errcode = models.IntegerField(_("WeCom errcode"), null=True, blank=True)
    error = models.CharField(_("error"), max_length=300, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("group transfer")
        verbose_name_plural = _("group transfers")
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["group"],
                condition=models.Q(status__in=["planned", "sending"]),
                name="grp_transfer_one_in_flight",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "due_on"], name="grp_transfer_due_idx"),
            models.Index(fields=["job", "status"], name="grp_transfer_job_idx"),
            # The 300-a-day cap counts what one person's groups did today.
            models.Index(fields=["old_owner", "due_on"], name="grp_transfer_owner_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.group_id} → {self.new_owner_id} ({self.status})"
