"""The WeCom side of acquisition: contact ways, join ways, welcome codes and templates, media,
statistics, and the emulator's limits (API quota, group size, frequency simulation)."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models.signals import post_save


class SandboxLimits(models.Model):
    """The emulator's configurable limits, one row (pk 1); without a row the defaults apply.

    ``frequency_limits`` simulates WeCom's per-API frequency control (WECOM.md §15), off by
    default: ``{"<path>": {"minute": n, "hour": m}}``, the key ``"*"`` applying to every API
    without its own entry. A breach answers 45009 and keeps answering it for the block window
    (60 s after a minute breach, 60 min after an hour breach) on the simulated clock.
    """

    api_quota = models.PositiveIntegerField(
        default=500_000, help_text="Contact ways plus join ways one corp may create through the API (41045)."
    )
    group_member_cap = models.PositiveIntegerField(
        default=500, help_text="Members of a customer group before a join way moves on to the next group."
    )
    scan_join_cap = models.PositiveIntegerField(
        default=200,
        help_text="A WeChat user may join a group by QR only while it has fewer members than this.",
    )
    frequency_limits = models.JSONField(
        default=dict, blank=True, help_text='Per-API limits, e.g. {"*": {"minute": 10000, "hour": 150000}}.'
    )

    class Meta:
        db_table = "sb_limits"
        verbose_name_plural = "sandbox limits"

    def __str__(self) -> str:
        return "sandbox limits"


class SandboxFrequencyCounter(models.Model):
    """Calls of one corp to one API within one fixed window (a simulated minute or hour)."""

    corp_id = models.CharField(max_length=64)
    path = models.CharField(max_length=128)
    window = models.CharField(max_length=8, help_text="minute or hour")
    bucket = models.BigIntegerField(help_text="Simulated Unix time divided by the window length.")
    count = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "sb_frequency_counter"
        constraints = [
            models.UniqueConstraint(
                fields=["corp_id", "path", "window", "bucket"], name="sb_freq_counter_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.corp_id} {self.path} {self.window}#{self.bucket}: {self.count}"


class SandboxFrequencyBlock(models.Model):
    """An API blocked for one corp after a frequency breach, until ``until`` (simulated Unix time)."""

    corp_id = models.CharField(max_length=64)
    path = models.CharField(max_length=128)
    until = models.BigIntegerField()

    class Meta:
        db_table = "sb_frequency_block"
        constraints = [models.UniqueConstraint(fields=["corp_id", "path"], name="sb_freq_block_uniq")]

    def __str__(self) -> str:
        return f"{self.corp_id} {self.path} blocked until {self.until}"


class SandboxContactWay(models.Model):
    """A 「联系我」 contact way created through the API (WECOM.md §5)."""

    corp_id = models.CharField(max_length=64)
    config_id = models.CharField(max_length=64)
    type = models.PositiveSmallIntegerField(help_text="1 single member, 2 multiple members.")
    scene = models.PositiveSmallIntegerField(help_text="1 mini-program button, 2 QR code.")
    style = models.PositiveSmallIntegerField(null=True, blank=True)
    remark = models.CharField(max_length=30, blank=True)
    skip_verify = models.BooleanField(default=True)
    state = models.CharField(max_length=30, blank=True)
    user = models.JSONField(default=list)
    party = models.JSONField(default=list)
    is_temp = models.BooleanField(default=False)
    expires_in = models.PositiveIntegerField(null=True, blank=True)
    chat_expires_in = models.PositiveIntegerField(null=True, blank=True)
    unionid = models.CharField(max_length=64, blank=True)
    is_exclusive = models.BooleanField(default=False)
    conclusions = models.JSONField(default=dict, blank=True)
    qr_code = models.CharField(max_length=200, blank=True)
    create_time = models.BigIntegerField(help_text="Simulated Unix time of creation.")
    used = models.BooleanField(default=False, help_text="A temporary way's QR dies once used.")
    next_member = models.PositiveIntegerField(
        default=0, help_text="Rotation among a multi-member way's members, for the next scan."
    )

    class Meta:
        db_table = "sb_contact_way"
        constraints = [
            models.UniqueConstraint(fields=["corp_id", "config_id"], name="sb_contact_way_corp_config_uniq")
        ]
        indexes = [models.Index(fields=["corp_id", "create_time"], name="sb_contact_way_created_idx")]

    def __str__(self) -> str:
        return self.config_id


class SandboxJoinWay(models.Model):
    """A group join way (群活码) created through the API (WECOM.md §6.3)."""

    corp_id = models.CharField(max_length=64)
    config_id = models.CharField(max_length=64)
    scene = models.PositiveSmallIntegerField(help_text="1 mini-program plugin, 2 QR code.")
    remark = models.CharField(max_length=30, blank=True)
    auto_create_room = models.BooleanField(default=True)
    room_base_name = models.CharField(max_length=40, blank=True)
    room_base_id = models.PositiveIntegerField(default=1)
    chat_id_list = models.JSONField(default=list)
    state = models.CharField(max_length=30, blank=True)
    mark_source = models.BooleanField(default=False)
    qr_code = models.CharField(max_length=200, blank=True)
    create_time = models.BigIntegerField()
    rooms_created = models.PositiveIntegerField(default=0, help_text="Groups opened automatically so far.")

    class Meta:
        db_table = "sb_join_way"
        constraints = [
            models.UniqueConstraint(fields=["corp_id", "config_id"], name="sb_join_way_corp_config_uniq")
        ]

    def __str__(self) -> str:
        return self.config_id


class SandboxWelcomeCode(models.Model):
    """A welcome code issued with an add event: valid 20 s of simulated time, used once (§7.1)."""

    corp_id = models.CharField(max_length=64)
    code = models.CharField(max_length=64, unique=True)
    userid = models.CharField(max_length=64)
    external_userid = models.CharField(max_length=64)
    issued_at = models.BigIntegerField(help_text="Simulated Unix time of the add event.")
    used_at = models.BigIntegerField(null=True, blank=True)

    class Meta:
        db_table = "sb_welcome_code"

    def __str__(self) -> str:
        return self.code


class SandboxWelcomeTemplate(models.Model):
    """A group welcome template (入群欢迎语素材, §7.2); only the app that created it may change it."""

    corp_id = models.CharField(max_length=64)
    template_id = models.CharField(max_length=64, unique=True)
    app = models.ForeignKey("sandbox.SandboxApp", on_delete=models.CASCADE, related_name="+")
    content = models.JSONField(
        default=dict, help_text="text, image, link, miniprogram, file, video as WeCom returns them."
    )
    agentid = models.IntegerField(null=True, blank=True)
    notify = models.PositiveSmallIntegerField(default=1)
    create_time = models.BigIntegerField()

    class Meta:
        db_table = "sb_welcome_template"
        indexes = [models.Index(fields=["corp_id"], name="sb_welcome_template_corp_idx")]

    def __str__(self) -> str:
        return self.template_id


class SandboxMedia(models.Model):
    """An uploaded file: temporary media (``media_id``, 3 days) or a permanent image URL."""

    corp_id = models.CharField(max_length=64)
    media_id = models.CharField(max_length=128, unique=True, help_text="media_id, or the image URL.")
    type = models.CharField(max_length=16, help_text="image, video, file; uploadimg for permanent images.")
    filename = models.CharField(max_length=255)
    content_type = models.CharField(max_length=128, blank=True)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    created_at = models.BigIntegerField(help_text="Simulated Unix time of the upload.")

    class Meta:
        db_table = "sb_media"

    def __str__(self) -> str:
        return self.media_id


class SandboxChatActivity(models.Model):
    """One member's one-to-one chat figures for one day (China time), as the player generates them."""

    corp_id = models.CharField(max_length=64)
    userid = models.CharField(max_length=64)
    day = models.DateField()
    new_apply_cnt = models.PositiveIntegerField(default=0)
    chat_cnt = models.PositiveIntegerField(default=0)
    message_cnt = models.PositiveIntegerField(default=0)
    reply_percentage = models.FloatField(null=True, blank=True)
    avg_reply_time = models.PositiveIntegerField(null=True, blank=True, help_text="Minutes.")

    class Meta:
        db_table = "sb_chat_activity"
        constraints = [
            models.UniqueConstraint(fields=["corp_id", "userid", "day"], name="sb_chat_activity_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.userid} {self.day}"


class SandboxGroupActivity(models.Model):
    """One customer group's messages for one day (China time), as the player generates them."""

    corp_id = models.CharField(max_length=64)
    chat_id = models.CharField(max_length=64)
    day = models.DateField()
    msg_total = models.PositiveIntegerField(default=0)
    member_has_msg = models.PositiveIntegerField(default=0, help_text="Members who spoke that day.")

    class Meta:
        db_table = "sb_group_activity"
        constraints = [
            models.UniqueConstraint(fields=["corp_id", "chat_id", "day"], name="sb_group_activity_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.chat_id} {self.day}"


class SandboxFollowDeletion(models.Model):
    """A friendship that ended; deletions by the customer are ``negative_feedback_cnt`` (§11.1)."""

    corp_id = models.CharField(max_length=64)
    userid = models.CharField(max_length=64)
    external_userid = models.CharField(max_length=64)
    by_customer = models.BooleanField(help_text="The customer deleted/blocked the member.")
    deleted_at = models.BigIntegerField(help_text="Simulated Unix time.")

    class Meta:
        db_table = "sb_follow_deletion"
        indexes = [models.Index(fields=["corp_id", "userid", "deleted_at"], name="sb_follow_deletion_idx")]

    def __str__(self) -> str:
        return f"{self.userid} ✕ {self.external_userid}"


#: The deletion callbacks: ``del_follow_user`` is the customer deleting the member.
DELETION_CHANGES = {"del_follow_user": True, "del_external_contact": False}


def _deletion_record(sender: Any, instance: Any, created: bool, **kwargs: Any) -> None:
    """Keep the deletions the statistics count, whoever played them.

    Every end of a friendship the other side plays emits its callback into the outbox, so the
    outbox row is the one place that sees them all; the row's XML says who and when.
    """
    if not created or instance.event != "change_external_contact":
        return
    by_customer = DELETION_CHANGES.get(instance.change_type)
    if by_customer is None:
        return
    from scrm.wecom.events import EventParseError, event_parse

    try:
        event = event_parse(instance.xml)
    except EventParseError:  # not one of ours: nothing to count
        return
    SandboxFollowDeletion.objects.create(
        corp_id=instance.corp_id,
        userid=event.user_id,
        external_userid=event.external_user_id,
        by_customer=by_customer,
        deleted_at=event.create_time,
    )


post_save.connect(_deletion_record, sender="sandbox.SandboxCallback", dispatch_uid="sb_follow_deletion")


__all__ = [
    "SandboxChatActivity",
    "SandboxContactWay",
    "SandboxFollowDeletion",
    "SandboxFrequencyBlock",
    "SandboxFrequencyCounter",
    "SandboxGroupActivity",
    "SandboxJoinWay",
    "SandboxLimits",
    "SandboxMedia",
    "SandboxWelcomeCode",
    "SandboxWelcomeTemplate",
]
