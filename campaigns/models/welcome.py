"""Welcome messages (欢迎语, PRODUCT.md A2, WECOM.md §7): what a new customer receives on an add.

A :class:`WelcomeMessage` is a text with ``{customer}`` and ``{staff}`` placeholders and up to 9
attachments (:class:`WelcomeAttachment`), scoped to everyone (default), to a department and its
subtree, or to one live code, optionally only for a time of day. The most specific active message
wins for each add (``campaigns.selectors.welcome``), and one :class:`WelcomeSend` per welcome code
records its rendering and what WeCom answered.

Attachments that WeCom wants as a ``media_id`` (images without a ``pic_url``, files, videos,
mini-program covers) keep their file in the database, so that any worker on any machine can upload
it again: WeCom's temporary media live 3 days, so the ``media_id`` is cached with its upload time
and uploaded afresh when stale.

:class:`GroupWelcomeTemplate` is a group welcome template (入群欢迎语素材, §7.2), mirrored with
WeCom's ``template_id``; group live codes refer to it.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from customers.models import Follow
from scrm.org.models import Department

from .livecodes import LiveCode

__all__ = [
    "WELCOME_PLACEHOLDERS",
    "AttachmentKind",
    "GroupWelcomeTemplate",
    "WelcomeAttachment",
    "WelcomeMessage",
    "WelcomeSend",
    "welcome_placeholders_check",
    "welcome_text_render",
]

#: The placeholders a welcome text may use, and what each becomes.
WELCOME_PLACEHOLDERS = {
    "customer": _("the customer's WeChat name"),
    "staff": _("the staff member's name"),
}
_PLACEHOLDER = re.compile(r"\{([^{}]*)\}")
#: WeCom's limits (WECOM.md §7.1, §18), in bytes of UTF-8.
TEXT_MAX_BYTES = 4000
MAX_ATTACHMENTS = 9
LINK_TITLE_MAX_BYTES = 128
LINK_DESC_MAX_BYTES = 512
URL_MAX_BYTES = 2048
MINIPROGRAM_TITLE_MAX_BYTES = 64
#: Temporary media, by kind: WeCom's size limits (media/upload) and the file types it accepts.
MEDIA_RULES = {
    "image": (10 << 20, (".jpg", ".jpeg", ".png")),
    "video": (10 << 20, (".mp4",)),
    "file": (20 << 20, ()),
}
#: A name as long as the longest a placeholder may plausibly stand for: WeChat names and WeCom
#: member names are at most 64 characters here, each up to 3 bytes.
_LONGEST_NAME_BYTES = 64 * 3


def _bytes(value: str) -> int:
    return len(value.encode())


def welcome_placeholders_check(text: str) -> None:
    """Raise :class:`ValidationError` naming every ``{…}`` in ``text`` that is no placeholder."""
    unknown = sorted({name for name in _PLACEHOLDER.findall(text) if name not in WELCOME_PLACEHOLDERS})
    if unknown:
        raise ValidationError(
            _("Unknown placeholder(s): %(names)s. Use %(known)s."),
            code="placeholder",
            params={
                "names": ", ".join(f"{{{n}}}" for n in unknown),
                "known": ", ".join(f"{{{n}}}" for n in WELCOME_PLACEHOLDERS),
            },
        )


def welcome_text_render(text: str, *, customer: str, staff: str) -> str:
    """``text`` with its placeholders filled, cut to WeCom's 4000 bytes on a character boundary."""
    values = {"customer": customer, "staff": staff}
    rendered = _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), text)
    if _bytes(rendered) > TEXT_MAX_BYTES:
        rendered = rendered.encode()[:TEXT_MAX_BYTES].decode(errors="ignore")
    return rendered


class AttachmentKind(models.TextChoices):
    IMAGE = "image", _("image")
    LINK = "link", _("link")
    MINIPROGRAM = "miniprogram", _("mini-program")
    FILE = "file", _("file")
    VIDEO = "video", _("video")


class AttachmentContent(models.Model):
    """The content of one attachment of WECOM.md §7.1, shared by welcome messages and group
    welcome templates; the file of those that need a ``media_id`` is kept with it."""

    kind = models.CharField(_("type"), max_length=16, choices=AttachmentKind.choices)
    title = models.CharField(
        _("title"), max_length=128, blank=True, help_text=_("Links: at most 128 bytes; mini-programs: 64.")
    )
    link_url = models.URLField(_("link URL"), max_length=2048, blank=True)
    description = models.CharField(_("description"), max_length=512, blank=True)
    pic_url = models.URLField(
        _("picture URL"),
        max_length=2048,
        blank=True,
        help_text=_("Links: the thumbnail. Images: an URL from WeCom's uploadimg, instead of a file."),
    )
    appid = models.CharField(_("mini-program appid"), max_length=64, blank=True)
    page = models.CharField(_("mini-program page"), max_length=512, blank=True)
    file_name = models.CharField(_("file name"), max_length=255, blank=True)
    file_content = models.BinaryField(_("file"), null=True, blank=True, editable=False)
    file_size = models.PositiveIntegerField(_("file size"), default=0)
    media_id = models.CharField(_("WeCom media id"), max_length=255, blank=True, editable=False)
    media_uploaded_at = models.DateTimeField(_("media uploaded at"), null=True, blank=True, editable=False)

    class Meta:
        abstract = True

    @property
    def needs_media(self) -> bool:
        """Whether WeCom wants a ``media_id`` for this attachment (uploaded from our file)."""
        if self.kind == AttachmentKind.IMAGE:
            return not self.pic_url
        return self.kind in (AttachmentKind.FILE, AttachmentKind.VIDEO, AttachmentKind.MINIPROGRAM)

    @property
    def media_type(self) -> str:
        """``media/upload``'s type for the file: a mini-program's cover is an image."""
        return "image" if self.kind == AttachmentKind.MINIPROGRAM else self.kind

    def media_fresh(self, *, now: datetime | None = None) -> bool:
        """Whether the cached ``media_id`` may still be used (uploaded less than
        ``WELCOME_MEDIA_MAX_AGE`` seconds ago, well inside WeCom's 3 days)."""
        if not self.media_id or self.media_uploaded_at is None:
            return False
        age = (now or timezone.now()) - self.media_uploaded_at
        return age < timedelta(seconds=settings.WELCOME_MEDIA_MAX_AGE)

    def attachment_errors(self) -> dict[str, list[str]]:
        """WeCom's rules for this kind of attachment, as form errors by field."""
        errors: dict[str, list[str]] = {}

        def add(field: str, message) -> None:
            errors.setdefault(field, []).append(message)

        kind = self.kind
        if kind == AttachmentKind.LINK:
            if not self.title:
                add("title", _("A link needs a title."))
            if not self.link_url:
                add("link_url", _("A link needs its URL."))
            if _bytes(self.title) > LINK_TITLE_MAX_BYTES:
                add("title", _("A link's title is at most 128 bytes (about 42 Chinese characters)."))
            if _bytes(self.description) > LINK_DESC_MAX_BYTES:
                add("description", _("A link's description is at most 512 bytes."))
            if _bytes(self.link_url) > URL_MAX_BYTES:
                add("link_url", _("A link's URL is at most 2048 bytes."))
        elif kind == AttachmentKind.MINIPROGRAM:
            for field, label in (
                ("title", _("title")),
                ("appid", _("appid")),
                ("page", _("page")),
            ):
                if not getattr(self, field):
                    add(field, _("A mini-program needs its %(field)s.") % {"field": label})
            if _bytes(self.title) > MINIPROGRAM_TITLE_MAX_BYTES:
                add("title", _("A mini-program's title is at most 64 bytes (about 21 Chinese characters)."))
            if not self.file_size:
                add("file_name", _("A mini-program needs a cover image (520×416 suggested)."))
        elif kind == AttachmentKind.IMAGE:
            if not self.pic_url and not self.file_size:
                add("file_name", _("An image needs a file, or a picture URL from WeCom's uploadimg."))
        elif kind in (AttachmentKind.FILE, AttachmentKind.VIDEO) and not self.file_size:
            add("file_name", _("A %(kind)s needs its file.") % {"kind": self.get_kind_display()})
        if self.file_size and self.needs_media:
            limit, suffixes = MEDIA_RULES[self.media_type]
            name = self.file_name.lower()
            if suffixes and not name.endswith(suffixes):
                add("file_name", _("This file must be one of: %(types)s.") % {"types": ", ".join(suffixes)})
            if not 5 <= self.file_size <= limit:
                add("file_name", _("This file must be 5 bytes to %(mb)s MB.") % {"mb": limit >> 20})
        return errors

    def wecom_body(self) -> dict:
        """The body under this attachment's ``msgtype`` (``media_id`` must be fresh already)."""
        kind = self.kind
        if kind == AttachmentKind.IMAGE:
            return {"media_id": self.media_id} if self.needs_media else {"pic_url": self.pic_url}
        if kind == AttachmentKind.LINK:
            body = {"title": self.title, "url": self.link_url}
            if self.pic_url:
                body["picurl"] = self.pic_url
            if self.description:
                body["desc"] = self.description
            return body
        if kind == AttachmentKind.MINIPROGRAM:
            return {
                "title": self.title,
                "pic_media_id": self.media_id,
                "appid": self.appid,
                "page": self.page,
            }
        return {"media_id": self.media_id}

    def summary(self) -> dict:
        """What a person is shown of this attachment (previews, the send record)."""
        return {
            "kind": self.kind,
            "title": self.title or self.file_name or self.pic_url,
            "url": self.link_url,
            "description": self.description,
        }


class WelcomeMessage(models.Model):
    """A welcome message for new customers, and to whom and when it applies.

    Scope: ``default`` (everyone), ``department`` (staff whose main department is it or below it;
    the nearest ancestor with a message wins) or ``live_code`` (adds through that code). Within a
    scope, a message with a time window (``window_start``–``window_end`` of the local day,
    across midnight when the end is earlier) beats one without when the add falls inside it.
    """

    class Scope(models.TextChoices):
        DEFAULT = "default", _("default")
        DEPARTMENT = "department", _("department")
        LIVE_CODE = "live_code", _("live code")

    name = models.CharField(_("name"), max_length=100)
    scope = models.CharField(_("applies to"), max_length=16, choices=Scope.choices, default=Scope.DEFAULT)
    department = models.ForeignKey(
        Department,
        verbose_name=_("department"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="welcome_messages",
        help_text=_("For staff in this department or below it."),
    )
    live_code = models.ForeignKey(
        LiveCode,
        verbose_name=_("live code"),
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="welcome_messages",
    )
    text = models.TextField(
        _("text"),
        blank=True,
        help_text=_("May use {customer} and {staff}; at most 4000 bytes once filled in."),
    )
    window_start = models.TimeField(_("from (time of day)"), null=True, blank=True)
    window_end = models.TimeField(
        _("until (time of day)"),
        null=True,
        blank=True,
        help_text=_("Empty: all day. An end earlier than the start spans midnight."),
    )
    active = models.BooleanField(_("active"), default=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("welcome message")
        verbose_name_plural = _("welcome messages")
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(scope="default", department__isnull=True, live_code__isnull=True)
                    | models.Q(scope="department", department__isnull=False, live_code__isnull=True)
                    | models.Q(scope="live_code", department__isnull=True, live_code__isnull=False)
                ),
                name="camp_welcome_scope_target",
            ),
            models.CheckConstraint(
                condition=models.Q(window_start__isnull=True, window_end__isnull=True)
                | models.Q(window_start__isnull=False, window_end__isnull=False),
                name="camp_welcome_window_both",
            ),
        ]
        indexes = [
            models.Index(fields=["scope", "active"], name="camp_welcome_scope_idx"),
            models.Index(fields=["department", "active"], name="camp_welcome_dept_idx"),
            models.Index(fields=["live_code", "active"], name="camp_welcome_code_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_window(self) -> bool:
        return self.window_start is not None and self.window_end is not None

    def window_contains(self, moment: time) -> bool:
        """Whether the local time of day ``moment`` is inside the window (none: always)."""
        if not self.has_window:
            return True
        start, end = self.window_start, self.window_end
        if start <= end:
            return start <= moment < end
        return moment >= start or moment < end  # across midnight

    def clean(self) -> None:
        errors: dict[str, list] = {}
        if self.scope == self.Scope.DEPARTMENT and not self.department_id:
            errors.setdefault("department", []).append(_("Choose the department."))
        if self.scope == self.Scope.LIVE_CODE and not self.live_code_id:
            errors.setdefault("live_code", []).append(_("Choose the live code."))
        if self.scope != self.Scope.DEPARTMENT:
            self.department = None
        if self.scope != self.Scope.LIVE_CODE:
            self.live_code = None
        if (self.window_start is None) != (self.window_end is None):
            errors.setdefault("window_end", []).append(_("Give both ends of the time window, or neither."))
        elif self.has_window and self.window_start == self.window_end:
            errors.setdefault("window_end", []).append(
                _("The window must not start and end at the same time.")
            )
        try:
            welcome_placeholders_check(self.text)
        except ValidationError as error:
            errors.setdefault("text", []).extend(error.messages)
        worst = _bytes(_PLACEHOLDER.sub(lambda m: "x" * _LONGEST_NAME_BYTES, self.text))
        if worst > TEXT_MAX_BYTES:
            errors.setdefault("text", []).append(
                _(
                    "The text is %(bytes)s bytes with the longest names filled in; WeCom takes at "
                    "most 4000 bytes (about 1300 Chinese characters)."
                )
                % {"bytes": worst}
            )
        if errors:
            raise ValidationError(errors)


class WelcomeAttachment(AttachmentContent):
    """One of a welcome message's attachments (at most 9), sent in ``order``."""

    message = models.ForeignKey(WelcomeMessage, on_delete=models.CASCADE, related_name="attachments")
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["message", "order", "id"]
        indexes = [
            # The media refresh looks for uploads about to expire.
            models.Index(fields=["media_uploaded_at"], name="camp_welcomeatt_media_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title or self.file_name or self.pic_url}"

    def clean(self) -> None:
        errors = self.attachment_errors()
        if errors:
            raise ValidationError(errors)


class WelcomeSend(models.Model):
    """The welcome of one add: one row per welcome code, whatever WeCom's retries.

    ``content`` is the message as rendered for this customer (text, and the attachments as listed
    to people); the attachments themselves are read from the message when sending, since their
    ``media_id`` may need a fresh upload. ``received_at`` is when WeCom raised the add: the code is
    usable until 20 s after it.
    """

    class Status(models.TextChoices):
        PENDING = "pending", _("pending")
        SENDING = "sending", _("sending")
        SENT = "sent", _("sent")
        ALREADY_DELIVERED = "already_delivered", _("already delivered")
        EXPIRED = "expired", _("expired")
        FAILED = "failed", _("failed")
        SKIPPED = "skipped", _("skipped (no message)")

    welcome_code = models.CharField(_("welcome code"), max_length=128, unique=True)
    follow = models.ForeignKey(Follow, verbose_name=_("follow"), on_delete=models.CASCADE, related_name="+")
    live_code = models.ForeignKey(
        LiveCode,
        verbose_name=_("live code"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    message = models.ForeignKey(
        WelcomeMessage,
        verbose_name=_("message"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="sends",
    )
    content = models.JSONField(_("content"), default=dict, blank=True)
    status = models.CharField(_("status"), max_length=24, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(_("error"), blank=True)
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    received_at = models.DateTimeField(_("add received at"))
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True)

    class Meta:
        verbose_name = _("welcome send")
        verbose_name_plural = _("welcome sends")
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["status", "-id"], name="camp_welcomesend_status_idx"),
            models.Index(fields=["follow"], name="camp_welcomesend_follow_idx"),
            models.Index(fields=["message", "-id"], name="camp_welcomesend_msg_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.get_status_display()} · {self.follow_id}"

    @property
    def deadline(self) -> datetime:
        return self.received_at + timedelta(seconds=20)


class GroupWelcomeTemplate(AttachmentContent):
    """A group welcome template (入群欢迎语素材, WECOM.md §7.2), kept in step with WeCom.

    ``text`` may contain ``%NICKNAME%``, which WeCom replaces by the joiner's nickname; one
    optional attachment (``kind`` empty: text only). WeCom holds at most 100 per corp and gives
    the ``template_id`` that group live codes use.
    """

    name = models.CharField(_("name"), max_length=100)
    text = models.TextField(_("text"), blank=True, help_text=_("May use %NICKNAME%; at most 4000 bytes."))
    kind = models.CharField(
        _("attachment"), max_length=16, choices=AttachmentKind.choices, blank=True, help_text=_("Optional.")
    )
    notify = models.BooleanField(
        _("notify members"), default=True, help_text=_("Tell the group's staff members when it is sent.")
    )
    template_id = models.CharField(_("WeCom template id"), max_length=128, blank=True, editable=False)
    synced_at = models.DateTimeField(_("written to WeCom at"), null=True, blank=True, editable=False)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)

    class Meta:
        verbose_name = _("group welcome template")
        verbose_name_plural = _("group welcome templates")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["template_id"],
                condition=~models.Q(template_id=""),
                name="camp_groupwelcome_tid_unique",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    def clean(self) -> None:
        errors: dict[str, list] = {}
        if _bytes(self.text) > TEXT_MAX_BYTES:
            errors["text"] = [_("At most 4000 bytes (about 1300 Chinese characters).")]
        if not self.kind and not self.text.strip():
            errors.setdefault("text", []).append(_("Give a text, an attachment, or both."))
        if self.kind:
            for field, messages in self.attachment_errors().items():
                errors.setdefault(field, []).extend(messages)
        if errors:
            raise ValidationError(errors)
