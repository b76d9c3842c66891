"""Group ownership transfers (PRODUCT.md C4; WECOM.md §10.3): a departed owner's groups handed on.

When a resigned transfer job is planned (``customers.signals.transfer_job_planned``), the
handover's groups get one :class:`~groups.models.GroupTransfer` row each:

- **Who.** The job's takeover when it names one; else the colleague who receives most of the
  job's customers (the groups' members are mostly those customers); else the handover's
  department manager (the policy's rule); else nobody: the row is ``no_owner`` with the reason,
  and the next job for that member tries again.
- **When.** WeCom takes at most 300 groups a day from one person (45009 past it), so each row has
  the Asia/Shanghai day it may go out on: the first day with room, counting what that person's
  other rows already hold, then the days after.

:func:`group_transfers_send` (every 30 minutes, and right after planning) hands due rows to WeCom,
at most 100 a call per (old owner, new owner), exactly once:

1. **Claim.** One conditional UPDATE moves the rows ``planned`` → ``sending`` with this run's
   ``claimed_at``; the rows carrying that stamp are ours, whoever else runs at the same time.
2. **Call.** ``groupchat/transfer`` for a departed owner, ``groupchat/onjob_transfer`` otherwise.
3. **Record.** Chats not in ``failed_chat_list`` are done and our ``GroupChat`` gets its new owner
   (one UPDATE). Listed ones fail with their errcode, except 45009 (the daily cap: spread again
   from tomorrow) and 90504 (the new owner already owns it: done).

A row left ``sending`` past the claim lease (the worker died, the answer was lost) is never sent
again blindly: ``groupchat/get`` says who owns the chat now; the new owner means done, anyone else
means planned again.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from scrm.org.models import Staff
from scrm.schedules import periodic_task_ensure
from scrm.wecom.client import WecomClient, wecom_client
from scrm.wecom.errors import ConfigError, NetworkError, TokenError, TransientError, WecomError

from .models import GroupChat, GroupTransfer
from .sync import chat_fetch

logger = logging.getLogger(__name__)

__all__ = [
    "GROUPS_PER_CALL",
    "GROUPS_PER_DAY",
    "SendResult",
    "group_transfers_plan",
    "group_transfers_schedule_ensure",
    "group_transfers_send",
    "job_planned_receiver",
]

Status = GroupTransfer.Status

#: WeCom's limits (WECOM.md §10.3): chats per call, and groups a day from the same person.
GROUPS_PER_CALL = 100
GROUPS_PER_DAY = 300
#: WeCom's day: the 300-a-day cap resets at midnight in China.
WECOM_TZ = ZoneInfo("Asia/Shanghai")
#: Rows that hold a place in a person's daily 300: waiting to go, going, or gone.
COUNTS_TOWARDS_DAY = (Status.PLANNED, Status.SENDING, Status.DONE)
#: Errcodes of ``failed_chat_list`` handled apart from a plain failure.
DAILY_CAP = 45009
OWNER_UNCHANGED = 90504
#: Bounds on one run, so a beat never runs for long; the next beat takes the rest.
MAX_SENT_PER_RUN = 3000
MAX_RECONCILED_PER_RUN = 200

SEND_TASK_NAME = "group transfers: send"


def wecom_today(now: datetime | None = None) -> date:
    return (now or timezone.now()).astimezone(WECOM_TZ).date()


def claim_lease() -> timedelta:
    """How long a claim is trusted: ``TRANSFER_CLAIM_LEASE``, never under twice the HTTP timeout
    (by then the call has ended one way or the other)."""
    seconds = max(float(settings.TRANSFER_CLAIM_LEASE), 2 * float(settings.WECOM_HTTP_TIMEOUT))
    return timedelta(seconds=seconds)


# --- planning -------------------------------------------------------------------------------------


def _days_spread(
    *, old_owner_id: int, count: int, start: date, exclude_ids: Iterable[int] = ()
) -> list[date]:
    """``count`` days, one per group, from ``start`` on: each day filled up to 300 with what the
    person's rows (other than ``exclude_ids``) already hold on it."""
    held = dict(
        GroupTransfer.objects.filter(
            old_owner_id=old_owner_id, due_on__gte=start, status__in=COUNTS_TOWARDS_DAY
        )
        .exclude(pk__in=list(exclude_ids))
        .values_list("due_on")
        .annotate(n=Count("id"))
        .values_list("due_on", "n")
    )
    days: list[date] = []
    day = start
    while len(days) < count:
        room = GROUPS_PER_DAY - held.get(day, 0)
        if room > 0:
            days.extend([day] * min(room, count - len(days)))
        day += timedelta(days=1)
    return days


def _new_owner_for(job) -> tuple[int | None, str]:
    """The colleague who gets the handover's groups, and why nobody does when nobody does."""
    from customers.models import TransferItem

    if job.takeover_id:
        return job.takeover_id, ""
    top = (
        TransferItem.objects.filter(job=job, takeover__isnull=False)
        .exclude(
            status__in=(
                TransferItem.Status.CANCELED,
                TransferItem.Status.BLOCKED,
                TransferItem.Status.POOLED,
            )
        )
        .values("takeover")
        .annotate(n=Count("id"))
        .order_by("-n", "takeover")
        .values_list("takeover", flat=True)
        .first()
    )
    if top is not None:
        return top, ""
    from customers.transfers.policy import department_manager

    manager = department_manager(job.handover)
    if manager is not None:
        return manager.pk, ""
    return None, _(
        "Nobody takes over this member's customers and their department has no manager: "
        "choose a new owner, or set a policy and run the transfer again."
    )


def groups_to_transfer(owner_id: int, *, job=None) -> QuerySet[GroupChat]:
    """The member's groups that still need a new owner: not dismissed, not already moved, none in
    flight (nor already planned in ``job``)."""
    held = Q(status__in=(Status.PLANNED, Status.SENDING))
    if job is not None:
        held |= Q(job=job)
    in_flight = GroupTransfer.objects.filter(group=OuterRef("pk")).filter(held)
    return GroupChat.objects.filter(
        owner_id=owner_id, status__in=(GroupChat.Status.NORMAL, GroupChat.Status.OWNER_DEPARTED)
    ).exclude(Exists(in_flight))


def departure_preview_groups(staff) -> dict[str, int]:
    """The group count on a departure's preview (customers.transfers.planning.preview_extras);
    a departed member with groups and no customers still gets a job for them."""
    return {"groups": groups_to_transfer(staff.pk).count()}


def group_transfers_plan(job) -> int:
    """Plan the handover's groups of a resigned ``job``: one row per group not already in flight,
    to the job's new owner, spread over days under WeCom's cap. Returns the rows written; a second
    run writes none. Queues a send after commit when something is due."""
    from customers.models import TransferJob

    if job.kind != TransferJob.Kind.RESIGNED:
        return 0
    with transaction.atomic():
        # One planner per person at a time: the day counts below stay true until we commit.
        Staff.objects.select_for_update().filter(pk=job.handover_id).first()
        group_ids = list(
            groups_to_transfer(job.handover_id, job=job).order_by("pk").values_list("pk", flat=True)
        )
        if not group_ids:
            return 0
        new_owner_id, reason = _new_owner_for(job)
        today = wecom_today()
        if new_owner_id is None:
            rows = [
                GroupTransfer(
                    job=job,
                    group_id=group_id,
                    old_owner_id=job.handover_id,
                    status=Status.NO_OWNER,
                    due_on=today,
                    error=reason[:300],
                )
                for group_id in group_ids
            ]
        else:
            days = _days_spread(old_owner_id=job.handover_id, count=len(group_ids), start=today)
            rows = [
                GroupTransfer(
                    job=job,
                    group_id=group_id,
                    old_owner_id=job.handover_id,
                    new_owner_id=new_owner_id,
                    due_on=day,
                )
                for group_id, day in zip(group_ids, days, strict=True)
            ]
        # A group planned meanwhile by another job keeps that row (one in flight per group).
        GroupTransfer.objects.bulk_create(rows, ignore_conflicts=True)
        if new_owner_id is not None:
            transaction.on_commit(_queue_send)
    return len(rows)


def _queue_send() -> None:
    from .tasks import group_transfers_send_run

    group_transfers_send_run.delay()


def job_planned_receiver(sender=None, *, job, **kwargs) -> None:
    """``transfer_job_planned``: plan the job's groups."""
    group_transfers_plan(job)


# --- sending --------------------------------------------------------------------------------------


@dataclass
class SendResult:
    calls: int = 0
    done: int = 0
    failed: int = 0
    rescheduled: int = 0
    reconciled: int = 0


@dataclass(frozen=True)
class _Due:
    pk: int
    group_id: int
    chat_id: str
    old_owner_id: int
    new_owner_id: int


def _claim(ids: Sequence[int]) -> tuple[list[int], datetime]:
    """Move ``ids`` still planned to sending under a fresh ``claimed_at``; the ids we got."""
    stamp = timezone.now()
    with transaction.atomic():
        GroupTransfer.objects.filter(pk__in=ids, status=Status.PLANNED).update(
            status=Status.SENDING, claimed_at=stamp
        )
        mine = list(
            GroupTransfer.objects.filter(pk__in=ids, status=Status.SENDING, claimed_at=stamp).values_list(
                "pk", flat=True
            )
        )
    return mine, stamp


def _groups_handed(group_ids: Sequence[int], new_owner: Staff, *, resigned: bool) -> None:
    """Our copy of the chats: the new owner; WeCom lists a departed owner's inherited chats as
    status 3 (transferred), an on-job transfer's as normal."""
    GroupChat.objects.filter(pk__in=list(group_ids)).update(
        owner=new_owner,
        owner_userid=new_owner.userid,
        status=GroupChat.Status.TRANSFERRED if resigned else GroupChat.Status.NORMAL,
    )


def _reschedule(rows: Sequence[_Due], today: date, *, stamp: datetime | None = None) -> int:
    """Rows WeCom refused for the daily cap: spread again from tomorrow, one UPDATE per day."""
    by_owner: dict[int, list[int]] = defaultdict(list)
    for row in rows:
        by_owner[row.old_owner_id].append(row.pk)
    for old_owner_id, ids in by_owner.items():
        days = _days_spread(
            old_owner_id=old_owner_id, count=len(ids), start=today + timedelta(days=1), exclude_ids=ids
        )
        per_day: dict[date, list[int]] = defaultdict(list)
        for pk, day in zip(ids, days, strict=True):
            per_day[day].append(pk)
        for day, day_ids in per_day.items():
            mine = GroupTransfer.objects.filter(pk__in=day_ids, status=Status.SENDING)
            if stamp is not None:
                mine = mine.filter(claimed_at=stamp)
            mine.update(status=Status.PLANNED, claimed_at=None, due_on=day, errcode=DAILY_CAP, error="")
    return len(rows)


#: What :func:`_send_call` tells the run to do next.
GO_ON, OWNER_CAPPED, STOP = "go_on", "owner_capped", "stop"


def _send_call(
    client: WecomClient,
    rows: Sequence[_Due],
    *,
    old_owner: Staff,
    new_owner: Staff,
    today: date,
    result: SendResult,
) -> str:
    """One WeCom call for up to 100 claimed rows, and its record. Returns :data:`OWNER_CAPPED`
    when WeCom's daily cap for the old owner is reached, :data:`STOP` when WeCom is unavailable."""
    ids, stamp = _claim([r.pk for r in rows])
    if not ids:
        return GO_ON
    mine_set = set(ids)
    rows = [r for r in rows if r.pk in mine_set]
    resigned = old_owner.status == Staff.Status.DEPARTED
    send = client.groupchat_transfer if resigned else client.groupchat_onjob_transfer
    claimed = GroupTransfer.objects.filter(pk__in=ids, status=Status.SENDING, claimed_at=stamp)
    result.calls += 1
    try:
        failures = send(chat_ids=[r.chat_id for r in rows], new_owner=new_owner.userid)
    except NetworkError:
        # No answer: the call may have landed. The rows stay claimed; after the lease
        # groupchat/get tells what happened before anything is sent again.
        logger.warning("group transfer: no answer for %s chats of %s", len(rows), old_owner.userid)
        return STOP
    except (TransientError, TokenError, ConfigError) as error:
        # WeCom answered and did nothing (busy, rate limited, our setup refused) or we never got
        # to call: the rows wait for the next run.
        claimed.update(status=Status.PLANNED, claimed_at=None)
        logger.warning("group transfer postponed: %s", error)
        return STOP
    except WecomError as error:
        # Refused whole (unknown new owner, no permission): every chat of the call fails.
        claimed.update(status=Status.FAILED, errcode=error.errcode, error=str(error)[:300])
        result.failed += len(rows)
        return GO_ON
    failed: dict[str, tuple[int, str]] = {
        str(f.get("chat_id")): (int(f.get("errcode") or 0), str(f.get("errmsg") or "")) for f in failures
    }
    capped = [r for r in rows if failed.get(r.chat_id, (0,))[0] == DAILY_CAP]
    done = [r for r in rows if r.chat_id not in failed or failed[r.chat_id][0] == OWNER_UNCHANGED]
    refused: dict[int, list[_Due]] = defaultdict(list)
    for r in rows:
        code = failed.get(r.chat_id, (0,))[0]
        if r.chat_id in failed and code not in (DAILY_CAP, OWNER_UNCHANGED):
            refused[code].append(r)
    with transaction.atomic():
        if done:
            updated = claimed.filter(pk__in=[r.pk for r in done]).update(
                status=Status.DONE, errcode=None, error=""
            )
            if updated:
                _groups_handed([r.group_id for r in done], new_owner, resigned=resigned)
            result.done += updated
        for code, code_rows in refused.items():
            message = failed[code_rows[0].chat_id][1]
            result.failed += claimed.filter(pk__in=[r.pk for r in code_rows]).update(
                status=Status.FAILED, errcode=code, error=message[:300]
            )
        if capped:
            result.rescheduled += _reschedule(capped, today, stamp=stamp)
    return OWNER_CAPPED if capped else GO_ON


def _due_rows(today: date, limit: int) -> list[_Due]:
    """Planned rows due by ``today``. Without TRANSFER_AUTO_START a job waits for the admin to
    start it (after the preview), and its groups wait with it."""
    from customers.models import TransferJob

    due = GroupTransfer.objects.filter(status=Status.PLANNED, due_on__lte=today, new_owner__isnull=False)
    if not settings.TRANSFER_AUTO_START:
        due = due.exclude(job__status=TransferJob.Status.PLANNED)
    return [
        _Due(*values)
        for values in due.order_by("old_owner_id", "new_owner_id", "due_on", "pk").values_list(
            "pk", "group_id", "group__chat_id", "old_owner_id", "new_owner_id"
        )[:limit]
    ]


def _planned_cancel() -> None:
    """Planned rows with nothing left to do: their group was dismissed, or their job canceled."""
    from customers.models import TransferJob

    planned = GroupTransfer.objects.filter(status=Status.PLANNED)
    planned.filter(group__status=GroupChat.Status.DISMISSED).update(
        status=Status.CANCELED, error=_("The group was dismissed.")
    )
    planned.filter(job__status=TransferJob.Status.CANCELED).update(
        status=Status.CANCELED, error=_("The transfer job was canceled.")
    )


def group_transfers_send(*, today: date | None = None, client: WecomClient | None = None) -> SendResult:
    """Reconcile stale claims, then hand every due row to WeCom (≤100 a call per pair of
    owners). Safe to run twice at once: each row is claimed by one run."""
    client = client or wecom_client("contact")
    today = today or wecom_today()
    result = SendResult()
    result.reconciled = group_transfers_reconcile(client=client)
    _planned_cancel()
    due = _due_rows(today, MAX_SENT_PER_RUN)
    if not due:
        return result
    staff = Staff.objects.in_bulk({r.old_owner_id for r in due} | {r.new_owner_id for r in due})
    pairs: dict[tuple[int, int], list[_Due]] = defaultdict(list)
    for row in due:
        pairs[(row.old_owner_id, row.new_owner_id)].append(row)
    capped_owners: set[int] = set()
    for (old_owner_id, new_owner_id), rows in pairs.items():
        if old_owner_id in capped_owners:
            continue
        for start in range(0, len(rows), GROUPS_PER_CALL):
            chunk = rows[start : start + GROUPS_PER_CALL]
            outcome = _send_call(
                client,
                chunk,
                old_owner=staff[old_owner_id],
                new_owner=staff[new_owner_id],
                today=today,
                result=result,
            )
            if outcome == STOP:
                return result  # the next beat tries again
            if outcome == OWNER_CAPPED:
                capped_owners.add(old_owner_id)
                break
    if capped_owners:
        # This person's cap for today is reached: their other due rows go from tomorrow on,
        # without a call each to hear 45009 again.
        left = [r for r in _due_rows(today, MAX_SENT_PER_RUN) if r.old_owner_id in capped_owners]
        for start in range(0, len(left), 1000):
            chunk = left[start : start + 1000]
            ids, stamp = _claim([r.pk for r in chunk])
            mine = set(ids)
            result.rescheduled += _reschedule([r for r in chunk if r.pk in mine], today, stamp=stamp)
    return result


# --- reconciliation -------------------------------------------------------------------------------


def group_transfers_reconcile(*, client: WecomClient, now: datetime | None = None) -> int:
    """Rows claimed longer ago than the lease without a recorded outcome: ``groupchat/get`` tells
    whether the call landed. New owner: done; anyone else: planned again; chat gone: canceled.
    Returns the rows settled."""
    now = now or timezone.now()
    stale = list(
        GroupTransfer.objects.filter(status=Status.SENDING, claimed_at__lt=now - claim_lease())
        .select_related("group", "old_owner", "new_owner")
        .order_by("pk")[:MAX_RECONCILED_PER_RUN]
    )
    settled = 0
    for row in stale:
        try:
            chat = chat_fetch(client, row.group.chat_id)
        except WecomError as error:
            logger.warning("group transfer %s: cannot read chat %s: %s", row.pk, row.group.chat_id, error)
            break  # WeCom unreachable: the next run tries again, nothing is sent meanwhile
        mine = GroupTransfer.objects.filter(pk=row.pk, status=Status.SENDING, claimed_at=row.claimed_at)
        with transaction.atomic():
            if chat is None:
                settled += mine.update(status=Status.CANCELED, error=_("The group was dismissed."))
            elif row.new_owner_id and chat.get("owner") == row.new_owner.userid:
                if mine.update(status=Status.DONE, errcode=None, error=""):
                    settled += 1
                    resigned = row.old_owner.status == Staff.Status.DEPARTED
                    _groups_handed([row.group_id], row.new_owner, resigned=resigned)
            else:
                settled += mine.update(status=Status.PLANNED, claimed_at=None)
    return settled


def group_transfers_schedule_ensure(**kwargs: object) -> bool:
    """Create the send schedule (every 30 minutes, default queue) unless one has its name."""
    return periodic_task_ensure(
        name=SEND_TASK_NAME,
        task="groups.tasks.group_transfers_send_run",
        queue="default",
        description="Hands departed owners' groups to their new owners, within WeCom's daily cap.",
        every_seconds=30 * 60,
        using=kwargs.get("using"),
    )
