"""Customers (WeCom external contacts), their follows with staff, tags, timeline and notes."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from scrm.fields import IdArrayField
from scrm.org.models import Staff


class LifecycleStage(models.TextChoices):
    """The seeds' funnel: acquire → retain → activate → convert → repurchase / refer."""

    NEW = "new", _("new")
    RETAINED = "retained", _("retained")
    ACTIVE = "active", _("active")
    CONVERTED = "converted", _("converted")
    LOYAL = "loyal", _("repurchasing / referring")
    CHURNED = "churned", _("churned")


class Customer(models.Model):
    """A WeCom external contact (客户), one row per ``external_userid`` whoever follows them.

    ``tag_ids`` holds the corporate tags on any of the customer's active follows. The tag services
    keep it in step with ``FollowTag``, so that tag filters never join the assignment table.
    """

    class Type(models.IntegerChoices):
        WECHAT = 1, _("WeChat user")
        WECOM = 2, _("WeCom user")

    class Gender(models.IntegerChoices):
        UNKNOWN = 0, _("unknown")
        MALE = 1, _("male")
        FEMALE = 2, _("female")

    external_userid = models.CharField(_("external userid"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=128)
    avatar = models.URLField(_("avatar"), max_length=512, blank=True)
    type = models.PositiveSmallIntegerField(_("type"), choices=Type.choices, default=Type.WECHAT)
    gender = models.PositiveSmallIntegerField(_("gender"), choices=Gender.choices, default=Gender.UNKNOWN)
    unionid = models.CharField(_("unionid"), max_length=64, blank=True, db_index=True)
    corp_name = models.CharField(_("company short name"), max_length=128, blank=True)
    corp_full_name = models.CharField(_("company full name"), max_length=256, blank=True)
    position = models.CharField(_("position"), max_length=128, blank=True)
    first_added_at = models.DateTimeField(_("first added at"), db_index=True)
    lifecycle_stage = models.CharField(
        _("lifecycle stage"), max_length=16, choices=LifecycleStage.choices, default=LifecycleStage.NEW
    )
    custom_fields = models.JSONField(_("custom fields"), default=dict, blank=True)
    tag_ids = IdArrayField(_("corporate tag ids"))
    # Orders arrive from other systems (a later feature); until then these stay empty and the
    # segment rules on spend and last order match no one.
    # db_default too: the sync's bulk upsert (customers/wecom.py) names only the columns it fills.
    spend_90d = models.DecimalField(
        _("spend in the last 90 days"), max_digits=14, decimal_places=2, default=0, db_default=0
    )
    last_order_at = models.DateTimeField(_("last order at"), null=True, blank=True)
    # The customer asked to receive no more broadcasts: every outreach leaves them out.
    opted_out_at = models.DateTimeField(_("opted out of broadcasts at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("customer")
        verbose_name_plural = _("customers")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["lifecycle_stage", "-id"], name="cust_customer_stage_idx"),
            models.Index(fields=["gender", "-id"], name="cust_customer_gender_idx"),
            # Prefix search by name (LIKE 'x%') can use the index on PostgreSQL whatever its collation.
            models.Index(fields=["name"], name="cust_customer_name_idx", opclasses=["varchar_pattern_ops"]),
            # Partial: empty, and free on writes, until orders arrive (the segment rules on orders).
            models.Index(
                fields=["last_order_at"],
                condition=models.Q(last_order_at__isnull=False),
                name="cust_customer_last_order_idx",
            ),
            models.Index(
                fields=["spend_90d"], condition=models.Q(spend_90d__gt=0), name="cust_customer_spend_idx"
            ),
        ]

    def __str__(self) -> str:
        return self.name or self.external_userid


class Follow(models.Model):
    """The edge staff ↔ customer (跟进关系), with what WeCom tells about how it began and ended."""

    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("follow status", "active")
        DELETED_BY_STAFF = "deleted_by_staff", _("deleted by staff")
        DELETED_BY_CUSTOMER = "deleted_by_customer", _("deleted by customer")
        TRANSFERRED = "transferred", _("transferred")
        # WeCom no longer lists the pair and no callback said why (a missed del callback, seen by
        # the sync's reconciliation): ended, without guessing which side ended it.
        GONE = "gone", _("gone from WeCom")

    class AddWay(models.IntegerChoices):
        # WECOM.md 3.7; WeCom may send newer codes, which are stored as they come.
        UNKNOWN = 0, _("unknown")
        QR_CODE = 1, _("scanned a QR code")
        MOBILE = 2, _("searched a phone number")
        CARD = 3, _("shared business card")
        GROUP_CHAT = 4, _("from a group chat")
        ADDRESS_BOOK = 5, _("phone address book")
        WECHAT_CONTACT = 6, _("WeChat contact")
        WECHAT_REQUEST = 7, _("friend request from WeChat")
        THIRD_PARTY_SERVICE = 8, _("third-party app customer service")
        EMAIL = 9, _("searched an e-mail")
        CHANNELS = 10, _("WeChat Channels")
        SCHEDULE = 11, _("schedule participant")
        MEETING = 12, _("meeting participant")
        WECHAT_FRIEND_WECOM = 13, _("WeChat friend's WeCom")
        HARDWARE_SERVICE = 14, _("smart-hardware customer service")
        ONSITE_SERVICE = 15, _("on-site service")
        ACQUISITION_LINK = 16, _("customer-acquisition link")
        SHARED_BY_MEMBER = 201, _("shared by a member")
        ASSIGNED_BY_ADMIN = 202, _("assigned by admin (incl. transfers)")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="follows"
    )
    staff = models.ForeignKey(
        Staff, verbose_name=_("staff member"), on_delete=models.PROTECT, related_name="follows"
    )
    added_at = models.DateTimeField(_("added at"))
    add_way = models.IntegerField(_("add way"), choices=AddWay.choices, default=AddWay.UNKNOWN)
    state = models.CharField(_("channel (state)"), max_length=64, blank=True)
    remark = models.CharField(_("remark"), max_length=64, blank=True)
    description = models.CharField(_("description"), max_length=300, blank=True)
    remark_corp_name = models.CharField(_("remark company"), max_length=64, blank=True)
    remark_mobiles = models.JSONField(_("remark mobiles"), default=list, blank=True)
    oper_userid = models.CharField(_("added by"), max_length=64, blank=True)
    status = models.CharField(_("status"), max_length=24, choices=Status.choices, default=Status.ACTIVE)
    status_changed_at = models.DateTimeField(_("status changed at"), null=True, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("follow")
        verbose_name_plural = _("follows")
        ordering = ["-added_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["customer", "staff"], name="cust_follow_unique_pair"),
            models.CheckConstraint(
                condition=models.Q(status="active") | models.Q(status_changed_at__isnull=False),
                name="cust_follow_ended_has_time",
            ),
        ]
        indexes = [
            models.Index(fields=["staff", "status", "customer"], name="cust_follow_staff_status_idx"),
            # Covers "customer X has an active follow by one of these staff" without visiting the table.
            models.Index(fields=["customer", "status", "staff"], name="cust_follow_cust_status_idx"),
            models.Index(fields=["state", "customer"], name="cust_follow_state_idx"),
            models.Index(fields=["added_at"], name="cust_follow_added_idx"),
            # Channel analytics: a channel's adds of a day, and the deletions of a day.
            models.Index(fields=["state", "added_at"], name="cust_follow_state_added_idx"),
            models.Index(
                fields=["status_changed_at"],
                condition=models.Q(status__in=["deleted_by_customer", "deleted_by_staff"]),
                name="cust_follow_deleted_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.staff_id} → {self.customer_id}"


class TagGroup(models.Model):
    """A group of corporate tags (标签组), mirrored with WeCom; a larger ``order`` sorts first."""

    wecom_id = models.CharField(_("WeCom id"), max_length=64, unique=True, null=True, blank=True)
    name = models.CharField(_("name"), max_length=30)
    order = models.PositiveBigIntegerField(_("order"), default=0)
    deleted = models.BooleanField(_("deleted"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("tag group")
        verbose_name_plural = _("tag groups")
        ordering = ["-order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["name"], condition=models.Q(deleted=False), name="cust_taggroup_unique_live_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Tag(models.Model):
    """A corporate tag (企业标签) in a group, mirrored with WeCom (``et…`` ids)."""

    group = models.ForeignKey(
        TagGroup, verbose_name=_("tag group"), on_delete=models.CASCADE, related_name="tags"
    )
    wecom_id = models.CharField(_("WeCom id"), max_length=64, unique=True, null=True, blank=True)
    name = models.CharField(_("name"), max_length=30)
    order = models.PositiveBigIntegerField(_("order"), default=0)
    deleted = models.BooleanField(_("deleted"), default=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("tag")
        verbose_name_plural = _("tags")
        ordering = ["group", "-order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["group", "name"], condition=models.Q(deleted=False), name="cust_tag_unique_live_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class FollowTag(models.Model):
    """A corporate tag on one follow: WeCom tags the staff–customer pair, not the customer."""

    follow = models.ForeignKey(Follow, on_delete=models.CASCADE, related_name="tag_links")
    tag = models.ForeignKey(Tag, on_delete=models.CASCADE, related_name="follow_links")
    created_at = models.DateTimeField(_("tagged at"), auto_now_add=True)

    class Meta:
        verbose_name = _("tag on a follow")
        verbose_name_plural = _("tags on follows")
        constraints = [models.UniqueConstraint(fields=["follow", "tag"], name="cust_followtag_unique_pair")]
        indexes = [models.Index(fields=["tag", "follow"], name="cust_followtag_tag_idx")]

    def __str__(self) -> str:
        return f"{self.tag_id} on {self.follow_id}"


class PersonalTag(models.Model):
    """A staff member's own tag (个人标签): no WeCom id, visible to that staff member's follows only."""

    staff = models.ForeignKey(
        Staff, verbose_name=_("staff member"), on_delete=models.CASCADE, related_name="personal_tags"
    )
    name = models.CharField(_("name"), max_length=30)
    group_name = models.CharField(_("group name"), max_length=30, blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("personal tag")
        verbose_name_plural = _("personal tags")
        ordering = ["staff", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["staff", "group_name", "name"], name="cust_personaltag_unique_name"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class FollowPersonalTag(models.Model):
    """A personal tag on one of its owner's follows."""

    follow = models.ForeignKey(Follow, on_delete=models.CASCADE, related_name="personal_tag_links")
    tag = models.ForeignKey(PersonalTag, on_delete=models.CASCADE, related_name="follow_links")
    created_at = models.DateTimeField(_("tagged at"), auto_now_add=True)

    class Meta:
        verbose_name = _("personal tag on a follow")
        verbose_name_plural = _("personal tags on follows")
        constraints = [models.UniqueConstraint(fields=["follow", "tag"], name="cust_followptag_unique_pair")]

    def __str__(self) -> str:
        return f"{self.tag_id} on {self.follow_id}"


class CustomerEvent(models.Model):
    """One entry of a customer's timeline: what happened, when, with whom, from which source."""

    class Type(models.TextChoices):
        ADDED = "added", _("added a staff member")
        DELETED_BY_STAFF = "deleted_by_staff", _("deleted by staff")
        DELETED_BY_CUSTOMER = "deleted_by_customer", _("deleted the staff member")
        TAGGED = "tagged", _("tagged")
        UNTAGGED = "untagged", _("untagged")
        JOINED_GROUP = "joined_group", _("joined a group")
        LEFT_GROUP = "left_group", _("left a group")
        MESSAGE_RECEIVED = "message_received", _("received a message")
        ORDER = "order", _("placed an order")
        NOTE = "note", _("note")
        TRANSFERRED = "transferred", _("transferred")
        PROFILE_UPDATED = "profile_updated", _("profile updated")
        TRANSFER_FAILED = "transfer_failed", _("transfer failed")
        FOLLOW_GONE = "follow_gone", _("no longer a contact (cause unknown)")
        WELCOME_SENT = "welcome_sent", _("welcome message sent")
        WELCOME_FAILED = "welcome_failed", _("welcome message not delivered")
        TRANSFER_STARTED = "transfer_started", _("transfer to a colleague started")
        POOLED = "pooled", _("moved to the customer pool")
        CLAIMED = "claimed", _("claimed from the customer pool")

    class Source(models.TextChoices):
        WECOM = "wecom", _("WeCom")
        SYNC = "sync", _("sync")
        ADMIN = "admin", _("admin")
        API = "api", _("API")
        SYSTEM = "system", _("system")

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="events"
    )
    type = models.CharField(_("type"), max_length=32, choices=Type.choices)
    occurred_at = models.DateTimeField(_("occurred at"))
    staff = models.ForeignKey(
        Staff,
        verbose_name=_("staff member"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    payload = models.JSONField(_("details"), default=dict, blank=True)
    source = models.CharField(_("source"), max_length=16, choices=Source.choices, default=Source.SYSTEM)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("timeline event")
        verbose_name_plural = _("timeline events")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["customer", "-occurred_at"], name="cust_event_customer_time_idx"),
            models.Index(fields=["type", "-occurred_at"], name="cust_event_type_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} @ {self.occurred_at:%Y-%m-%d %H:%M}"


class CustomerNote(models.Model):
    """A free-text note written about a customer by a colleague (跟进记录)."""

    customer = models.ForeignKey(
        Customer, verbose_name=_("customer"), on_delete=models.CASCADE, related_name="notes"
    )
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("author"),
        null=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    staff = models.ForeignKey(
        Staff,
        verbose_name=_("staff member"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="notes",
    )
    body = models.TextField(_("note"), max_length=2000)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("note")
        verbose_name_plural = _("notes")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["customer", "-created_at"], name="cust_note_customer_idx")]

    def __str__(self) -> str:
        return self.body[:40]


class Segment(models.Model):
    """A saved audience (客户分群, PRODUCT.md B3): rules over customers, evaluated on demand.

    ``rules`` is a dict in the format of :mod:`customers.segments` (tags ANY / ALL / NONE, staff,
    departments, channels, add dates, gender, lifecycle stage, groups, spend, last order). The
    audience is never stored here: broadcasts materialize it into their own recipient rows.
    """

    name = models.CharField(_("name"), max_length=128, unique=True)
    description = models.TextField(_("description"), blank=True)
    rules = models.JSONField(_("rules"), default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    last_count = models.PositiveIntegerField(_("last count"), null=True, blank=True, editable=False)
    last_counted_at = models.DateTimeField(_("counted at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("segment")
        verbose_name_plural = _("segments")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


from .transfers import (  # noqa: E402  (after Customer, Follow and Segment, which they point at)
    PoolEntry,
    TransferBatch,
    TransferItem,
    TransferJob,
    TransferNotice,
    TransferPolicy,
)

__all__ = [
    "Customer",
    "CustomerEvent",
    "CustomerNote",
    "Follow",
    "FollowPersonalTag",
    "FollowTag",
    "LifecycleStage",
    "PersonalTag",
    "PoolEntry",
    "Segment",
    "Tag",
    "TagGroup",
    "TransferBatch",
    "TransferItem",
    "TransferJob",
    "TransferNotice",
    "TransferPolicy",
]
