"""Staff tasks: creation (idempotent on ``source_key``), done / skipped, cancelation and batched
notices through WeCom app messages (PRODUCT.md E4).

Interface used by the SOP engines:

- :func:`staff_tasks_create` inserts tasks in bulk; a task whose ``source_key`` exists is left alone,
  so a second beat or a retried job creates nothing twice.
- :func:`staff_tasks_cancel` cancels the open tasks of a source (``source_prefix``, e.g. every task
  of one enrolment, ``"sop:{enrolment_id}:"``) or by ids, when a customer leaves an SOP.

Notices (:func:`staff_tasks_notify`) are at most once per task: the tasks of one staff member are
claimed (``notified_at`` set and committed) before the app message goes out. A call that WeCom
refuses gives the claim back for the next round; a call that timed out, or a process that dies
between the commit and the call, loses that reminder rather than send it twice. The task itself
stays in the inbox either way.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from functools import reduce
from operator import or_

from django.conf import settings
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import router, transaction
from django.db.models import Q
from django.db.models.constants import OnConflict
from django.db.models.sql import InsertQuery
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from scrm.org.models import Staff
from scrm.schedules import periodic_task_ensure
from scrm.wecom.client import wecom_client
from scrm.wecom.errors import Timeout, WecomError

from ..models import StaffTask

logger = logging.getLogger(__name__)

__all__ = [
    "NOTICE_TASK_NAME",
    "staff_task_finish",
    "staff_tasks_cancel",
    "staff_tasks_create",
    "staff_tasks_finish",
    "staff_tasks_notice_schedule_ensure",
    "staff_tasks_notify",
]

NOTICE_TASK_NAME = "campaigns: staff task notices"
#: Task titles listed in one notice; the rest are counted ("and 3 more").
NOTICE_MAX_LISTED = 5
#: WeCom's textcard description limit.
NOTICE_DESCRIPTION_MAX_BYTES = 512


def staff_tasks_create(*, tasks: Iterable[StaffTask]) -> int:
    """Insert unsaved tasks in bulk; a task whose ``source_key`` exists is left alone. Returns how
    many were new. Their staff hear about them with the next batched notice.

    One ``INSERT … ON CONFLICT DO NOTHING RETURNING id`` per thousand tasks (``INSERT OR IGNORE``
    on SQLite): the rows returned are exactly the new ones, even when another process inserts the
    same keys at the same moment.
    """
    rows: list[StaffTask] = []
    seen: set[str] = set()
    for task in tasks:  # a key given twice in one call counts once, as the first of them
        if task.source_key not in seen:
            seen.add(task.source_key)
            rows.append(task)
    if not rows:
        return 0
    alias = router.db_for_write(StaffTask)
    opts = StaffTask._meta
    fields = [field for field in opts.concrete_fields if not field.primary_key]
    created = 0
    for start in range(0, len(rows), 1000):
        query = InsertQuery(StaffTask, on_conflict=OnConflict.IGNORE)
        query.insert_values(fields, rows[start : start + 1000])
        returned = query.get_compiler(using=alias).execute_sql(returning_fields=[opts.pk])
        created += sum(1 for row in returned if row and row[0] is not None)
    return created


def staff_task_finish(*, task: StaffTask, status: str, note: str = "", by) -> StaffTask:
    """Mark an open task done or skipped, with an optional note.

    ``by`` must have the task in scope (a guide their own tasks, a store manager those of their
    staff); a task that is no longer open is refused (someone finished or canceled it already).
    """
    from ..selectors.stafftasks import staff_task_list

    if status not in (StaffTask.Status.DONE, StaffTask.Status.SKIPPED):
        raise ValidationError({"status": _("A task can be marked done or skipped.")})
    if len(note) > StaffTask._meta.get_field("note").max_length:
        raise ValidationError({"note": _("At most 500 characters.")})
    if not staff_task_list(user=by).filter(pk=task.pk).exists():
        raise PermissionDenied(_("This task is not yours to finish."))
    now = timezone.now()
    # A conditional UPDATE: two clicks (or two people) cannot both finish the same task.
    changed = StaffTask.objects.filter(pk=task.pk, status=StaffTask.Status.OPEN).update(
        status=status, note=note, status_changed_at=now
    )
    if not changed:
        raise ValidationError(_("This task is not open any more."))
    task.status, task.note, task.status_changed_at = status, note, now
    return task


def staff_tasks_finish(*, ids: Iterable[int], status: str, by, note: str = "") -> int:
    """Mark several tasks done or skipped at once (the admin's actions): only the open ones in
    ``by``'s scope change, in one UPDATE. Returns how many did."""
    from ..selectors.stafftasks import staff_task_list

    if status not in (StaffTask.Status.DONE, StaffTask.Status.SKIPPED):
        raise ValidationError({"status": _("A task can be marked done or skipped.")})
    return (
        staff_task_list(user=by)
        .filter(pk__in=list(ids), status=StaffTask.Status.OPEN)
        .update(status=status, note=note[:500], status_changed_at=timezone.now())
    )


def staff_tasks_cancel(
    *, source_prefix: str | Sequence[str] | None = None, ids: Iterable[int] | None = None, reason: str = ""
) -> int:
    """Cancel the open tasks whose ``source_key`` starts with ``source_prefix`` (or one of several
    prefixes) and/or whose id is in ``ids``: a customer left an SOP, a rule was deleted. Done and
    skipped tasks stay as they are. Returns how many were canceled."""
    if not source_prefix and ids is None:
        raise ValueError("give source_prefix or ids")
    tasks = StaffTask.objects.filter(status=StaffTask.Status.OPEN)
    if source_prefix:
        prefixes = [source_prefix] if isinstance(source_prefix, str) else list(source_prefix)
        tasks = tasks.filter(reduce(or_, (Q(source_key__startswith=prefix) for prefix in prefixes)))
    if ids is not None:
        tasks = tasks.filter(pk__in=list(ids))
    return tasks.update(status=StaffTask.Status.CANCELED, status_changed_at=timezone.now(), note=reason[:500])


# --- Notices --------------------------------------------------------------------------------------


def _notice_horizon(now: datetime) -> datetime:
    return now + timedelta(minutes=settings.STAFF_TASK_NOTICE_AHEAD_MINUTES)


def _unnotified(now: datetime):
    return StaffTask.objects.filter(
        status=StaffTask.Status.OPEN,
        notified_at__isnull=True,
        due_at__lte=_notice_horizon(now),
        staff__status=Staff.Status.ACTIVE,
    )


def _notice_content(tasks: list[StaffTask], total: int) -> dict:
    """A textcard listing the first tasks and how many more, linking to the mobile task list."""
    title = ngettext("You have %(count)d new task", "You have %(count)d new tasks", total) % {"count": total}
    titles = [f"{timezone.localtime(t.due_at):%m-%d %H:%M} {t.title}" for t in tasks[:NOTICE_MAX_LISTED]]

    def described(titles: list[str]) -> str:
        more = total - len(titles)
        return "\n".join([*titles, *([_("and %(count)d more") % {"count": more}] if more > 0 else [])])

    description = described(titles)
    while len(description.encode()) > NOTICE_DESCRIPTION_MAX_BYTES and len(titles) > 1:
        titles.pop()
        description = described(titles)
    base = (settings.SCRM_PUBLIC_URL or "").rstrip("/")
    return {
        "title": title,
        "description": description.encode()[:NOTICE_DESCRIPTION_MAX_BYTES].decode(errors="ignore"),
        "url": f"{base}/m/tasks/",
        "btntxt": _("Open"),
    }


def staff_tasks_notify(*, now: datetime | None = None) -> int:
    """Send one WeCom app message per staff member who has open tasks due by the next window and
    not yet announced; returns how many messages went out.

    Per person: claim their unannounced tasks (``notified_at`` set, rows locked with
    ``SKIP LOCKED`` so a second run passes them by), commit, then send. A WeCom error gives the
    claim back for the next round.
    """
    now = now or timezone.now()
    staff_ids = list(_unnotified(now).order_by().values_list("staff_id", flat=True).distinct())
    sent = 0
    client = None
    for staff_id in staff_ids:
        with transaction.atomic():
            claimed = list(
                _unnotified(now)
                .filter(staff_id=staff_id)
                .select_for_update(skip_locked=True, of=("self",))
                .order_by("due_at", "id")
                .only("id", "title", "due_at")
            )
            if not claimed:
                continue
            ids = [task.pk for task in claimed]
            StaffTask.objects.filter(pk__in=ids).update(notified_at=now)
        userid = Staff.objects.filter(pk=staff_id).values_list("userid", flat=True).first()
        with translation.override(settings.LANGUAGE_CODE):
            content = _notice_content(claimed, len(claimed))
        client = client or wecom_client("agent")
        try:
            result = client.message_send(
                agentid=int(settings.WECOM_AGENT_ID), msgtype="textcard", content=content, touser=[userid]
            )
        except Timeout:
            # The message may have gone out: keep the claim (at most once) rather than send twice.
            logger.warning("staff task notice to %s timed out; not sent again", userid)
            continue
        except WecomError:
            # WeCom answered with a refusal: nothing was sent, so the next round tries again.
            StaffTask.objects.filter(pk__in=ids, notified_at=now).update(notified_at=None)
            logger.warning("staff task notice to %s failed; retried next round", userid, exc_info=True)
            continue
        if userid in (result.get("invaliduser") or "").split("|"):
            logger.warning("staff task notice: WeCom does not know %s", userid)
        sent += 1
    return sent


def staff_tasks_notice_schedule_ensure(**kwargs: object) -> bool:
    """Create the notice schedule (every two minutes, default queue) unless one has its name."""
    return periodic_task_ensure(
        name=NOTICE_TASK_NAME,
        task="campaigns.tasks.stafftasks.staff_tasks_notify_run",
        queue="default",
        description="One WeCom app message per staff member listing their new tasks.",
        every_seconds=120,
        using=kwargs.get("using"),
    )
