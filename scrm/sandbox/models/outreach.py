"""The WeCom side of outreach and staff lifecycle: mass messages, moments and transfers.

Each of these is a state machine on WeCom's side (WECOM.md §19 items 5 and 8): a mass message
waits for each sender to confirm it in the client, a moment for each executor to publish it, a
customer transfer for 24 simulated hours or the customer's refusal. The rows below hold that
state; :mod:`scrm.sandbox.outreach` moves it on.
"""

from __future__ import annotations

from django.db import models

__all__ = [
    "SandboxGroupTransfer",
    "SandboxMassMessage",
    "SandboxMassRecipient",
    "SandboxMassTask",
    "SandboxMoment",
    "SandboxMomentCustomer",
    "SandboxMomentTask",
    "SandboxOutreachRules",
    "SandboxTransfer",
]


class SandboxOutreachRules(models.Model):
    """The corp-wide rules an administrator sets in WeCom's console (one row, pk 1).

    ``receive_cap`` is the mass-message receive rule of 群发助手 → 设置群发规则 (WECOM.md §8.3):
    a customer or group over it gets the message with status 3 instead. ``member_customer_limit``
    is how many customers one member may hold; a transfer to a member at the limit ends in status 4.
    """

    class ReceiveCap(models.TextChoices):
        MONTH_DAYS = "month_days", "days in the month, per month"
        WEEK_7 = "week_7", "7 per week"
        DAY_1 = "day_1", "1 per day"
        MONTH_4 = "month_4", "4 per month (legacy)"

    receive_cap = models.CharField(max_length=16, choices=ReceiveCap.choices, default=ReceiveCap.MONTH_DAYS)
    member_customer_limit = models.PositiveIntegerField(default=20_000)

    class Meta:
        db_table = "sb_outreach_rules"
        verbose_name_plural = "sandbox outreach rules"

    def __str__(self) -> str:
        return "sandbox outreach rules"


# --- mass messages (WECOM.md §8) ----------------------------------------------------------------------


class SandboxMassMessage(models.Model):
    """An enterprise mass message (``msg…``): its content and who created it.

    ``create_type`` 0 is corp-created (through the API, no ``creator``), 1 created by a member.
    """

    corp_id = models.CharField(max_length=64)
    msgid = models.CharField(max_length=64, unique=True)
    chat_type = models.CharField(max_length=8, default="single")
    creator = models.CharField(max_length=64, blank=True)
    create_type = models.PositiveSmallIntegerField(default=0)
    create_time = models.BigIntegerField()
    text = models.JSONField(null=True, blank=True)
    attachments = models.JSONField(default=list)
    allow_select = models.BooleanField(default=False)
    canceled = models.BooleanField(default=False)
    reminders = models.JSONField(default=list, help_text="Unix times of remind_groupmsg_send calls.")

    class Meta:
        db_table = "sb_mass_message"
        indexes = [models.Index(fields=["corp_id", "create_time"], name="sb_mass_corp_time_idx")]

    def __str__(self) -> str:
        return self.msgid


class SandboxMassTask(models.Model):
    """One sender's task for a mass message: 0 not sent until the member confirms it, then 2."""

    message = models.ForeignKey(SandboxMassMessage, on_delete=models.CASCADE, related_name="tasks")
    userid = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(default=0)
    send_time = models.BigIntegerField(default=0)

    class Meta:
        db_table = "sb_mass_task"
        constraints = [
            models.UniqueConstraint(fields=["message", "userid"], name="sb_mass_task_msg_user_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.message_id}/{self.userid}"


class SandboxMassRecipient(models.Model):
    """One customer (``external_userid``) or group (``chat_id``) of a sender's task.

    ``status``: 0 not sent, 1 sent, 2 failed – not a friend (any more), 3 failed – the
    customer or group already got as many mass messages as the receive rule allows.
    ``target`` is the external_userid or the chat_id, by the message's ``chat_type``.
    """

    message = models.ForeignKey(SandboxMassMessage, on_delete=models.CASCADE, related_name="recipients")
    corp_id = models.CharField(max_length=64)
    userid = models.CharField(max_length=64)
    target = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(default=0)
    send_time = models.BigIntegerField(default=0)

    class Meta:
        db_table = "sb_mass_recipient"
        indexes = [
            models.Index(fields=["message", "userid", "id"], name="sb_mass_rcpt_msg_user_idx"),
            # The receive cap counts what a customer or group received in the current period.
            models.Index(fields=["corp_id", "target", "status", "send_time"], name="sb_mass_rcpt_cap_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.message_id}/{self.userid}→{self.target}"


# --- moments (WECOM.md §9) ----------------------------------------------------------------------------


class SandboxMoment(models.Model):
    """A moment (``mom…``). Corp-created ones come from ``add_moment_task``, whose ``jobid``
    moves 1 → 2 → 3 on successive reads of its result (``job_status``); the moment is listed
    only once its job is done."""

    corp_id = models.CharField(max_length=64)
    moment_id = models.CharField(max_length=64, unique=True)
    jobid = models.CharField(max_length=64, unique=True, null=True, blank=True)
    job_status = models.PositiveSmallIntegerField(default=3)
    job_result = models.JSONField(default=dict, help_text="Invalid senders, departments and tags.")
    creator = models.CharField(max_length=64, blank=True)
    create_type = models.PositiveSmallIntegerField(default=0)
    visible_type = models.PositiveSmallIntegerField(default=1)
    create_time = models.BigIntegerField()
    text = models.TextField(blank=True)
    attachments = models.JSONField(default=list)
    audience_tags = models.JSONField(default=list, help_text="Corp tag ids of external_contact_list.")
    canceled = models.BooleanField(default=False)

    class Meta:
        db_table = "sb_moment"
        indexes = [models.Index(fields=["corp_id", "create_time"], name="sb_moment_corp_time_idx")]

    def __str__(self) -> str:
        return self.moment_id


class SandboxMomentTask(models.Model):
    """One executor's task for a moment: ``publish_status`` 0 until the member publishes it."""

    moment = models.ForeignKey(SandboxMoment, on_delete=models.CASCADE, related_name="tasks")
    userid = models.CharField(max_length=64)
    publish_status = models.PositiveSmallIntegerField(default=0)
    publish_time = models.BigIntegerField(default=0)
    comments = models.JSONField(default=list)
    likes = models.JSONField(default=list)

    class Meta:
        db_table = "sb_moment_task"
        constraints = [models.UniqueConstraint(fields=["moment", "userid"], name="sb_moment_task_uniq")]

    def __str__(self) -> str:
        return f"{self.moment_id}/{self.userid}"


class SandboxMomentCustomer(models.Model):
    """A customer who can see a member's published moment: chosen and delivered at publish time."""

    moment = models.ForeignKey(SandboxMoment, on_delete=models.CASCADE, related_name="customers")
    userid = models.CharField(max_length=64)
    external_userid = models.CharField(max_length=64)

    class Meta:
        db_table = "sb_moment_customer"
        indexes = [models.Index(fields=["moment", "userid", "id"], name="sb_moment_cust_idx")]

    def __str__(self) -> str:
        return f"{self.moment_id}/{self.userid}→{self.external_userid}"


# --- transfers (WECOM.md §10) -------------------------------------------------------------------------


class SandboxTransfer(models.Model):
    """One customer handed over from one member to another.

    ``status``: 1 taken over, 2 waiting (until ``takeover_time``, 24 h after the start),
    3 refused by the customer, 4 the takeover member was at their customer limit.
    ``kind`` is ``onjob`` (在职继承) or ``resigned`` (离职继承).
    """

    class Kind(models.TextChoices):
        ONJOB = "onjob", "on-job"
        RESIGNED = "resigned", "resigned"

    corp_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    handover_userid = models.CharField(max_length=64)
    takeover_userid = models.CharField(max_length=64)
    external_userid = models.CharField(max_length=64)
    status = models.PositiveSmallIntegerField(default=2)
    start_time = models.BigIntegerField()
    takeover_time = models.BigIntegerField()
    transfer_success_msg = models.CharField(max_length=200, blank=True)

    class Meta:
        db_table = "sb_transfer"
        indexes = [
            models.Index(
                fields=["corp_id", "kind", "handover_userid", "takeover_userid", "id"],
                name="sb_transfer_pair_idx",
            ),
            models.Index(fields=["corp_id", "external_userid", "status"], name="sb_transfer_customer_idx"),
            models.Index(fields=["status", "takeover_time"], name="sb_transfer_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.handover_userid}→{self.takeover_userid}: {self.external_userid} ({self.status})"


class SandboxGroupTransfer(models.Model):
    """A customer group given a new owner (``groupchat/transfer`` or ``onjob_transfer``)."""

    corp_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=8, choices=SandboxTransfer.Kind.choices)
    chat_id = models.CharField(max_length=64)
    old_owner = models.CharField(max_length=64)
    new_owner = models.CharField(max_length=64)
    create_time = models.BigIntegerField()

    class Meta:
        db_table = "sb_group_transfer"
        indexes = [
            models.Index(fields=["corp_id", "chat_id", "kind", "create_time"], name="sb_group_xfer_chat_idx"),
            models.Index(fields=["corp_id", "old_owner", "create_time"], name="sb_group_xfer_owner_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.chat_id}: {self.old_owner}→{self.new_owner}"
