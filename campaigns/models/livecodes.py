"""Staff live codes (员工活码, PRODUCT.md A1): a pool of staff behind one WeCom contact way.

WeCom itself rotates among the users of a multi-user contact way, so distribution is done by
choosing *which* users the way lists: the eligible set (on duty, under today's cap, picked by the
code's strategy), written to WeCom only when it differs from what WeCom holds (``wecom_users``).
Every add is counted once (``StaffAdd``, unique per follow) into the staff member's day
(``StaffDailyAdds``, one row per staff and day, bumped atomically).
"""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models import Follow, Tag
from scrm.org.models import Department, Staff

from .channels import Channel

__all__ = [
    "LiveCode",
    "LiveCodeMember",
    "LiveCodeHours",
    "LiveCodeSpecialDate",
    "StaffAdd",
    "StaffDailyAdds",
]


#: Python's weekday numbers (0 = Monday), as live code hours and weekly group posts name them.
WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


class LiveCode(models.Model):
    """A staff live code: one permanent QR (a WeCom contact way) over a pool of staff.

    The pool is its members (``LiveCodeMember``, each with a weight, an optional cap and a backup
    flag) plus the active members of ``departments``. ``channel`` holds the ``state`` WeCom echoes
    on every add, so adds are attributed to the code; states are unique across live codes and
    group codes because both own a channel.
    """

    class Strategy(models.TextChoices):
        ROUND_ROBIN = "round_robin", _("round-robin")
        WEIGHTED = "weighted", _("by weight")
        LEAST_LOADED = "least_loaded", _("least loaded today")

    class Status(models.TextChoices):
        ACTIVE = "active", _("active")
        PAUSED = "paused", _("paused")

    name = models.CharField(_("name"), max_length=100)
    channel = models.OneToOneField(
        Channel, verbose_name=_("channel"), on_delete=models.PROTECT, related_name="live_code"
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    strategy = models.CharField(
        _("distribution"), max_length=16, choices=Strategy.choices, default=Strategy.ROUND_ROBIN
    )
    departments = models.ManyToManyField(
        Department,
        verbose_name=_("departments"),
        blank=True,
        related_name="live_codes",
        help_text=_("Their active members join the pool with weight 1 and the code's cap."),
    )
    daily_cap = models.PositiveSmallIntegerField(
        _("daily add cap"),
        null=True,
        blank=True,
        help_text=_("Adds a day per staff member; empty: by the age of each WeCom account."),
    )
    skip_verify = models.BooleanField(
        _("auto-accept"),
        default=True,
        help_text=_("Customers are added without the staff member confirming."),
    )
    auto_accept_from = models.TimeField(_("auto-accept from"), null=True, blank=True)
    auto_accept_until = models.TimeField(
        _("auto-accept until"),
        null=True,
        blank=True,
        help_text=_("Empty: auto-accept all day. Outside the window staff confirm each request."),
    )
    exclusive = models.BooleanField(
        _("exclusive"),
        default=False,
        help_text=_("A customer already served by someone in the pool goes back to them."),
    )
    tags = models.ManyToManyField(Tag, verbose_name=_("auto tags"), blank=True, related_name="live_codes")
    remark_template = models.CharField(
        _("remark"),
        max_length=64,
        blank=True,
        help_text=_(
            "Set on each new customer; may use {customer}, {staff} and {code}. "
            "At most 20 characters once filled."
        ),
    )
    description_template = models.CharField(
        _("description"),
        max_length=300,
        blank=True,
        help_text=_("At most 150 characters once filled; may use {customer}, {staff} and {code}."),
    )
    # What WeCom holds: the contact way and the user list last written to it.
    config_id = models.CharField(_("WeCom config id"), max_length=64, blank=True, db_index=True)
    qr_code = models.URLField(_("QR code URL"), max_length=512, blank=True)
    wecom_users = models.JSONField(_("users in WeCom"), default=list, blank=True)
    wecom_skip_verify = models.BooleanField(_("auto-accept in WeCom"), null=True, blank=True)
    wecom_state = models.CharField(_("state in WeCom"), max_length=30, blank=True)
    synced_at = models.DateTimeField(_("written to WeCom at"), null=True, blank=True)
    sync_error = models.TextField(_("last WeCom error"), blank=True)
    # The next moment the eligible set may change by time alone (a schedule boundary, midnight,
    # an auto-accept window): only codes due are reviewed, never every code on a timer.
    next_review_at = models.DateTimeField(_("next review at"), null=True, blank=True, db_index=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("staff live code")
        verbose_name_plural = _("staff live codes")
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.name

    @property
    def state(self) -> str:
        return self.channel.state


class LiveCodeMember(models.Model):
    """A staff member named in a live code's pool, with their weight, cap and backup role."""

    code = models.ForeignKey(LiveCode, on_delete=models.CASCADE, related_name="members")
    staff = models.ForeignKey(
        Staff, verbose_name=_("staff member"), on_delete=models.CASCADE, related_name="live_code_seats"
    )
    weight = models.PositiveSmallIntegerField(_("weight"), default=1)
    daily_cap = models.PositiveSmallIntegerField(
        _("daily add cap"), null=True, blank=True, help_text=_("Empty: the code's cap, or by account age.")
    )
    is_backup = models.BooleanField(
        _("backup"), default=False, help_text=_("Live only when every other member is capped or off duty.")
    )

    class Meta:
        verbose_name = _("live code member")
        verbose_name_plural = _("live code members")
        constraints = [
            models.UniqueConstraint(fields=["code", "staff"], name="camp_lcmember_unique"),
        ]
        indexes = [models.Index(fields=["staff", "code"], name="camp_lcmember_staff_idx")]

    def __str__(self) -> str:
        return f"{self.code_id} · {self.staff_id}"


class LiveCodeHours(models.Model):
    """Working hours of a live code on one weekday (0 Monday … 6 Sunday); several spans allowed.

    A code without any hours is on duty around the clock. Outside its hours only backup staff are
    live.
    """

    code = models.ForeignKey(LiveCode, on_delete=models.CASCADE, related_name="hours")
    weekday = models.PositiveSmallIntegerField(_("weekday"), choices=WEEKDAYS)
    start = models.TimeField(_("from"))
    end = models.TimeField(_("until"))

    class Meta:
        verbose_name = _("working hours")
        verbose_name_plural = _("working hours")
        ordering = ["weekday", "start"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(start__lt=models.F("end")),
                name="camp_lchours_order",
                violation_error_message=_("Working hours must end after they start."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_weekday_display()} {self.start:%H:%M}–{self.end:%H:%M}"


class LiveCodeSpecialDate(models.Model):
    """A date range that replaces the weekday hours: closed, or open at other hours (holidays,
    promotions)."""

    code = models.ForeignKey(LiveCode, on_delete=models.CASCADE, related_name="special_dates")
    first_day = models.DateField(_("from"))
    last_day = models.DateField(_("until"))
    closed = models.BooleanField(_("closed"), default=False)
    start = models.TimeField(_("opens"), null=True, blank=True)
    end = models.TimeField(_("closes"), null=True, blank=True)

    class Meta:
        verbose_name = _("special dates")
        verbose_name_plural = _("special dates")
        ordering = ["first_day"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(first_day__lte=models.F("last_day")),
                name="camp_lcspecial_order",
                violation_error_message=_("A special date range must end on or after its start."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.first_day}–{self.last_day}"


class StaffAdd(models.Model):
    """One add of a customer by a staff member, counted once into that member's day.

    Unique per follow and add time, so WeCom's retries of an add count nothing twice while a
    customer who deleted and re-added the same staff member counts again. ``live_code`` is set when
    the add came through one; every add counts against the staff member's cap, since the cap
    protects the WeCom account, whatever brought the customer.
    """

    follow = models.ForeignKey(Follow, on_delete=models.CASCADE, related_name="+")
    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="+")
    live_code = models.ForeignKey(
        LiveCode, null=True, blank=True, on_delete=models.SET_NULL, related_name="adds"
    )
    day = models.DateField(_("day"))
    added_at = models.DateTimeField(_("added at"))

    class Meta:
        verbose_name = _("add")
        verbose_name_plural = _("adds")
        constraints = [
            models.UniqueConstraint(fields=["follow", "added_at"], name="camp_staffadd_unique"),
        ]
        indexes = [
            models.Index(fields=["live_code", "day"], name="camp_staffadd_code_day_idx"),
            models.Index(fields=["staff", "day"], name="camp_staffadd_staff_day_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.staff_id} + {self.follow_id} @ {self.added_at:%Y-%m-%d %H:%M}"


class StaffDailyAdds(models.Model):
    """How many customers a staff member added on a day (in ``TIME_ZONE``): the cap's counter.

    Bumped with ``INSERT … ON CONFLICT DO UPDATE … RETURNING``, which locks the row, so two adds
    at once both count and the second sees the first.
    """

    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="+")
    day = models.DateField(_("day"))
    count = models.PositiveIntegerField(_("adds"), default=0)

    class Meta:
        verbose_name = _("daily adds")
        verbose_name_plural = _("daily adds")
        constraints = [
            models.UniqueConstraint(fields=["staff", "day"], name="camp_dailyadds_unique"),
        ]
        indexes = [models.Index(fields=["day", "staff"], name="camp_dailyadds_day_idx")]

    def __str__(self) -> str:
        return f"{self.staff_id} · {self.day}: {self.count}"
