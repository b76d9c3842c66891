"""WeCom's transfer results applied: completions move the follow with its tags, notes and tasks;
refusals and full takeovers go to the next colleague or the pool, as the job's policy says.

Results come three ways, and each one is applied once, by whichever sees it first: the poll of
``transfer_result`` / ``resigned/transfer_result`` (:func:`transfer_results_sync`, every
``TRANSFER_RESULTS_EVERY_MINUTES``), the ``transfer_fail`` callback (:func:`transfer_fail_apply`)
and the reconciliation of a batch cut off mid-call (:mod:`.dispatch`). Every change of an item is
a conditional UPDATE from ``waiting``: the second one finds nothing to do.

WeCom's statuses: 1 taken over → ``done`` (:func:`transfer_items_complete`); 2 still waiting (the
takeover time is kept up to date); 3 refused by the customer → ``refused``; 4 the takeover is at
WeCom's customer limit → ``takeover_full``; 5 no transfer record → ``no_record`` (final; a
departed member's customer left over is planned again by the nightly run). A waiting customer
WeCom does not list a day after the planned takeover time counts as 5 as well.

A refusal or a full takeover (:func:`transfer_items_fail`) ends the item; a departed member's
customer is then offered to the next colleague by the job's policy (a new item, attempt + 1, in
a new batch sent after commit) or put in the pool; a customer claimed from the pool goes back to
the pool; an on-job customer stays with the colleague who still holds them.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from scrm.schedules import periodic_task_ensure
from scrm.wecom.client import WecomClient, wecom_client
from scrm.wecom.errors import TokenError, TransientError

from ..models import (
    CustomerEvent,
    CustomerNote,
    Follow,
    FollowPersonalTag,
    FollowTag,
    PersonalTag,
    PoolEntry,
    TransferBatch,
    TransferItem,
    TransferJob,
)
from ..models.transfers import TRANSFER_BATCH_SIZE
from .dispatch import CLOCK_SKEW, TAKEOVER_DELAY, batches_queue, pair_results, uses_resigned_api

logger = logging.getLogger(__name__)

ItemStatus = TransferItem.Status
JobStatus = TransferJob.Status

#: A waiting customer WeCom still does not list this long after the planned takeover time has
#: no transfer record there (e.g. 40129: the transfer in progress was another one).
NO_RECORD_AFTER = timedelta(hours=24)
#: WeCom's result status → our final item status (2, still waiting, is not final).
FINAL = {1: ItemStatus.DONE, 3: ItemStatus.REFUSED, 4: ItemStatus.TAKEOVER_FULL, 5: ItemStatus.NO_RECORD}
#: The ``transfer_fail`` reasons, as the callback names them.
REFUSED = "customer_refused"
#: Results applied per transaction (a pair can hold thousands of waiting customers).
APPLY_CHUNK = 1000
LIMIT = "customer_limit_exceed"


@dataclass(frozen=True)
class FollowMove:
    """One customer taken over: sent with ``follows_transferred``."""

    customer_id: int
    old_follow_id: int
    new_follow_id: int
    old_staff_id: int
    new_staff_id: int
    job_id: int


# --- the poll -------------------------------------------------------------------------------------


def transfer_results_sync(job_id: int | None = None, *, client: WecomClient | None = None) -> int:
    """Read WeCom's results for every handover → takeover pair with waiting customers (of one job,
    or of all) and apply them; returns how many customers reached a final status."""
    waiting = TransferItem.objects.filter(status=ItemStatus.WAITING)
    if job_id is not None:
        waiting = waiting.filter(job_id=job_id)
    pairs = set(
        waiting.filter(follow__isnull=False, takeover__isnull=False)
        .values_list("job__kind", "follow__staff__status", "follow__staff__userid", "takeover__userid")
        .distinct()
    )
    apis: dict[tuple[str, str], set[bool]] = defaultdict(set)
    for kind, handover_status, handover_userid, takeover_userid in pairs:
        apis[(handover_userid, takeover_userid)].add(uses_resigned_api(kind, handover_status))
    client = client or wecom_client("contact")
    final = 0
    for (handover_userid, takeover_userid), resigned_flags in apis.items():
        try:
            # Every WeCom request of the pair before its writes (SQLite has a single writer).
            results = {
                resigned: pair_results(
                    client,
                    resigned=resigned,
                    handover_userid=handover_userid,
                    takeover_userid=takeover_userid,
                )
                for resigned in resigned_flags
            }
        except (TransientError, TokenError) as error:
            logger.info(
                "transfer results %s → %s not read this time: %s", handover_userid, takeover_userid, error
            )
            continue
        items = waiting.filter(follow__staff__userid=handover_userid, takeover__userid=takeover_userid)
        matched = _matched(items, results)
        for start in range(0, len(matched), APPLY_CHUNK):
            final += transfer_results_apply(matched[start : start + APPLY_CHUNK])
    return final


def _matched(items, results: dict[bool, dict[str, tuple[int, datetime | None]]]):
    """``(item id, status, time)`` for each waiting item WeCom has a result for (a transfer no
    older than the item's hand-over), and status 5 for one it has forgotten."""
    now = timezone.now()
    matched: list[tuple[int, int, datetime | None]] = []
    for item_id, external_userid, takeover_at, kind, handover_status in items.values_list(
        "id", "customer__external_userid", "takeover_at", "job__kind", "follow__staff__status"
    ):
        listed = results.get(uses_resigned_api(kind, handover_status), {})
        status, when = listed.get(external_userid, (0, None))
        # The list keeps older transfers of the pair: only one started with this item counts.
        started = takeover_at - TAKEOVER_DELAY - CLOCK_SKEW if takeover_at else None
        if status in (1, 2, 3, 4, 5) and (started is None or when is None or when >= started):
            matched.append((item_id, status, when))
        elif takeover_at is not None and takeover_at + NO_RECORD_AFTER < now:
            matched.append((item_id, 5, None))
    return matched


def transfer_results_apply(results: Sequence[tuple[int, int, datetime | None]]) -> int:
    """Apply WeCom's ``(item id, status, takeover time)`` results to waiting items; returns how
    many reached a final status. Items no longer waiting are left alone."""
    by_status: dict[int, list[tuple[int, datetime | None]]] = defaultdict(list)
    for item_id, status, when in results:
        by_status[status].append((item_id, when))
    now = timezone.now()
    final = 0
    if by_status.get(2):
        # Still waiting: WeCom's own takeover time replaces the one planned at the hand-over.
        times = {item_id: when for item_id, when in by_status[2] if when is not None}
        current = TransferItem.objects.filter(pk__in=list(times), status=ItemStatus.WAITING)
        TransferItem.objects.bulk_update(
            [
                TransferItem(pk=item_id, takeover_at=times[item_id], updated_at=now)
                for item_id, takeover_at in current.values_list("pk", "takeover_at")
                if takeover_at != times[item_id]
            ],
            ["takeover_at", "updated_at"],
            batch_size=500,
        )
    if by_status.get(1):
        items = list(
            TransferItem.objects.filter(pk__in=[i for i, _ in by_status[1]], status=ItemStatus.WAITING)
        )
        times = dict(by_status[1])
        for item in items:
            item.takeover_at = times.get(item.pk) or now
        final += len(transfer_items_complete(items))
    for status, reason in ((3, REFUSED), (4, LIMIT)):
        if by_status.get(status):
            with transaction.atomic():
                ids = _end_waiting([i for i, _ in by_status[status]], FINAL[status], reason)
                transfer_items_fail(item_ids=ids, when=now, fail_reason=reason)
            final += len(ids)
    if by_status.get(5):
        with transaction.atomic():
            ids = _end_waiting([i for i, _ in by_status[5]], ItemStatus.NO_RECORD, "")
            _jobs_refresh(TransferItem.objects.filter(pk__in=ids).values_list("job_id", flat=True))
        final += len(ids)
    return final


def _end_waiting(item_ids: Sequence[int], status: str, fail_reason: str) -> list[int]:
    """Waiting items → ``status`` (conditional on their still waiting); the ids that changed."""
    reason = {REFUSED: TransferItem.Reason.CUSTOMER_REFUSED, LIMIT: TransferItem.Reason.TAKEOVER_LIMIT}.get(
        fail_reason, ""
    )
    ids = list(
        TransferItem.objects.select_for_update()
        .filter(pk__in=list(item_ids), status=ItemStatus.WAITING)
        .values_list("pk", flat=True)
    )
    TransferItem.objects.filter(pk__in=ids, status=ItemStatus.WAITING).update(
        status=status, reason=reason, updated_at=timezone.now()
    )
    return ids


# --- completions ----------------------------------------------------------------------------------


@transaction.atomic
def transfer_items_complete(items: Iterable[TransferItem]) -> list[FollowMove]:
    """Customers taken over (WeCom status 1), each at its item's ``takeover_at``: the old follow
    closes as transferred (one timeline event), the successor's opens (``add_way`` 202, remark,
    description, mobiles and company copied) or is reactivated, corp and personal tags follow it,
    notes move to the successor, the items are ``done``, and ``follows_transferred`` is sent.
    Items no longer waiting (or sending) are left alone, so a repeat does nothing."""
    from ..signals import follows_transferred
    from ..wecom import follows_end

    wanted = {item.pk: item.takeover_at for item in items}
    if not wanted:
        return []
    now = timezone.now()
    rows = list(
        TransferItem.objects.select_for_update(of=("self",))
        .filter(
            pk__in=list(wanted), status__in=(ItemStatus.WAITING, ItemStatus.SENDING), follow__isnull=False
        )
        .values_list(
            "id",
            "job_id",
            "customer_id",
            "follow_id",
            "follow__staff_id",
            "follow__staff__userid",
            "takeover_id",
        )
    )
    if not rows:
        return []
    when_of = {row[0]: wanted[row[0]] or now for row in rows}
    TransferItem.objects.bulk_update(
        [
            TransferItem(pk=row[0], status=ItemStatus.DONE, takeover_at=when_of[row[0]], updated_at=now)
            for row in rows
        ],
        ["status", "takeover_at", "updated_at"],
        batch_size=500,
    )
    old_ids = [row[3] for row in rows]
    # The sync may have seen the old follow vanish first ("gone"); the cause is known now.
    Follow.objects.filter(pk__in=old_ids, status=Follow.Status.GONE).update(status=Follow.Status.ACTIVE)
    ends: dict[tuple[int, int, int, datetime], list[int]] = defaultdict(list)
    for item_id, job_id, _customer, follow_id, old_staff, _userid, new_staff in rows:
        ends[(job_id, old_staff, new_staff, when_of[item_id])].append(follow_id)
    for (job_id, old_staff, new_staff, when), follow_ids in ends.items():
        follows_end(
            follow_ids=follow_ids,
            status=Follow.Status.TRANSFERRED,
            when=when,
            event_type=CustomerEvent.Type.TRANSFERRED,
            source=CustomerEvent.Source.SYSTEM,
            payload={"from": old_staff, "to": new_staff, "job": job_id},
        )
    new_ids = _successor_follows(rows, when_of)
    _tags_copy(rows, new_ids)
    _notes_move(rows)
    from ..services import customer_tag_ids_refresh

    customer_tag_ids_refresh(sorted({row[2] for row in rows}))
    moves = [
        FollowMove(
            customer_id=customer_id,
            old_follow_id=follow_id,
            new_follow_id=new_ids[(customer_id, new_staff)],
            old_staff_id=old_staff,
            new_staff_id=new_staff,
            job_id=job_id,
        )
        for _item, job_id, customer_id, follow_id, old_staff, _userid, new_staff in rows
    ]
    follows_transferred.send(sender=TransferItem, moves=moves)
    _jobs_refresh({row[1] for row in rows})
    return moves


SUCCESSOR_FIELDS = (
    "added_at",
    "add_way",
    "remark",
    "description",
    "remark_corp_name",
    "remark_mobiles",
    "oper_userid",
    "status",
)


def _successor_follows(rows, when_of) -> dict[tuple[int, int], int]:
    """The successors' follows, ``(customer id, staff id) → follow id``: created as WeCom creates
    them, or reactivated when the pair had one before (kept as it is when active)."""
    old = {
        f["id"]: f
        for f in Follow.objects.filter(pk__in=[row[3] for row in rows]).values(
            "id", "remark", "description", "remark_corp_name", "remark_mobiles"
        )
    }
    pairs = {(row[2], row[6]): row for row in rows}
    existing = {
        (customer_id, staff_id): (follow_id, status)
        for follow_id, customer_id, staff_id, status in Follow.objects.filter(
            customer_id__in={p[0] for p in pairs}, staff_id__in={p[1] for p in pairs}
        ).values_list("id", "customer_id", "staff_id", "status")
    }

    def fields(row) -> dict:
        source = old[row[3]]
        return {
            "added_at": when_of[row[0]],
            "add_way": Follow.AddWay.ASSIGNED_BY_ADMIN,
            "remark": source["remark"],
            "description": source["description"],
            "remark_corp_name": source["remark_corp_name"],
            "remark_mobiles": source["remark_mobiles"],
            "oper_userid": row[5],
            "status": Follow.Status.ACTIVE,
        }

    Follow.objects.bulk_create(
        [
            Follow(customer_id=c, staff_id=s, **fields(row))
            for (c, s), row in pairs.items()
            if (c, s) not in existing
        ],
        ignore_conflicts=True,  # the sync may be writing the same pair right now
        batch_size=500,
    )
    again = [
        (c, s)
        for (c, s), (_id, status) in existing.items()
        if (c, s) in pairs and status != Follow.Status.ACTIVE
    ]
    if again:
        Follow.objects.bulk_update(
            [
                Follow(pk=existing[pair][0], status_changed_at=when_of[pairs[pair][0]], **fields(pairs[pair]))
                for pair in again
            ],
            [*SUCCESSOR_FIELDS, "status_changed_at"],
            batch_size=500,
        )
    return {
        (customer_id, staff_id): follow_id
        for follow_id, customer_id, staff_id in Follow.objects.filter(
            customer_id__in={p[0] for p in pairs}, staff_id__in={p[1] for p in pairs}
        ).values_list("id", "customer_id", "staff_id")
        if (customer_id, staff_id) in pairs
    }


def _tags_copy(rows, new_ids: dict[tuple[int, int], int]) -> None:
    """Corp tags as WeCom copies them, and personal tags by name into the successor's own set
    (created when missing): WeCom drops personal tags on a transfer; we keep them."""
    target = {row[3]: (new_ids[(row[2], row[6])], row[6]) for row in rows}
    FollowTag.objects.bulk_create(
        [
            FollowTag(follow_id=target[follow_id][0], tag_id=tag_id)
            for follow_id, tag_id in FollowTag.objects.filter(follow_id__in=list(target)).values_list(
                "follow_id", "tag_id"
            )
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )
    personal = list(
        FollowPersonalTag.objects.filter(follow_id__in=list(target)).values_list(
            "follow_id", "tag__group_name", "tag__name"
        )
    )
    if not personal:
        return
    wanted = {(target[f][1], group, name) for f, group, name in personal}
    PersonalTag.objects.bulk_create(
        [PersonalTag(staff_id=s, group_name=g, name=n) for s, g, n in wanted],
        ignore_conflicts=True,
        batch_size=1000,
    )
    ids = {
        (s, g, n): pk
        for pk, s, g, n in PersonalTag.objects.filter(
            staff_id__in={w[0] for w in wanted}, name__in={w[2] for w in wanted}
        ).values_list("id", "staff_id", "group_name", "name")
    }
    FollowPersonalTag.objects.bulk_create(
        [
            FollowPersonalTag(follow_id=target[f][0], tag_id=ids[(target[f][1], g, n)])
            for f, g, n in personal
            if (target[f][1], g, n) in ids
        ],
        ignore_conflicts=True,
        batch_size=1000,
    )


def _notes_move(rows) -> None:
    """The old holder's notes about these customers become the successor's."""
    moves: dict[tuple[int, int], list[int]] = defaultdict(list)
    for row in rows:
        moves[(row[4], row[6])].append(row[2])
    for (old_staff, new_staff), customer_ids in moves.items():
        CustomerNote.objects.filter(customer_id__in=customer_ids, staff_id=old_staff).update(
            staff_id=new_staff
        )


# --- refusals and full takeovers ------------------------------------------------------------------


def transfer_items_fail(*, item_ids: Sequence[int], when: datetime, fail_reason: str = "") -> int:
    """Handle items that just ended ``refused`` or ``takeover_full`` (the caller changed their
    status, in its transaction): a ``transfer_failed`` timeline event each; a departed member's
    customer goes to the next colleague by the policy (a new item in a new batch, sent after
    commit) or to the pool; a claim goes back to the pool; an on-job customer stays with the
    colleague who holds them. Returns how many were offered to someone else."""
    items = list(
        TransferItem.objects.select_related("job", "takeover", "follow")
        .filter(pk__in=list(item_ids), status__in=(ItemStatus.REFUSED, ItemStatus.TAKEOVER_FULL))
        .order_by("id")
    )
    if not items:
        return 0
    CustomerEvent.objects.bulk_create(
        CustomerEvent(
            customer_id=item.customer_id,
            staff_id=item.takeover_id,
            type=CustomerEvent.Type.TRANSFER_FAILED,
            occurred_at=when,
            source=CustomerEvent.Source.SYSTEM,
            payload={
                "userid": item.takeover.userid if item.takeover else "",
                "fail_reason": fail_reason or (REFUSED if item.status == ItemStatus.REFUSED else LIMIT),
                "job": item.job_id,
                "item": item.pk,
            },
        )
        for item in items
    )
    from .policy import next_takeovers_for

    offered: dict[int, list[TransferItem]] = defaultdict(list)
    pooled: dict[str, list[tuple[int, int | None, int]]] = defaultdict(list)
    movable = [
        item
        for item in items
        # On-job: the colleague who handed over still holds the customer.
        if item.job.kind != TransferJob.Kind.ONJOB
        and item.job.status != JobStatus.CANCELED
        and item.follow_id is not None
    ]
    # One assigner per job: what the first customers get counts against the room for the next.
    picks = next_takeovers_for([item for item in movable if item.job.kind != TransferJob.Kind.CLAIM])
    for item in movable:
        refused = item.status == ItemStatus.REFUSED
        pool_reason = PoolEntry.Reason.REFUSED if refused else PoolEntry.Reason.NO_TAKEOVER
        takeover_id = picks.get(item.pk)  # a claim goes back to the pool
        if takeover_id is None:
            pooled[pool_reason].append((item.customer_id, item.follow_id, item.pk))
        else:
            offered[takeover_id].append(item)
    batch_ids: list[int] = []
    for takeover_id, olds in offered.items():
        for start in range(0, len(olds), TRANSFER_BATCH_SIZE):
            chunk = olds[start : start + TRANSFER_BATCH_SIZE]
            batch = TransferBatch.objects.create(job=chunk[0].job, takeover_id=takeover_id)
            TransferItem.objects.bulk_create(
                TransferItem(
                    job_id=old.job_id,
                    customer_id=old.customer_id,
                    follow_id=old.follow_id,
                    takeover_id=takeover_id,
                    batch=batch,
                    status=ItemStatus.PLANNED,
                    attempt=old.attempt + 1,
                )
                for old in chunk
            )
            batch_ids.append(batch.pk)
    if pooled:
        from .pool import pool_add_many

        for reason, entries in pooled.items():
            pool_add_many(entries, reason=reason)
    jobs = {item.job_id for item in items}
    _jobs_refresh(jobs)
    started = set(
        TransferJob.objects.filter(
            pk__in=jobs, status__in=(JobStatus.RUNNING, JobStatus.WAITING)
        ).values_list("pk", flat=True)
    )
    batches_queue(
        list(TransferBatch.objects.filter(pk__in=batch_ids, job_id__in=started).values_list("pk", flat=True))
    )
    return sum(len(olds) for olds in offered.values())


def transfer_fail_apply(
    *, external_userid: str, takeover_userid: str, reason: str, when: datetime
) -> str | None:
    """A ``transfer_fail`` callback: the waiting item of that customer to that member ends
    (refused, or takeover full for ``customer_limit_exceed``) and is handled as the poll would.

    Returns ``"applied"``, ``"already"`` (the poll or an earlier delivery handled it: nothing
    more is done) or None (no transfer of ours: the caller records WeCom's event as it is).
    ``UserID`` is taken as the takeover's, and the handover's is accepted too (WeCom's docs say
    only "the member").
    """
    reason = LIMIT if reason == LIMIT else REFUSED
    status = ItemStatus.TAKEOVER_FULL if reason == LIMIT else ItemStatus.REFUSED
    ours = TransferItem.objects.filter(customer__external_userid=external_userid).filter(
        Q(takeover__userid=takeover_userid) | Q(follow__staff__userid=takeover_userid)
    )
    with transaction.atomic():
        waiting = list(ours.filter(status=ItemStatus.WAITING).values_list("pk", flat=True))
        ids = _end_waiting(waiting, status, reason) if waiting else []
        if ids:
            transfer_items_fail(item_ids=ids, when=when, fail_reason=reason)
            return "applied"
    if ours.filter(status__in=(ItemStatus.REFUSED, ItemStatus.TAKEOVER_FULL)).exists():
        return "already"
    return None


# --- jobs -----------------------------------------------------------------------------------------


def _jobs_refresh(job_ids: Iterable[int]) -> None:
    for job_id in sorted(set(job_ids)):
        transfer_job_refresh(job_id=job_id)


def transfer_job_refresh(job_id: int) -> str | None:
    """Roll a started job up from its items: ``running`` while customers wait to be handed over,
    ``waiting`` while only WeCom's 24 hours are left, ``done`` (with ``finished_at``) once none is
    in flight. A planned or canceled job is left as it is. Returns the job's status."""
    job = TransferJob.objects.filter(pk=job_id).values_list("status", flat=True).first()
    if job is None or job in (JobStatus.PLANNED, JobStatus.CANCELED):
        return job
    # Two EXISTS on the (job, status) index: this runs after every batch, and counting a
    # 50,000-customer job's items each time would cost more than the batch itself.
    items = TransferItem.objects.filter(job_id=job_id)
    if items.filter(status__in=(ItemStatus.PLANNED, ItemStatus.SENDING)).exists():
        status = JobStatus.RUNNING
    elif items.filter(status=ItemStatus.WAITING).exists():
        status = JobStatus.WAITING
    else:
        status = JobStatus.DONE
    if status != job:
        TransferJob.objects.filter(pk=job_id).exclude(
            status__in=(JobStatus.PLANNED, JobStatus.CANCELED)
        ).update(status=status, finished_at=timezone.now() if status == JobStatus.DONE else None)
    return status


def transfer_job_counts(job: TransferJob) -> dict[str, int]:
    """Customers of the job by item status (every status, zeros included), in one query."""
    from ..selectors import transfer_job_counts as counts_of

    return counts_of([job.pk])[job.pk]


# --- schedules ------------------------------------------------------------------------------------

RESULTS_TASK_NAME = "customers: transfer results sync"


def transfer_results_schedule_ensure(**kwargs: object) -> bool:
    """Create the results poll's schedule (every ``TRANSFER_RESULTS_EVERY_MINUTES``)."""
    return periodic_task_ensure(
        name=RESULTS_TASK_NAME,
        task="customers.tasks.transfer_results_sync_task",
        queue="default",
        description="Reads WeCom's results of waiting customer transfers and applies them.",
        every_seconds=max(int(settings.TRANSFER_RESULTS_EVERY_MINUTES), 1) * 60,
        using=kwargs.get("using"),
    )
