"""Group live codes (群活码, PRODUCT.md A2): one permanent QR over a WeCom join way of up to 5 groups.

WeCom sends a scanning WeChat user to the first group of the join way that still takes scan
joins (below 200 people) and, when none does and ``auto_create_room`` is on, opens a new group
named ``room_base_name`` + a sequence number. A code here holds an ordered list of groups, more
than the 5 WeCom takes, and its own cap per group: when a group reaches the cap it leaves the join
way and the next waiting group comes in (``GroupCodeChat.status``). ``wecom_chat_ids`` is what
WeCom holds, so the way is rewritten only when the list it should hold differs.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.utils.translation import gettext_lazy as _

from groups.models import GroupChat

from .channels import Channel

__all__ = ["GroupCode", "GroupCodeChat", "JOIN_WAY_MAX_CHATS", "ROOM_BASE_NAME_MAX", "SCAN_JOIN_LIMIT"]

#: Groups a join way lists at a time (WECOM.md §6.3).
JOIN_WAY_MAX_CHATS = 5
#: ``room_base_name`` is at most 40 characters (WECOM.md §6.3).
ROOM_BASE_NAME_MAX = 40
#: WeChat users join a customer group by QR only while it has fewer members than this.
SCAN_JOIN_LIMIT = 200


def default_member_cap() -> int:
    return settings.GROUP_CODE_MEMBER_CAP


class GroupCode(models.Model):
    """A group live code: a WeCom join way (scene 2, a QR) over the code's groups, in order.

    ``channel`` holds the ``state`` WeCom puts on every member who joins through the code
    (``GroupMember.state``), so joins are attributed to it; states are unique across live codes
    and group codes because both own a channel.
    """

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        PAUSED = "paused", _("paused")

    name = models.CharField(_("name"), max_length=100)
    channel = models.OneToOneField(
        Channel, verbose_name=_("channel"), on_delete=models.PROTECT, related_name="group_code"
    )
    status = models.CharField(
        _("status"),
        max_length=16,
        choices=Status.choices,
        default=Status.ACTIVE,
        help_text=_("A paused code keeps its QR and its groups but does not rotate them."),
    )
    member_cap = models.PositiveSmallIntegerField(
        _("members per group"),
        default=default_member_cap,
        validators=[MinValueValidator(2), MaxValueValidator(500)],
        help_text=_(
            "A group with this many members leaves the QR and the next group comes in. WeChat "
            "users can join a group by QR only while it has fewer than 200 members."
        ),
    )
    auto_create_room = models.BooleanField(
        _("create groups automatically"),
        default=True,
        help_text=_("When every group is full, WeCom opens a new group named after the base name."),
    )
    room_base_name = models.CharField(
        _("new groups' base name"),
        max_length=ROOM_BASE_NAME_MAX,
        blank=True,
        help_text=_("At most 40 characters; WeCom adds the sequence number."),
    )
    room_base_id = models.PositiveIntegerField(
        _("first sequence number"), default=1, help_text=_("The number of the first group WeCom opens.")
    )
    welcome_template = models.ForeignKey(
        "campaigns.GroupWelcomeTemplate",
        verbose_name=_("group welcome"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="group_codes",
        help_text=_("The welcome shown to people who join the code's groups."),
    )
    # What WeCom holds: the join way and the groups last written to it.
    config_id = models.CharField(_("WeCom config id"), max_length=64, blank=True, db_index=True)
    qr_code = models.URLField(_("QR code URL"), max_length=512, blank=True)
    wecom_chat_ids = models.JSONField(_("groups in WeCom"), default=list, blank=True)
    synced_at = models.DateTimeField(_("written to WeCom at"), null=True, blank=True)
    sync_error = models.TextField(_("last WeCom error"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("group live code")
        verbose_name_plural = _("group live codes")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def state(self) -> str:
        return self.channel.state

    def clean(self) -> None:
        if self.auto_create_room and not self.room_base_name.strip():
            raise ValidationError(
                {"room_base_name": _("Give the base name of the groups WeCom creates automatically.")}
            )


class GroupCodeChat(models.Model):
    """One group of a group code, at its place in the code's order.

    ``live``: in the join way now; ``waiting``: comes in when a live group fills; ``full``: reached
    the code's cap (it stays full when members leave; set it back to waiting to reuse it);
    ``gone``: dismissed in WeCom.
    """

    class Status(models.TextChoices):
        WAITING = "waiting", _("waiting")
        LIVE = "live", _("live")
        FULL = "full", _("full")
        GONE = "gone", _("gone")

    code = models.ForeignKey(GroupCode, on_delete=models.CASCADE, related_name="chats")
    group = models.ForeignKey(
        GroupChat, verbose_name=_("group chat"), on_delete=models.CASCADE, related_name="code_seats"
    )
    position = models.PositiveIntegerField(_("order"), default=0)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.WAITING)
    auto_created = models.BooleanField(
        _("created by WeCom"), default=False, help_text=_("Opened by WeCom when every group was full.")
    )
    full_at = models.DateTimeField(_("full since"), null=True, blank=True)
    added_at = models.DateTimeField(_("added at"), auto_now_add=True)

    class Meta:
        verbose_name = _("group of a group code")
        verbose_name_plural = _("groups of the code")
        ordering = ["position", "id"]
        constraints = [
            models.UniqueConstraint(fields=["code", "group"], name="camp_gcchat_unique"),
        ]
        indexes = [models.Index(fields=["group", "status"], name="camp_gcchat_group_idx")]

    def __str__(self) -> str:
        return str(self.group)

    @property
    def is_open(self) -> bool:
        """Takes joins through the code: not full, not dismissed."""
        return self.status in (self.Status.WAITING, self.Status.LIVE)
