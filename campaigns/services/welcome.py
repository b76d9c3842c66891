"""Welcome messages: which one a new customer gets, its rendering, and sending it in time.

The add handler calls :func:`welcome_schedule`, which only writes: the chosen message rendered
for this customer, in one :class:`~campaigns.models.WelcomeSend` row per welcome code (a retried
callback inserts nothing and enqueues nothing). After commit, a task on the ``realtime`` queue
calls :func:`welcome_send`, which claims the row, calls ``send_welcome_msg`` and records WeCom's
answer on the row and on the customer's timeline.

Attachment files are uploaded to WeCom when saved (a task after commit) and again whenever their
``media_id`` is older than ``WELCOME_MEDIA_MAX_AGE`` (the hourly refresh does it ahead of time; a
send that finds one stale uploads it first, rather than send a dead id).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime, timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import CustomerEvent, Follow
from scrm.schedules import periodic_task_ensure
from scrm.wecom.client import wecom_client
from scrm.wecom.errors import (
    ArgumentError,
    QuotaExceeded,
    TransientError,
    WecomError,
    WelcomeAlreadySent,
    WelcomeCodeInvalid,
)

from ..models import (
    GroupWelcomeTemplate,
    LiveCode,
    WelcomeAttachment,
    WelcomeMessage,
    WelcomeSend,
    welcome_text_render,
)
from ..models.welcome import MAX_ATTACHMENTS, AttachmentContent
from ..selectors.welcome import welcome_message_choose
from .content import SensitiveWordBlocked, sensitive_words_check, sensitive_words_screen

logger = logging.getLogger(__name__)

#: WeCom accepts a welcome code for 20 s after the add event.
WELCOME_WINDOW = timedelta(seconds=20)
#: Pauses before each retry of a transient failure; never past the window.
RETRY_DELAYS = (0.5, 1.0, 2.0, 4.0, 4.0)
#: Names used by the preview.
SAMPLE_CUSTOMER = "Lily 莉莉"
SAMPLE_STAFF = "Alex 王"

Status = WelcomeSend.Status


# --- messages -------------------------------------------------------------------------------------


def welcome_message_save(
    *, message: WelcomeMessage, attachments: Iterable[WelcomeAttachment] | None = None
) -> WelcomeMessage:
    """Validate and save ``message`` (and, when given, replace its attachments by ``attachments``).

    Files are uploaded to WeCom after commit, by a task: a save never waits for WeCom, and a
    failed upload is done again by the next send or the hourly refresh. A blocked sensitive word
    is a :class:`ValidationError` naming it; warn-only words found are left on the message as
    ``sensitive_warnings``, for the admin or the API to show.
    """
    message.full_clean()
    new = list(attachments) if attachments is not None else None
    if new is not None:
        if len(new) > MAX_ATTACHMENTS:
            raise ValidationError(_("At most 9 attachments."), code="attachments")
        problems = []
        for number, attachment in enumerate(new, start=1):
            attachment.message = message
            try:
                attachment.full_clean(exclude=["message"])
            except ValidationError as error:
                problems += [f"#{number}: {text}" for text in error.messages]
        if problems:
            raise ValidationError({"attachments": problems})
    message.sensitive_warnings = sensitive_words_screen(
        {
            "text": message.text,
            "attachments": [text for a in new or () for text in (a.title, a.description)],
        }
    )
    has_attachments = bool(new) if new is not None else bool(message.pk and message.attachments.exists())
    if not message.text.strip() and not has_attachments:
        raise ValidationError({"text": [_("Give a text, an attachment, or both.")]})
    with transaction.atomic():
        message.save()
        if new is not None:
            keep = [a.pk for a in new if a.pk]
            message.attachments.exclude(pk__in=keep).delete()
            for position, attachment in enumerate(new):
                attachment.message = message
                attachment.order = position
                attachment.save()
        welcome_media_upload_later(message=message)
    return message


def welcome_message_delete(*, message: WelcomeMessage) -> None:
    message.delete()


def welcome_media_upload_later(*, message: WelcomeMessage) -> None:
    """After commit, upload the files of ``message`` that have no fresh ``media_id``."""
    from ..tasks.welcome import welcome_media_refresh_task

    message_id = message.pk
    transaction.on_commit(lambda: welcome_media_refresh_task.delay(message_id=message_id))


def _attachments_listed(message: WelcomeMessage):
    """The message's attachments without their files: the prefetched ones when the selector
    loaded them, else one query that leaves the bytes in the database."""
    prefetched = getattr(message, "_prefetched_objects_cache", {}).get("attachments")
    if prefetched is not None:
        return prefetched
    return message.attachments.defer("file_content")


def welcome_render(*, message: WelcomeMessage, customer: str, staff: str) -> dict:
    """What the customer will see: the text filled in and the attachments as listed to people."""
    return {
        "text": welcome_text_render(message.text, customer=customer, staff=staff),
        "attachments": [a.summary() for a in _attachments_listed(message)],
    }


def welcome_preview(*, message: WelcomeMessage) -> dict:
    """The message rendered with sample names, for the admin's preview."""
    return welcome_render(message=message, customer=SAMPLE_CUSTOMER, staff=SAMPLE_STAFF)


# --- media ----------------------------------------------------------------------------------------


def _media_upload(item: AttachmentContent, *, now: datetime) -> None:
    """Upload ``item``'s file as temporary media and keep its ``media_id`` with the upload time."""
    if item.pk is None or "file_content" not in item.get_deferred_fields():
        content = item.file_content  # in memory: unsaved, or a new file about to be saved
    else:
        content = type(item).objects.filter(pk=item.pk).values_list("file_content", flat=True).first()
    if not content:
        raise ArgumentError(None, f"attachment {item.pk} has no file to upload", "media/upload")
    data = wecom_client().media_upload(item.media_type, filename=item.file_name, content=bytes(content))
    item.media_id, item.media_uploaded_at = data["media_id"], now
    if item.pk is not None:
        type(item).objects.filter(pk=item.pk).update(media_id=item.media_id, media_uploaded_at=now)


def welcome_media_ensure(*, attachment: AttachmentContent, now: datetime | None = None) -> None:
    """Make ``attachment.media_id`` usable: upload its file when it has none or it is stale."""
    now = now or timezone.now()
    if attachment.needs_media and not attachment.media_fresh(now=now):
        _media_upload(attachment, now=now)


def welcome_media_refresh(*, message_id: int | None = None, ahead: timedelta | None = None) -> int:
    """Upload again the attachment files whose ``media_id`` is missing or would be stale within
    ``ahead`` (a day by default), so that sends find them fresh; returns how many were uploaded.

    ``message_id`` limits it to one message (after a save). One failure does not stop the others;
    they are tried again on the next run.
    """
    now = timezone.now()
    ahead = timedelta(days=1) if ahead is None else ahead
    stale_before = now - timedelta(seconds=settings.WELCOME_MEDIA_MAX_AGE) + ahead
    rows = WelcomeAttachment.objects.defer("file_content").filter(file_size__gt=0, message__active=True)
    if message_id is not None:
        rows = WelcomeAttachment.objects.defer("file_content").filter(message_id=message_id, file_size__gt=0)
    uploaded = 0
    for attachment in rows.order_by("id"):
        if not attachment.needs_media:
            continue
        fresh = (
            attachment.media_id
            and attachment.media_uploaded_at
            and attachment.media_uploaded_at > stale_before
        )
        if fresh:
            continue
        try:
            _media_upload(attachment, now=now)
            uploaded += 1
        except WecomError as error:
            logger.warning("welcome attachment %s: upload failed: %s", attachment.pk, error)
    return uploaded


MEDIA_REFRESH_TASK_NAME = "campaigns: welcome attachments media refresh"


def welcome_media_schedule_ensure(**kwargs: object) -> bool:
    """Create the hourly media refresh's schedule unless one has its name."""
    return periodic_task_ensure(
        name=MEDIA_REFRESH_TASK_NAME,
        task="campaigns.tasks.welcome.welcome_media_refresh_task",
        queue="default",
        description="Uploads welcome attachment files again before WeCom's 3-day media expire.",
        every_seconds=3600,
        using=kwargs.get("using"),
    )


# Imported at start-up by the add handler (campaigns.handlers), like the live codes' schedule.


# --- scheduling (in the add handler: rows only) ---------------------------------------------------


def _insert_once(row: WelcomeSend) -> int | None:
    """``INSERT … ON CONFLICT (welcome_code) DO NOTHING RETURNING id``: the new id, or None when
    the code has a row already (a retried callback). Works on PostgreSQL and SQLite alike."""
    meta = WelcomeSend._meta
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    values = [f.get_db_prep_save(f.pre_save(row, True), connection) for f in fields]
    quote = connection.ops.quote_name
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"VALUES ({', '.join(['%s'] * len(fields))}) "
        f"ON CONFLICT ({quote(meta.get_field('welcome_code').column)}) DO NOTHING "
        f"RETURNING {quote(meta.pk.column)}"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, values)
        found = cursor.fetchone()
    return found[0] if found else None


def welcome_schedule(
    *, follow: Follow, live_code: LiveCode | None, welcome_code: str, received_at: datetime
) -> WelcomeSend | None:
    """Choose the welcome message of this add and queue its send, once per welcome code.

    Returns the new row, or None when this code has one already (nothing is queued again). With
    no message for this add the row is written as skipped, so support can see why nothing went.
    """
    message = welcome_message_choose(follow=follow, live_code=live_code, at=received_at)
    row = WelcomeSend(
        welcome_code=welcome_code,
        follow=follow,
        live_code=live_code,
        message=message,
        received_at=received_at,
        status=Status.PENDING if message else Status.SKIPPED,
    )
    if message is not None:
        row.content = welcome_render(message=message, customer=follow.customer.name, staff=follow.staff.name)
    else:
        row.finished_at = timezone.now()
    row.pk = _insert_once(row)
    if row.pk is None:
        return None
    if message is not None:
        from ..tasks.welcome import welcome_send_task

        send_id = row.pk
        transaction.on_commit(lambda: welcome_send_task.delay(send_id))
    return row


# --- sending (in the realtime task) ---------------------------------------------------------------


def _claim(row: WelcomeSend) -> bool:
    """Take attempt ``attempts + 1``: a conditional update, so of two deliveries of the task only
    one proceeds. A row left ``sending`` by a worker that died may be taken again: WeCom's code is
    single use, so a second call answers 41051 if the first got through."""
    return bool(
        WelcomeSend.objects.filter(
            pk=row.pk, status__in=(Status.PENDING, Status.SENDING), attempts=row.attempts
        ).update(status=Status.SENDING, attempts=row.attempts + 1)
    )


def _finish(row: WelcomeSend, status: str, error: str = "") -> bool:
    """Record the outcome of the attempt we claimed, and its one timeline event."""
    now = timezone.now()
    with transaction.atomic():
        done = WelcomeSend.objects.filter(pk=row.pk, status=Status.SENDING, attempts=row.attempts).update(
            status=status, error=error[:2000], finished_at=now
        )
        if not done:
            return False
        delivered = status in (Status.SENT, Status.ALREADY_DELIVERED)
        CustomerEvent.objects.create(
            customer_id=row.follow.customer_id,
            staff_id=row.follow.staff_id,
            type=CustomerEvent.Type.WELCOME_SENT if delivered else CustomerEvent.Type.WELCOME_FAILED,
            occurred_at=now,
            source=CustomerEvent.Source.SYSTEM,
            payload={
                "welcome_send_id": row.pk,
                "message_id": row.message_id,
                "message": row.message.name if row.message else "",
                "status": status,
                "error": error[:300],
                # The timeline shows "text": what the customer received, or why nothing was.
                "text": str(row.content.get("text", ""))[:200] if delivered else (error or status)[:200],
            },
        )
    row.status, row.error, row.finished_at = status, error, now
    return True


def _attachments_payload(message: WelcomeMessage, *, now: datetime) -> list[dict]:
    attachments = list(message.attachments.defer("file_content").order_by("order", "id"))
    for attachment in attachments:
        welcome_media_ensure(attachment=attachment, now=now)
    return [{"msgtype": a.kind, a.kind: a.wecom_body()} for a in attachments]


def welcome_send(*, send_id: int) -> float | None:
    """Send the welcome of row ``send_id`` once; returns seconds to wait before a retry, or None.

    0 → sent; 41051 → already delivered (another app won the code, or our earlier attempt did);
    41050 → expired, logged and never retried; transient failures are retried after a short pause
    while the 20 s window lasts, then expired; any other error → failed, and so does content holding
    a blocked sensitive word (nothing is sent; the reason names the word). Each outcome writes one
    timeline event. A row already finished, or claimed by another delivery, is left alone.
    """
    row = (
        WelcomeSend.objects.select_related("follow", "message")
        .filter(pk=send_id, status__in=(Status.PENDING, Status.SENDING))
        .first()
    )
    if row is None:
        return None
    if not _claim(row):
        return None
    row.attempts += 1
    deadline = row.received_at + WELCOME_WINDOW
    if row.message is None:  # the message was deleted since it was chosen
        _finish(row, Status.FAILED, _("The welcome message was deleted before it could be sent."))
        return None
    try:  # screened again: a word may have been listed since the message was saved
        sensitive_words_check(
            str(row.content.get("text") or ""),
            *(
                str(a.get(key) or "")
                for a in row.content.get("attachments", ())
                for key in ("title", "description")
            ),
        )
    except SensitiveWordBlocked as error:
        _finish(row, Status.FAILED, " ".join(error.messages))
        return None
    try:
        attachments = _attachments_payload(row.message, now=timezone.now())
        text = row.content.get("text") or None
        wecom_client().send_welcome_msg(row.welcome_code, text=text, attachments=attachments)
    except WelcomeAlreadySent:
        _finish(row, Status.ALREADY_DELIVERED)
    except WelcomeCodeInvalid as error:
        logger.info("welcome %s: code expired or invalid (%s)", row.pk, error)
        _finish(row, Status.EXPIRED, str(error))
    except TransientError as error:
        delay = RETRY_DELAYS[min(row.attempts - 1, len(RETRY_DELAYS) - 1)]
        if row.attempts > len(RETRY_DELAYS) or timezone.now() + timedelta(seconds=delay) >= deadline:
            logger.warning("welcome %s: window passed after %s attempts: %s", row.pk, row.attempts, error)
            _finish(row, Status.EXPIRED, _("Not sent within 20 seconds: %(error)s") % {"error": error})
            return None
        WelcomeSend.objects.filter(pk=row.pk, attempts=row.attempts).update(error=str(error)[:2000])
        return delay
    except WecomError as error:
        logger.warning("welcome %s failed: %s", row.pk, error)
        _finish(row, Status.FAILED, str(error))
    else:
        _finish(row, Status.SENT)
    return None


# --- group welcome templates ----------------------------------------------------------------------


def _template_fields(template: GroupWelcomeTemplate) -> dict:
    fields: dict = {"text": template.text or None}
    if template.kind:
        welcome_media_ensure(attachment=template)
        fields[template.kind] = template.wecom_body()
    return fields


def _wecom_validation_error(error: WecomError) -> ValidationError:
    if isinstance(error, QuotaExceeded):
        return ValidationError(_("WeCom holds at most 100 group welcome templates: delete one first."))
    if isinstance(error, TransientError):
        return ValidationError(_("WeCom did not answer in time; nothing was changed. Try again."))
    return ValidationError(_("WeCom refused the template: %(error)s") % {"error": error})


def group_welcome_template_save(*, template: GroupWelcomeTemplate) -> GroupWelcomeTemplate:
    """Validate, write to WeCom (add, or edit when it has a ``template_id``), then save.

    WeCom's refusal raises :class:`ValidationError` with its reason, and nothing is saved. Not
    atomic with the WeCom call on purpose: no transaction stays open across a WeCom request.
    """
    template.full_clean()
    template.sensitive_warnings = sensitive_words_screen(
        {"text": template.text, "title": template.title, "description": template.description}
    )
    client = wecom_client()
    try:
        fields = _template_fields(template)
        if template.template_id:
            client.group_welcome_template_edit(template.template_id, **fields)
        else:
            template.template_id = client.group_welcome_template_add(notify=template.notify, **fields)
    except WecomError as error:
        raise _wecom_validation_error(error) from error
    template.synced_at = timezone.now()
    template.save()
    return template


def group_welcome_template_delete(*, template: GroupWelcomeTemplate) -> None:
    """Delete in WeCom, then here. A template WeCom no longer has is simply deleted here."""
    if template.template_id:
        try:
            wecom_client().group_welcome_template_del(template.template_id)
        except WecomError as error:
            if error.errcode != 40058:  # WeCom's "invalid template_id": gone already
                raise _wecom_validation_error(error) from error
    template.delete()
