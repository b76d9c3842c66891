"""Apps, tokens, the address book, customers and their follows, tags, groups, the call record."""

from __future__ import annotations

from django.db import models

from scrm.fields import DigestField, EncryptedTextField


class SandboxApp(models.Model):
    """An app of an emulated corp: its secret, and what that secret may call."""

    corp_id = models.CharField(max_length=64, db_index=True)
    name = models.CharField(max_length=64)
    # Encrypted at rest; gettoken finds the app by the digest (docs/decisions.md, secrets).
    secret = EncryptedTextField()
    secret_digest = DigestField(source="secret")
    agentid = models.IntegerField(null=True, blank=True, help_text="Set for apps that send app messages.")
    customer_contact = models.BooleanField(
        default=True, help_text="In 客户联系 → 可调用接口的应用: may call externalcontact/*."
    )
    contact_sync = models.BooleanField(
        default=False, help_text="The contact-sync secret: may call user/list_id."
    )

    class Meta:
        db_table = "sb_app"
        constraints = [
            models.UniqueConstraint(
                fields=["corp_id", "secret_digest"], name="sb_app_corp_secret_digest_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.corp_id}/{self.name}"


class SandboxAccessToken(models.Model):
    """An issued access token; tests expire or invalidate it early to provoke 42001 / 40014."""

    app = models.ForeignKey(SandboxApp, on_delete=models.CASCADE, related_name="tokens")
    token = models.CharField(max_length=512, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    invalidated = models.BooleanField(default=False)

    class Meta:
        db_table = "sb_access_token"

    def __str__(self) -> str:
        return f"token for {self.app}"


class SandboxDepartment(models.Model):
    """A department of the emulated address book; the root has ``dept_id`` 1 and ``parentid`` 0."""

    corp_id = models.CharField(max_length=64)
    dept_id = models.PositiveIntegerField()
    name = models.CharField(max_length=64)
    name_en = models.CharField(max_length=64, blank=True)
    parentid = models.PositiveIntegerField(default=0)
    order = models.BigIntegerField(default=0)

    class Meta:
        db_table = "sb_department"
        constraints = [models.UniqueConstraint(fields=["corp_id", "dept_id"], name="sb_dept_corp_id_uniq")]

    def __str__(self) -> str:
        return self.name


class SandboxMember(models.Model):
    """A member (员工) of the emulated corp; ``status`` 1 active, 2 disabled, 4 not activated, 5 quit."""

    corp_id = models.CharField(max_length=64)
    userid = models.CharField(max_length=64)
    name = models.CharField(max_length=64)
    departments = models.JSONField(default=list, help_text="WeCom department ids.")
    main_department = models.PositiveIntegerField(default=1)
    position = models.CharField(max_length=128, blank=True)
    gender = models.CharField(max_length=1, default="0")
    status = models.PositiveSmallIntegerField(default=1)
    contact_enabled = models.BooleanField(default=True, help_text="Has the customer-contact feature.")
    dimission_time = models.BigIntegerField(null=True, blank=True, help_text="Unix time of leaving.")

    class Meta:
        db_table = "sb_member"
        constraints = [
            models.UniqueConstraint(fields=["corp_id", "userid"], name="sb_member_corp_userid_uniq")
        ]

    def __str__(self) -> str:
        return self.userid


class SandboxExternalContact(models.Model):
    """A WeChat user (``type`` 1, ``wm…``) or another corp's WeCom user (``type`` 2, ``wo…``)."""

    corp_id = models.CharField(max_length=64)
    external_userid = models.CharField(max_length=64)
    name = models.CharField(max_length=64)
    type = models.PositiveSmallIntegerField(default=1)
    gender = models.PositiveSmallIntegerField(default=0)
    unionid = models.CharField(max_length=64, blank=True)
    avatar = models.URLField(blank=True)
    corp_name = models.CharField(max_length=64, blank=True)
    corp_full_name = models.CharField(max_length=128, blank=True)
    position = models.CharField(max_length=64, blank=True)

    class Meta:
        db_table = "sb_external_contact"
        constraints = [
            models.UniqueConstraint(fields=["corp_id", "external_userid"], name="sb_contact_corp_extid_uniq")
        ]

    def __str__(self) -> str:
        return self.external_userid


class SandboxFollow(models.Model):
    """A friendship between a member and an external contact, with the member's notes and tags."""

    member = models.ForeignKey(SandboxMember, on_delete=models.CASCADE, related_name="follows")
    contact = models.ForeignKey(SandboxExternalContact, on_delete=models.CASCADE, related_name="follows")
    remark = models.CharField(max_length=20, blank=True)
    description = models.CharField(max_length=150, blank=True)
    createtime = models.BigIntegerField(help_text="Unix time of the add.")
    add_way = models.IntegerField(default=0)
    state = models.CharField(max_length=30, blank=True)
    oper_userid = models.CharField(max_length=64, blank=True)
    remark_corp_name = models.CharField(max_length=20, blank=True)
    remark_mobiles = models.JSONField(default=list)
    tag_ids = models.JSONField(default=list, help_text="Corp tag ids (et…).")

    class Meta:
        db_table = "sb_follow"
        constraints = [
            models.UniqueConstraint(fields=["member", "contact"], name="sb_follow_member_contact_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.member_id} → {self.contact_id}"


class SandboxTagGroup(models.Model):
    """A corp tag group (``et…`` id); larger ``order`` sorts first; deletion is a flag."""

    corp_id = models.CharField(max_length=64)
    group_id = models.CharField(max_length=64)
    name = models.CharField(max_length=30)
    order = models.BigIntegerField(default=0)
    create_time = models.BigIntegerField()
    deleted = models.BooleanField(default=False)

    class Meta:
        db_table = "sb_tag_group"
        constraints = [
            models.UniqueConstraint(fields=["corp_id", "group_id"], name="sb_tag_group_corp_id_uniq")
        ]

    def __str__(self) -> str:
        return self.name


class SandboxTag(models.Model):
    """A corp tag (``et…`` id) inside a group."""

    group = models.ForeignKey(SandboxTagGroup, on_delete=models.CASCADE, related_name="tags")
    tag_id = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=30)
    order = models.BigIntegerField(default=0)
    create_time = models.BigIntegerField()
    deleted = models.BooleanField(default=False)

    class Meta:
        db_table = "sb_tag"

    def __str__(self) -> str:
        return self.name


class SandboxGroupChat(models.Model):
    """A customer group (``wr…``); members are stored as WeCom's ``member_list`` JSON."""

    corp_id = models.CharField(max_length=64)
    chat_id = models.CharField(max_length=64)
    name = models.CharField(max_length=64, blank=True)
    owner = models.CharField(max_length=64, help_text="Owner's userid.")
    create_time = models.BigIntegerField()
    notice = models.TextField(blank=True)
    status = models.PositiveSmallIntegerField(default=0, help_text="0 normal, 1-3 inheritance states.")
    member_list = models.JSONField(default=list)
    admin_list = models.JSONField(default=list)
    member_version = models.CharField(max_length=64, blank=True)

    class Meta:
        db_table = "sb_group_chat"
        constraints = [models.UniqueConstraint(fields=["corp_id", "chat_id"], name="sb_group_corp_chat_uniq")]

    def __str__(self) -> str:
        return self.chat_id


class SandboxCall(models.Model):
    """Every API call the sandbox received, token removed: the record exactly-once checks query."""

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    corp_id = models.CharField(max_length=64, blank=True)
    method = models.CharField(max_length=8)
    path = models.CharField(max_length=128, help_text="Path after cgi-bin/, e.g. externalcontact/get.")
    params = models.JSONField(default=dict, help_text="Query parameters without access_token or corpsecret.")
    body = models.JSONField(null=True, blank=True)
    errcode = models.IntegerField(default=0)
    fault = models.BooleanField(default=False, help_text="The error was injected, not earned.")

    class Meta:
        db_table = "sb_call"
        ordering = ["id"]
        indexes = [models.Index(fields=["path", "errcode"], name="sb_call_path_errcode_idx")]

    def __str__(self) -> str:
        return f"{self.method} {self.path} → {self.errcode}"


class SandboxFaults(models.Model):
    """Fault injection, one row (pk 1): applied to every call before its handler.

    ``fail_next`` calls fail with ``fail_errcode`` first, deterministically; then each call fails
    with probability ``error_rate`` using a code drawn from ``error_codes``. 42001 / 40014 also
    expire / invalidate the token that was presented, as WeCom would.
    """

    error_rate = models.FloatField(default=0.0)
    error_codes = models.JSONField(default=list, help_text="Codes drawn for random faults, e.g. [-1, 45009].")
    latency_ms = models.PositiveIntegerField(default=0)
    fail_next = models.PositiveIntegerField(default=0)
    fail_errcode = models.IntegerField(default=-1)
    fail_paths = models.JSONField(default=list, help_text="Restrict faults to these paths; empty means all.")
    timeout_rate = models.FloatField(
        default=0.0, help_text="Share of calls that hang for timeout_ms before answering (client timeouts)."
    )
    timeout_ms = models.PositiveIntegerField(default=15_000)

    class Meta:
        db_table = "sb_faults"
        verbose_name_plural = "sandbox faults"

    def __str__(self) -> str:
        return "sandbox faults"
