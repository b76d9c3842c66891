"""Moments campaigns: saving drafts, creating the moment in WeCom once, following its job and
the members' publishing, and cancelling it (WECOM.md §9).

Flow: :func:`moment_save` validates a draft (WeCom's attachment rules, 2000 characters, the
sensitive-word screen); :func:`moment_launch_request` queues the launch; :func:`moment_launch`
uploads the files as moments attachments and calls ``add_moment_task``; :func:`moment_job_poll`
reads the job until WeCom gives the ``moment_id``; :func:`moment_results_sync` reads who
published and whom it reached; :func:`moment_cancel` stops it.

A campaign is created in WeCom once. The launch first claims the campaign with a conditional
update (``draft`` → ``creating``), so that of two deliveries of the task only one calls WeCom.
When the call's outcome is unknown (a timeout or a dropped connection: WeCom may have created
the moment), the campaign stays ``creating`` without a ``jobid`` and the next attempt first looks
for the moment in ``get_moment_list`` (corp-created moments from just before the campaign was
created until now, same text and attachments, not taken by another campaign). Only when none is
found ``MOMENTS_LAUNCH_RECONCILE_AFTER`` seconds after the last attempt (WeCom's job has long
finished by then) is ``add_moment_task`` called again.
"""

from __future__ import annotations

import logging
import mimetypes
from collections.abc import Iterable, Sequence
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Count, F, Q, Sum
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import Tag
from scrm.org.models import Department, Staff
from scrm.schedules import periodic_task_ensure
from scrm.wecom.client import wecom_client
from scrm.wecom.errors import TransientError, WecomError

from ..models import MomentAttachment, MomentCampaign, MomentPublisher
from ..models.moments import MOMENT_KINDS, moment_attachments_errors
from .content import sensitive_words_screen

logger = logging.getLogger(__name__)

Status = MomentCampaign.Status
#: WeCom keeps a creation job 24 h; a job not done by then never will be.
JOB_LIFETIME = timedelta(hours=24)
#: get_moment_list spans at most 30 days.
LIST_SPAN = timedelta(days=29)
BATCH = 1000


# --- content checks -------------------------------------------------------------------------------


def _sensitive_check(campaign: MomentCampaign, attachments: Iterable[MomentAttachment]) -> list[str]:
    """The content library's screen over the text and the link titles: a blocked word is a
    ValidationError on the field holding it; returns the warn-only words found."""
    titles = [a.title for a in attachments if a.title]
    return sensitive_words_screen({"text": campaign.text, "attachments": titles})


def _attachments_validate(attachments: Sequence[MomentAttachment]) -> None:
    problems = [str(m) for m in moment_attachments_errors([a.kind for a in attachments])]
    for number, attachment in enumerate(attachments, start=1):
        try:
            attachment.full_clean(exclude=["campaign", "file_content"])  # bytes stay in the database
        except ValidationError as error:
            problems += [f"#{number}: {text}" for text in error.messages]
    if problems:
        raise ValidationError({"attachments": problems})


def _tags_validate(tags: Iterable[Tag]) -> None:
    unsynced = [t.name for t in tags if not t.wecom_id or t.deleted]
    if unsynced:
        raise ValidationError(
            {"tags": [_("Not corporate tags in WeCom: %(names)s.") % {"names": ", ".join(unsynced)}]}
        )


# --- drafts ---------------------------------------------------------------------------------------


def moment_save(
    *,
    campaign: MomentCampaign,
    attachments: Sequence[MomentAttachment] | None = None,
    staff: Iterable[Staff] | None = None,
    departments: Iterable[Department] | None = None,
    tags: Iterable[Tag] | None = None,
    user=None,
) -> MomentCampaign:
    """Validate and save a draft; ``attachments``, ``staff``, ``departments`` and ``tags``
    replace the current ones when given. A launched campaign cannot be changed.

    Raises :class:`ValidationError` by field: WeCom's rules (≤2000 characters; up to 9 images,
    or 1 video, or 1 link; link titles ≤64 bytes), tags not in WeCom, and sensitive words.
    """
    if campaign.pk and not MomentCampaign.objects.filter(pk=campaign.pk, status=Status.DRAFT).exists():
        raise ValidationError(_("This moment was launched: it can no longer be changed."))
    campaign.full_clean(exclude=["staff", "departments", "tags"])
    new = list(attachments) if attachments is not None else None
    if new is not None:
        for attachment in new:
            attachment.campaign = campaign
        _attachments_validate(new)
        current = new
    else:
        current = list(campaign.attachments.defer("file_content")) if campaign.pk else []
    if not campaign.text.strip() and not current:
        raise ValidationError({"text": [_("Give a text, an attachment, or both.")]})
    tags = list(tags) if tags is not None else None
    if tags is not None:
        _tags_validate(tags)
    # Warn-only words do not stop a save; the admin and the API show them.
    campaign.sensitive_warnings = _sensitive_check(campaign, current)
    if user is not None and campaign.created_by_id is None and getattr(user, "pk", None):
        campaign.created_by = user
    with transaction.atomic():
        campaign.save()
        if new is not None:
            keep = [a.pk for a in new if a.pk]
            campaign.attachments.exclude(pk__in=keep).delete()
            for position, attachment in enumerate(new):
                attachment.campaign = campaign
                attachment.order = position
                attachment.save()
        if staff is not None:
            campaign.staff.set(staff)
        if departments is not None:
            campaign.departments.set(departments)
        if tags is not None:
            campaign.tags.set(tags)
    return campaign


def moment_delete(*, campaign: MomentCampaign) -> None:
    """Delete a draft (a launched moment is canceled instead, and kept for its results)."""
    if campaign.status != Status.DRAFT:
        raise ValidationError(_("Only drafts are deleted; cancel a launched moment instead."))
    campaign.delete()


# --- launch ---------------------------------------------------------------------------------------


def moment_launch_request(*, campaign: MomentCampaign) -> None:
    """Check a draft can go and queue its launch after commit (the task calls WeCom)."""
    if campaign.status != Status.DRAFT:
        raise ValidationError(_("This moment was launched already."))
    attachments = list(campaign.attachments.defer("file_content"))
    _attachments_validate(attachments)
    if not campaign.text.strip() and not attachments:
        raise ValidationError(_("Give a text, an attachment, or both."))
    _tags_validate(campaign.tags.all())
    _sensitive_check(campaign, attachments)
    from ..tasks.moments import moment_launch_task

    campaign_id = campaign.pk
    transaction.on_commit(lambda: moment_launch_task.delay(campaign_id=campaign_id))


def _upload(attachment: MomentAttachment) -> None:
    """Upload the attachment's file as a moments attachment (``attachment_type=1``)."""
    content = MomentAttachment.objects.filter(pk=attachment.pk).values_list("file_content", flat=True).first()
    if not content:
        raise ValidationError(_("Attachment %(name)s has no file.") % {"name": attachment})
    content_type = mimetypes.guess_type(attachment.file_name)[0] or "application/octet-stream"
    data = wecom_client().call(
        "POST",
        "media/upload_attachment",
        params={"media_type": attachment.media_type, "attachment_type": 1},
        files={"media": (attachment.file_name, bytes(content), content_type)},
    )
    now = timezone.now()
    attachment.media_id, attachment.media_uploaded_at = data["media_id"], now
    MomentAttachment.objects.filter(pk=attachment.pk).update(
        media_id=attachment.media_id, media_uploaded_at=now
    )


def _fail(campaign_id: int, error: str, *, status_from: Sequence[str] = (Status.CREATING,)) -> None:
    MomentCampaign.objects.filter(pk=campaign_id, status__in=status_from).update(
        status=Status.FAILED, error=error[:2000], finished_at=timezone.now()
    )


def _moment_matches(campaign: MomentCampaign, attachments: Sequence[MomentAttachment], moment: dict) -> bool:
    if moment.get("create_type") != 0:
        return False
    if ((moment.get("text") or {}).get("content") or "") != campaign.text:
        return False
    kinds = [a.kind for a in attachments]
    if len(moment.get("image") or []) != kinds.count("image"):
        return False
    if bool(moment.get("video")) != ("video" in kinds):
        return False
    link = moment.get("link") or {}
    links = [a for a in attachments if a.kind == "link"]
    if bool(link) != bool(links):
        return False
    return not links or link.get("url") == links[0].link_url


def _moment_find(campaign: MomentCampaign, attachments: Sequence[MomentAttachment]) -> str | None:
    """The ``moment_id`` of a moment WeCom created for this campaign in an attempt whose answer
    was lost: corp-created, from just before the campaign was created until now, same content,
    and not another campaign's."""
    now = timezone.now()
    start = max(campaign.created_at - timedelta(minutes=5), now - LIST_SPAN)
    taken = set(
        MomentCampaign.objects.exclude(pk=campaign.pk)
        .exclude(moment_id="")
        .values_list("moment_id", flat=True)
    )
    moments = wecom_client().moment_list_all(
        start_time=int(start.timestamp()),
        end_time=int((now + timedelta(minutes=5)).timestamp()),
        filter_type=0,
    )
    for moment in moments:
        if moment.get("moment_id") not in taken and _moment_matches(campaign, attachments, moment):
            return moment["moment_id"]
    return None


def _moment_found(campaign: MomentCampaign, moment_id: str) -> None:
    """Record a moment found by reconciliation: its job is done, members publish now."""
    MomentCampaign.objects.filter(pk=campaign.pk, status=Status.CREATING, jobid="").update(
        status=Status.PUBLISHING, moment_id=moment_id, job_done_at=timezone.now(), error=""
    )
    logger.info("moment campaign %s: found moment %s of an earlier attempt", campaign.pk, moment_id)
    moment_results_sync_later(campaign_id=campaign.pk)


def moment_launch(*, campaign_id: int) -> float | None:
    """Create the campaign's moment in WeCom, once; returns seconds before another attempt is
    due (the outcome was unknown), or None.

    A draft is claimed (→ ``creating``) before WeCom is called. A ``creating`` campaign without a
    ``jobid`` had an attempt with an unknown outcome: the moment is looked for first (module
    docstring). WeCom's refusal (and a sensitive word found at the last moment) fails the
    campaign with its reason. On success the ``jobid`` is kept and the job's polling queued.
    """
    campaign = MomentCampaign.objects.filter(pk=campaign_id).first()
    if campaign is None:
        return None
    now = timezone.now()
    attachments = list(campaign.attachments.defer("file_content").order_by("order", "id"))
    if campaign.status == Status.DRAFT:
        claimed = MomentCampaign.objects.filter(pk=campaign.pk, status=Status.DRAFT).update(
            status=Status.CREATING, launched_at=now, launch_attempts=1, error=""
        )
        if not claimed:
            return None  # another delivery claimed it; that one goes on
        campaign.launch_attempts = 1
    elif campaign.status == Status.CREATING and not campaign.jobid and not campaign.moment_id:
        try:
            found = _moment_find(campaign, attachments)
        except TransientError as error:
            logger.warning("moment campaign %s: reconciliation failed: %s", campaign.pk, error)
            return float(settings.MOMENTS_POLL_SECONDS)
        if found:
            _moment_found(campaign, found)
            return None
        waited = (now - (campaign.launched_at or now)).total_seconds()
        if waited < settings.MOMENTS_LAUNCH_RECONCILE_AFTER:
            return max(1.0, settings.MOMENTS_LAUNCH_RECONCILE_AFTER - waited)
        # Nothing was created by the earlier attempt: try again, claimed by its attempt number.
        if not MomentCampaign.objects.filter(
            pk=campaign.pk, status=Status.CREATING, jobid="", launch_attempts=campaign.launch_attempts
        ).update(launched_at=now, launch_attempts=F("launch_attempts") + 1):
            return None
        campaign.launch_attempts += 1
    else:
        if campaign.status == Status.CREATING and campaign.jobid:
            moment_poll_later(campaign_id=campaign.pk)
        return None

    try:
        _sensitive_check(campaign, attachments)
        for attachment in attachments:
            if attachment.needs_media:
                _upload(attachment)
        jobid = wecom_client().add_moment_task(
            text=campaign.text,
            attachments=[a.moment_body() for a in attachments],
            sender_userids=list(campaign.staff.values_list("userid", flat=True)),
            sender_departments=list(campaign.departments.values_list("wecom_id", flat=True)),
            tag_ids=list(campaign.tags.exclude(wecom_id=None).values_list("wecom_id", flat=True)),
        )
    except ValidationError as error:
        _fail(campaign.pk, " ".join(error.messages))
        return None
    except TransientError as error:
        # WeCom may or may not have created it: stay "creating" without a jobid; the next
        # attempt looks for it before calling add_moment_task again.
        logger.warning("moment campaign %s: launch outcome unknown: %s", campaign.pk, error)
        MomentCampaign.objects.filter(pk=campaign.pk, status=Status.CREATING).update(
            error=_("WeCom did not answer (%(error)s); checking whether the moment was created.")
            % {"error": error}
        )
        return float(settings.MOMENTS_LAUNCH_RECONCILE_AFTER)
    except WecomError as error:
        logger.warning("moment campaign %s: WeCom refused it: %s", campaign.pk, error)
        _fail(campaign.pk, str(error))
        return None
    MomentCampaign.objects.filter(pk=campaign.pk, status=Status.CREATING).update(jobid=jobid, error="")
    moment_poll_later(campaign_id=campaign.pk)
    return None


# --- job ------------------------------------------------------------------------------------------


def moment_poll_later(*, campaign_id: int) -> None:
    from ..tasks.moments import moment_job_poll_task

    transaction.on_commit(
        lambda: moment_job_poll_task.apply_async(
            kwargs={"campaign_id": campaign_id}, countdown=settings.MOMENTS_POLL_SECONDS
        )
    )


def moment_job_poll(*, campaign_id: int) -> float | None:
    """Read the creation job once; returns seconds before the next read while it runs, or None.

    Done (status 3): the ``moment_id`` and the senders and tags WeCom found invalid are kept,
    the campaign moves to ``publishing`` and its publishers are read. A job WeCom no longer knows
    (after 24 h) or that ended in an error fails the campaign.
    """
    campaign = (
        MomentCampaign.objects.filter(pk=campaign_id, status=Status.CREATING, moment_id="")
        .exclude(jobid="")
        .first()
    )
    if campaign is None:
        return None
    try:
        data = wecom_client().get_moment_task_result(campaign.jobid)
    except TransientError as error:
        logger.info("moment campaign %s: job read failed: %s", campaign.pk, error)
        return float(settings.MOMENTS_POLL_SECONDS)
    except WecomError as error:
        _fail(campaign.pk, str(error))
        return None
    if data.get("status") != 3:
        if campaign.launched_at and timezone.now() - campaign.launched_at > JOB_LIFETIME:
            _fail(campaign.pk, _("WeCom's creation job did not finish within 24 hours."))
            return None
        return float(settings.MOMENTS_POLL_SECONDS)
    result = data.get("result") or {}
    if result.get("errcode") or not result.get("moment_id"):
        _fail(campaign.pk, f"{result.get('errcode')}: {result.get('errmsg') or 'no moment_id'}")
        return None
    senders = result.get("invalid_sender_list") or {}
    invalid = {
        "user_list": senders.get("user_list") or [],
        "department_list": senders.get("department_list") or [],
        "tag_list": (result.get("invalid_external_contact_list") or {}).get("tag_list") or [],
    }
    MomentCampaign.objects.filter(pk=campaign.pk, status=Status.CREATING).update(
        status=Status.PUBLISHING,
        moment_id=result["moment_id"],
        invalid={k: v for k, v in invalid.items() if v},
        job_done_at=timezone.now(),
    )
    try:  # the publishers at once; the periodic sweep reads them again if WeCom fails here
        moment_results_sync(campaign_id=campaign.pk)
    except WecomError as error:
        logger.warning("moment campaign %s: results read failed: %s", campaign.pk, error)
    return None


# --- results --------------------------------------------------------------------------------------


def moment_results_sync_later(*, campaign_id: int) -> None:
    from ..tasks.moments import moment_results_sync_task

    transaction.on_commit(lambda: moment_results_sync_task.delay(campaign_id=campaign_id))


def moment_results_sync(*, campaign_id: int) -> MomentCampaign | None:
    """Read each executor's publish status (``get_moment_task``) and, for members who published,
    whom it reached (``get_moment_send_result``), who can see it (``get_moment_customer_list``,
    once, when first seen published) and its comments and likes; written in bulk, then the
    campaign's counters. Everyone published → ``done``.
    """
    campaign = (
        MomentCampaign.objects.filter(pk=campaign_id)
        .exclude(moment_id="")
        .filter(status__in=(Status.PUBLISHING, Status.DONE, Status.CANCELED))
        .first()
    )
    if campaign is None:
        return None
    client = wecom_client()
    moment_id = campaign.moment_id
    tasks = {t["userid"]: int(t.get("publish_status") or 0) for t in client.moment_task_all(moment_id)}
    staff_ids = dict(Staff.objects.filter(userid__in=list(tasks)).values_list("userid", "id"))
    known = {
        p.userid: p
        for p in MomentPublisher.objects.filter(campaign=campaign).only(
            "id", "userid", "publish_status", "published_at", "customers_visible", "customers_reached"
        )
    }
    now = timezone.now()
    rows = []
    for userid, published in tasks.items():
        row = known.get(userid) or MomentPublisher(campaign=campaign, userid=userid)
        row.staff_id = staff_ids.get(userid)
        row.synced_at = now
        if published:
            if not row.publish_status:
                row.published_at = now  # WeCom does not say when: first seen published
                row.customers_visible = sum(1 for _ in client.moment_customers_all(moment_id, userid))
                row.customers_reached = sum(1 for _ in client.moment_send_result_all(moment_id, userid))
            reactions = client.get_moment_comments(moment_id, userid)
            row.comments_count = len(reactions["comment_list"])
            row.likes_count = len(reactions["like_list"])
        row.publish_status = 1 if published else 0
        rows.append(row)
    MomentPublisher.objects.bulk_create(
        rows,
        batch_size=BATCH,
        update_conflicts=True,
        unique_fields=["campaign", "userid"],
        update_fields=[
            "staff",
            "publish_status",
            "published_at",
            "customers_visible",
            "customers_reached",
            "comments_count",
            "likes_count",
            "synced_at",
        ],
    )
    totals = MomentPublisher.objects.filter(campaign=campaign).aggregate(
        publishers=Count("id"),
        published=Count("id", filter=Q(publish_status=1)),
        reached=Sum("customers_reached"),
        comments=Sum("comments_count"),
        likes=Sum("likes_count"),
    )
    fields = {
        "publishers_count": totals["publishers"],
        "published_count": totals["published"],
        "customers_reached": totals["reached"] or 0,
        "comments_count": totals["comments"] or 0,
        "likes_count": totals["likes"] or 0,
        "synced_at": now,
    }
    MomentCampaign.objects.filter(pk=campaign.pk).update(**fields)
    if totals["publishers"] and totals["published"] == totals["publishers"]:
        MomentCampaign.objects.filter(pk=campaign.pk, status=Status.PUBLISHING).update(
            status=Status.DONE, finished_at=now
        )
    campaign.refresh_from_db()
    return campaign


def moment_sync_request(*, campaign: MomentCampaign) -> None:
    """Queue a read of the results now (the admin's and the API's "sync")."""
    if not campaign.moment_id:
        if campaign.status == Status.CREATING and campaign.jobid:
            moment_poll_later(campaign_id=campaign.pk)
            return
        raise ValidationError(_("WeCom has not created this moment yet: nothing to read."))
    moment_results_sync_later(campaign_id=campaign.pk)


def moments_due() -> dict[str, list[int]]:
    """What the periodic sweep has to do: campaigns still publishing within
    ``MOMENTS_SYNC_DAYS`` of their launch (read their results), jobs still running (poll them)
    and launches whose outcome is unknown (reconcile them)."""
    now = timezone.now()
    recent = now - timedelta(days=settings.MOMENTS_SYNC_DAYS)
    creating = MomentCampaign.objects.filter(status=Status.CREATING)
    return {
        "sync": list(
            MomentCampaign.objects.filter(status=Status.PUBLISHING, launched_at__gte=recent).values_list(
                "id", flat=True
            )
        ),
        "poll": list(creating.exclude(jobid="").values_list("id", flat=True)),
        "launch": list(
            creating.filter(
                jobid="",
                launched_at__lte=now - timedelta(seconds=settings.MOMENTS_LAUNCH_RECONCILE_AFTER),
            ).values_list("id", flat=True)
        ),
    }


# --- cancel ---------------------------------------------------------------------------------------


def moment_cancel(*, campaign: MomentCampaign) -> MomentCampaign:
    """Stop a launched moment that not every member has published (``cancel_moment_task``).

    Refused with a :class:`ValidationError`: drafts (delete them), finished campaigns, a moment
    everyone has published, and one WeCom is still creating (try again in a moment).
    """
    campaign.refresh_from_db()
    if campaign.status not in (Status.CREATING, Status.PUBLISHING):
        raise ValidationError(
            _("Only a launched moment that is not finished can be canceled (this one is %(status)s).")
            % {"status": campaign.get_status_display()}
        )
    if not campaign.moment_id and campaign.jobid:
        moment_job_poll(campaign_id=campaign.pk)
        campaign.refresh_from_db()
    if not campaign.moment_id:
        raise ValidationError(_("WeCom is still creating this moment; cancel it again in a moment."))
    if campaign.publishers_count and campaign.published_count >= campaign.publishers_count:
        raise ValidationError(_("Everyone has published this moment: it can no longer be canceled."))
    try:
        wecom_client().cancel_moment_task(campaign.moment_id)
    except WecomError as error:
        raise ValidationError(_("WeCom refused to cancel it: %(error)s") % {"error": error}) from error
    MomentCampaign.objects.filter(pk=campaign.pk, status__in=(Status.CREATING, Status.PUBLISHING)).update(
        status=Status.CANCELED, finished_at=timezone.now()
    )
    campaign.refresh_from_db()
    return campaign


# --- schedule -------------------------------------------------------------------------------------

SYNC_TASK_NAME = "campaigns: moments results sync"


def moments_schedule_ensure(**kwargs: object) -> bool:
    """Create the periodic sweep's schedule (every ``MOMENTS_SYNC_MINUTES``) unless one has its name."""
    return periodic_task_ensure(
        name=SYNC_TASK_NAME,
        task="campaigns.tasks.moments.moments_sync_run",
        queue="default",
        description="Reads who published recent moments and whom they reached; follows running jobs.",
        every_seconds=settings.MOMENTS_SYNC_MINUTES * 60,
        using=kwargs.get("using"),
    )


__all__ = [
    "MOMENT_KINDS",
    "moment_cancel",
    "moment_delete",
    "moment_job_poll",
    "moment_launch",
    "moment_launch_request",
    "moment_results_sync",
    "moment_save",
    "moment_sync_request",
    "moments_due",
    "moments_schedule_ensure",
]
