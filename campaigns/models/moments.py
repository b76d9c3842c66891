"""Moments campaigns (朋友圈, PRODUCT.md D4, WECOM.md §9).

A :class:`MomentCampaign` is a text (≤2000 characters) with either up to 9 images, or 1 video, or
1 link (:class:`MomentAttachment`), the staff who must publish it (members and departments; none
means every member in the app's range) and its audience (corporate tags; none means all their
customers). Launching asks WeCom to create the moment task (``add_moment_task`` → ``jobid``); the
job is polled until WeCom gives the ``moment_id``; each member then publishes it in the WeCom
client, and :class:`MomentPublisher` keeps, per member, whether they did and whom it reached.

Status: ``draft`` → ``creating`` (claimed for launch; ``jobid`` once WeCom answered) →
``publishing`` (``moment_id`` known, members publishing) → ``done`` (everyone published) /
``canceled`` / ``failed``.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.utils.translation import gettext_lazy as _

from customers.models import Tag
from scrm.org.models import Department, Staff

from .welcome import AttachmentContent, AttachmentKind

__all__ = ["MomentAttachment", "MomentCampaign", "MomentPublisher", "moment_attachments_errors"]

#: WeCom's limits (WECOM.md §9.1).
TEXT_MAX_CHARS = 2000
TEXT_MAX_BYTES = 4000
MAX_IMAGES = 9
LINK_TITLE_MAX_BYTES = 64
#: The kinds a moment carries.
MOMENT_KINDS = (AttachmentKind.IMAGE, AttachmentKind.VIDEO, AttachmentKind.LINK)


def moment_attachments_errors(kinds: list[str]) -> list[str]:
    """WeCom's rule on a moment's attachments, by their kinds in order: up to 9 images, or 1
    video, or 1 link, never mixed. Returns the messages to show (none when the set is valid)."""
    errors = []
    wrong = sorted({k for k in kinds if k not in MOMENT_KINDS})
    if wrong:
        errors.append(
            _("A moment carries images, a video or a link, not: %(kinds)s.") % {"kinds": ", ".join(wrong)}
        )
    present = {k for k in kinds if k in MOMENT_KINDS}
    if len(present) > 1:
        errors.append(_("A moment carries images, or one video, or one link: they cannot be mixed."))
    elif present == {AttachmentKind.IMAGE} and len(kinds) > MAX_IMAGES:
        errors.append(_("A moment carries at most 9 images."))
    elif present and present != {AttachmentKind.IMAGE} and len(kinds) > 1:
        errors.append(_("A moment carries one video or one link only."))
    return errors


class MomentCampaign(models.Model):
    """A moment the corp asks its staff to publish, and how far that went."""

    class Status(models.TextChoices):
        DRAFT = "draft", _("draft")
        CREATING = "creating", _("creating in WeCom")
        PUBLISHING = "publishing", _("staff publishing")
        DONE = "done", _("done")
        CANCELED = "canceled", _("canceled")
        FAILED = "failed", _("failed")

    name = models.CharField(_("name"), max_length=100)
    text = models.TextField(_("text"), blank=True, help_text=_("At most 2000 characters."))
    staff = models.ManyToManyField(
        Staff,
        verbose_name=_("publishing staff"),
        blank=True,
        related_name="moment_campaigns",
        help_text=_("Who must publish it, with the members of the departments below."),
    )
    departments = models.ManyToManyField(
        Department,
        verbose_name=_("publishing departments"),
        blank=True,
        related_name="moment_campaigns",
        help_text=_(
            "Their members and those of every department below them. No staff and no department: "
            "every member in the app's range."
        ),
    )
    tags = models.ManyToManyField(
        Tag,
        verbose_name=_("audience tags"),
        blank=True,
        related_name="moment_campaigns",
        help_text=_("Customers with any of these corporate tags see it; none: all of the staff's customers."),
    )
    status = models.CharField(_("status"), max_length=16, choices=Status.choices, default=Status.DRAFT)
    jobid = models.CharField(_("WeCom job id"), max_length=128, blank=True, editable=False)
    moment_id = models.CharField(_("WeCom moment id"), max_length=128, blank=True, editable=False)
    error = models.TextField(_("error"), blank=True, editable=False)
    invalid = models.JSONField(
        _("refused by WeCom"),
        default=dict,
        blank=True,
        editable=False,
        help_text=_("Senders, departments and tags WeCom reported invalid."),
    )
    launch_attempts = models.PositiveSmallIntegerField(_("launch attempts"), default=0, editable=False)
    publishers_count = models.PositiveIntegerField(_("publishers"), default=0, editable=False)
    published_count = models.PositiveIntegerField(_("published"), default=0, editable=False)
    customers_reached = models.PositiveIntegerField(_("customers reached"), default=0, editable=False)
    comments_count = models.PositiveIntegerField(_("comments"), default=0, editable=False)
    likes_count = models.PositiveIntegerField(_("likes"), default=0, editable=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        editable=False,
    )
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)
    updated_at = models.DateTimeField(_("updated at"), auto_now=True)
    launched_at = models.DateTimeField(_("launched at"), null=True, blank=True, editable=False)
    job_done_at = models.DateTimeField(_("created in WeCom at"), null=True, blank=True, editable=False)
    finished_at = models.DateTimeField(_("finished at"), null=True, blank=True, editable=False)
    synced_at = models.DateTimeField(_("results synced at"), null=True, blank=True, editable=False)

    class Meta:
        verbose_name = _("moments campaign")
        verbose_name_plural = _("moments campaigns")
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["moment_id"], condition=~models.Q(moment_id=""), name="camp_moment_moment_id_unique"
            ),
        ]
        indexes = [
            models.Index(fields=["status", "launched_at"], name="camp_moment_status_idx"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def editable(self) -> bool:
        """Only drafts are changed: a launched moment is WeCom's."""
        return self.status == self.Status.DRAFT

    @property
    def cancelable(self) -> bool:
        return self.status in (self.Status.CREATING, self.Status.PUBLISHING) and bool(
            self.moment_id or self.jobid
        )

    @property
    def progress_percent(self) -> int:
        if not self.publishers_count:
            return 0
        return min(100, round(100 * self.published_count / self.publishers_count))

    def clean(self) -> None:
        if len(self.text) > TEXT_MAX_CHARS or len(self.text.encode()) > TEXT_MAX_BYTES:
            raise ValidationError(
                {
                    "text": _(
                        "At most 2000 characters and 4000 bytes (about 1300 Chinese characters); "
                        "this text has %(count)s characters, %(bytes)s bytes."
                    )
                    % {"count": len(self.text), "bytes": len(self.text.encode())}
                }
            )


class MomentAttachment(AttachmentContent):
    """One of a moment's attachments: an image or a video (a file uploaded to WeCom as a moments
    attachment), or a link (title ≤64 bytes, URL, optional cover image file)."""

    campaign = models.ForeignKey(MomentCampaign, on_delete=models.CASCADE, related_name="attachments")
    order = models.PositiveSmallIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("attachment")
        verbose_name_plural = _("attachments")
        ordering = ["campaign", "order", "id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()}: {self.title or self.file_name or self.link_url}"

    @property
    def needs_media(self) -> bool:
        # Moments take no pic_url: images and videos always travel as uploaded files; a link's
        # cover is optional.
        return self.kind in (AttachmentKind.IMAGE, AttachmentKind.VIDEO) or bool(self.file_size)

    @property
    def media_type(self) -> str:
        return "image" if self.kind == AttachmentKind.LINK else self.kind

    def attachment_errors(self) -> dict[str, list[str]]:
        errors: dict[str, list[str]] = {}
        if self.kind not in MOMENT_KINDS:
            errors["kind"] = [str(_("A moment carries images, a video or a link."))]
            return errors
        if self.kind == AttachmentKind.LINK:
            if not self.title:
                errors.setdefault("title", []).append(_("A link needs a title."))
            if len(self.title.encode()) > LINK_TITLE_MAX_BYTES:
                errors.setdefault("title", []).append(
                    _("A moment link's title is at most 64 bytes (about 21 Chinese characters).")
                )
            if not self.link_url:
                errors.setdefault("link_url", []).append(_("A link needs its URL."))
            if self.file_size and not self.file_name.lower().endswith((".jpg", ".jpeg", ".png")):
                errors.setdefault("file_name", []).append(_("A link's cover is a jpg or png image."))
            return errors
        if not self.file_size:
            # Moments take no picture URL: images and videos travel as uploaded files.
            errors["file_name"] = [
                _("A moment's %(kind)s needs its file.") % {"kind": self.get_kind_display()}
            ]
            return errors
        return super().attachment_errors()

    def clean(self) -> None:
        errors = self.attachment_errors()
        if errors:
            raise ValidationError(errors)

    def moment_body(self) -> dict:
        """The attachment as ``add_moment_task`` takes it (``media_id`` uploaded already)."""
        if self.kind == AttachmentKind.LINK:
            body = {"title": self.title, "url": self.link_url}
            if self.media_id:
                body["media_id"] = self.media_id
            return {"msgtype": "link", "link": body}
        return {"msgtype": self.kind, self.kind: {"media_id": self.media_id}}


class MomentPublisher(models.Model):
    """One member asked to publish a campaign's moment: whether they did, and its reach."""

    campaign = models.ForeignKey(MomentCampaign, on_delete=models.CASCADE, related_name="publishers")
    staff = models.ForeignKey(
        Staff,
        verbose_name=_("staff member"),
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    userid = models.CharField(_("WeCom userid"), max_length=64)
    publish_status = models.PositiveSmallIntegerField(
        _("published"), default=0, choices=[(0, _("not yet")), (1, _("published"))]
    )
    published_at = models.DateTimeField(_("published at"), null=True, blank=True)
    customers_visible = models.PositiveIntegerField(_("customers who can see it"), default=0)
    customers_reached = models.PositiveIntegerField(_("customers reached"), default=0)
    comments_count = models.PositiveIntegerField(_("comments"), default=0)
    likes_count = models.PositiveIntegerField(_("likes"), default=0)
    synced_at = models.DateTimeField(_("synced at"), null=True, blank=True)

    class Meta:
        verbose_name = _("moment publisher")
        verbose_name_plural = _("moment publishers")
        ordering = ["campaign", "id"]
        constraints = [
            models.UniqueConstraint(fields=["campaign", "userid"], name="camp_momentpub_unique"),
        ]
        indexes = [
            models.Index(fields=["staff", "campaign"], name="camp_momentpub_staff_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.userid} · {self.get_publish_status_display()}"
