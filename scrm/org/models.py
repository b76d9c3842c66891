"""The company side of WeCom: the department tree, staff members, roles and API keys."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Department(models.Model):
    """A WeCom department (部门); a store (门店) is a department marked ``is_store``.

    ``path`` is a materialized path of WeCom ids ("/1/20/305/") kept by the services, so that
    "this department and everything below it" is one indexed prefix query at any depth.
    """

    wecom_id = models.PositiveBigIntegerField(_("WeCom id"), unique=True)
    name = models.CharField(_("name"), max_length=64)
    parent = models.ForeignKey(
        "self",
        verbose_name=_("parent"),
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="children",
    )
    order = models.BigIntegerField(
        _("order"), default=0, help_text=_("WeCom sort order; larger comes first.")
    )
    is_store = models.BooleanField(_("is a store"), default=False, db_index=True)
    path = models.CharField(_("path"), max_length=512, db_index=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("department")
        verbose_name_plural = _("departments")
        ordering = ["path"]
        indexes = [models.Index(fields=["parent", "-order"], name="org_dept_parent_order_idx")]

    def __str__(self) -> str:
        return self.name


class Staff(models.Model):
    """A WeCom member (成员), identified by ``userid``; customers are their external contacts."""

    class Status(models.TextChoices):
        ACTIVE = "active", pgettext_lazy("staff status", "active")
        DISABLED = "disabled", _("disabled")
        DEPARTED = "departed", _("departed")

    class Gender(models.IntegerChoices):
        UNKNOWN = 0, _("unknown")
        MALE = 1, _("male")
        FEMALE = 2, _("female")

    userid = models.CharField(_("WeCom userid"), max_length=64, unique=True)
    name = models.CharField(_("name"), max_length=64)
    departments = models.ManyToManyField(
        Department, verbose_name=_("departments"), through="StaffDepartment", related_name="staff"
    )
    main_department = models.ForeignKey(
        Department,
        verbose_name=_("main department"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="main_staff",
    )
    position = models.CharField(_("position"), max_length=128, blank=True)
    mobile = models.CharField(_("mobile"), max_length=32, blank=True)
    email = models.EmailField(_("email"), blank=True)
    gender = models.PositiveSmallIntegerField(_("gender"), choices=Gender.choices, default=Gender.UNKNOWN)
    avatar = models.URLField(_("avatar"), max_length=512, blank=True)
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.ACTIVE)
    departed_at = models.DateTimeField(_("departed at"), null=True, blank=True)
    wecom_created_at = models.DateTimeField(
        _("WeCom account created at"),
        null=True,
        blank=True,
        help_text=_("Young accounts get a lower daily add cap."),
    )
    contact_enabled = models.BooleanField(
        _("customer contact enabled"), default=True, help_text=_("Has WeCom's customer-contact feature.")
    )
    user = models.OneToOneField(
        settings.AUTH_USER_MODEL,
        verbose_name=_("login user"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="staff",
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("staff member")
        verbose_name_plural = _("staff")
        ordering = ["name", "id"]
        indexes = [models.Index(fields=["status", "main_department"], name="org_staff_status_dept_idx")]
        constraints = [
            models.CheckConstraint(
                condition=~models.Q(status="departed") | models.Q(departed_at__isnull=False),
                name="org_staff_departed_has_time",
            )
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.userid})"


class StaffDepartment(models.Model):
    """A staff member's place in one department: WeCom lets a member sit in several."""

    staff = models.ForeignKey(Staff, on_delete=models.CASCADE, related_name="memberships")
    department = models.ForeignKey(Department, on_delete=models.CASCADE, related_name="memberships")
    order = models.BigIntegerField(_("order"), default=0)
    is_leader = models.BooleanField(_("is leader"), default=False)

    class Meta:
        verbose_name = _("department membership")
        verbose_name_plural = _("department memberships")
        constraints = [
            models.UniqueConstraint(fields=["staff", "department"], name="org_staffdept_unique_pair"),
        ]
        indexes = [models.Index(fields=["department", "staff"], name="org_staffdept_dept_staff_idx")]

    def __str__(self) -> str:
        return f"{self.staff_id} @ {self.department_id}"


class Role(models.TextChoices):
    """What a person may see and do; ``scrm.org.scoping`` turns it into querysets."""

    ADMIN = "admin", _("administrator")
    MARKETING_MANAGER = "marketing_manager", _("marketing manager")
    STORE_MANAGER = "store_manager", _("store manager")
    GUIDE = "guide", _("guide")


class Operator(models.Model):
    """A login's role in the SCRM, and for store managers the departments they manage.

    A guide's customers are those their linked ``Staff`` record follows; a store manager sees the
    subtrees of ``departments`` (or of their own staff record's departments when none are set).
    """

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, verbose_name=_("user"), on_delete=models.CASCADE, related_name="operator"
    )
    role = models.CharField(_("role"), max_length=32, choices=Role.choices)
    departments = models.ManyToManyField(
        Department,
        verbose_name=_("managed departments"),
        blank=True,
        related_name="managers",
        help_text=_("For store managers: the subtrees they manage."),
    )

    class Meta:
        verbose_name = _("operator")
        verbose_name_plural = _("operators")

    def __str__(self) -> str:
        return f"{self.user} ({self.get_role_display()})"


class ApiKey(models.Model):
    """A key another system uses to call the REST API, acting as ``user`` with that user's scope.

    Only a SHA-256 digest is stored; the key itself is shown once when created. ``prefix`` is the
    public first part, used to find the row and to tell keys apart in the admin.
    """

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, verbose_name=_("acts as"), on_delete=models.CASCADE, related_name="api_keys"
    )
    name = models.CharField(_("name"), max_length=100)
    prefix = models.CharField(_("prefix"), max_length=16, unique=True, editable=False)
    digest = models.CharField(_("digest"), max_length=64, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    expires_at = models.DateTimeField(_("expires at"), null=True, blank=True)
    last_used_at = models.DateTimeField(_("last used at"), null=True, blank=True, editable=False)
    revoked_at = models.DateTimeField(_("revoked at"), null=True, blank=True)

    class Meta:
        verbose_name = _("API key")
        verbose_name_plural = _("API keys")
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"


class AuditEntry(models.Model):
    """One line of the audit log: who (a login, or the system) did what to which record, when.

    ``key`` makes an entry that must be written once (a member's departure) unique: writing it
    again is a no-op. Entries are never edited.
    """

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        help_text=_("Empty: the system (a WeCom callback, the sync, a scheduled job)."),
    )
    action = models.CharField(_("action"), max_length=64, db_index=True)
    target_type = models.CharField(_("record type"), max_length=64)
    target_id = models.CharField(_("record id"), max_length=64)
    target_repr = models.CharField(_("record"), max_length=200, blank=True)
    details = models.JSONField(_("details"), default=dict, blank=True)
    occurred_at = models.DateTimeField(_("occurred at"))
    key = models.CharField(max_length=160, unique=True, null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("recorded at"), auto_now_add=True)

    class Meta:
        verbose_name = _("audit log entry")
        verbose_name_plural = _("audit log")
        ordering = ["-occurred_at", "-id"]
        indexes = [
            models.Index(fields=["target_type", "target_id", "-occurred_at"], name="org_audit_target_idx"),
            models.Index(fields=["-occurred_at"], name="org_audit_time_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.action} {self.target_type}:{self.target_id}"
