"""Departures recorded once (callback, sync, WeCom's unassigned list), and the nightly run.

The org layer records a departure (``scrm.org.sync.staff_depart``: the staff row, one audit
entry) and sends ``staff_departed`` after commit; :func:`staff_departed_receive` (connected in
``CustomersConfig.ready``) queues one plan per member. WeCom's unassigned list is the third
witness: a member it names whom we still hold as employed has left (at WeCom's dimission time).
Every night :func:`departures_nightly` reads that list and plans whatever a departed member still
holds that no job or pool entry covers: customers added back by a sync, or left by a failed run.
"""

from __future__ import annotations

import logging
from collections import Counter
from datetime import UTC, datetime

from django.db.models import Exists, OuterRef

from scrm.org.models import Staff
from scrm.org.sync import staff_depart
from scrm.wecom.client import wecom_client
from scrm.wecom.errors import TransientError, WecomError

from ..models import TransferJob
from .planning import departure_plan, follows_to_plan

logger = logging.getLogger(__name__)


def staff_departed_receive(sender, *, staff_ids: list[int], trigger: str, **kwargs) -> None:
    """``staff_departed``: plan each member's customers in the background (queue "bulk")."""
    from ..tasks import departure_plan_task

    for staff_id in staff_ids:
        departure_plan_task.delay(staff_id=staff_id, trigger=trigger)


def unassigned_detect(client=None) -> dict[str, int]:
    """Read WeCom's unassigned list (``get_unassigned_list``), depart every member it names whom
    we hold as employed (at their dimission time, trigger "unassigned"), and return the number of
    unassigned customers per handover userid."""
    client = client or wecom_client("contact")
    counts: Counter[str] = Counter()
    left_at: dict[str, int] = {}
    for row in client.unassigned_all():
        userid = str(row.get("handover_userid") or "")
        if not userid:
            continue
        counts[userid] += 1
        left_at[userid] = max(left_at.get(userid, 0), int(row.get("dimission_time") or 0))
    employed: list[str] = []
    userids = list(counts)
    for start in range(0, len(userids), 1000):
        employed += (
            Staff.objects.filter(userid__in=userids[start : start + 1000])
            .exclude(status=Staff.Status.DEPARTED)
            .values_list("userid", flat=True)
        )
    by_time: dict[int, list[str]] = {}
    for userid in employed:
        by_time.setdefault(left_at[userid], []).append(userid)
    for stamp, group in sorted(by_time.items()):
        at = datetime.fromtimestamp(stamp, tz=UTC) if stamp else None
        staff_depart(userids=group, at=at, trigger=TransferJob.Trigger.UNASSIGNED)
    return dict(counts)


def departed_with_customers_left() -> list[int]:
    """Departed members who still hold active follows that no job or pool entry covers."""
    left = follows_to_plan(OuterRef("pk"))
    return list(
        Staff.objects.filter(status=Staff.Status.DEPARTED)
        .filter(Exists(left))
        .order_by("id")
        .values_list("id", flat=True)
    )


def departures_nightly(client=None) -> dict[str, int]:
    """The nightly run: WeCom's unassigned list, then a plan for every departed member with
    customers left. A transient WeCom error propagates (the task retries: both halves are
    idempotent); any other WeCom error leaves the list for tomorrow and still plans."""
    unassigned = 0
    try:
        unassigned = sum(unassigned_detect(client).values())
    except TransientError:
        raise
    except WecomError as error:
        logger.warning("nightly reassignment: the unassigned list could not be read: %s", error)
    planned = failed = 0
    for staff_id in departed_with_customers_left():
        try:
            job = departure_plan(staff_id=staff_id, trigger=TransferJob.Trigger.NIGHTLY)
        except Exception:
            # One member's failure must not keep the others' customers waiting another night.
            logger.exception("nightly reassignment: planning staff %s failed", staff_id)
            failed += 1
            continue
        planned += job is not None
    return {"unassigned_customers": unassigned, "jobs_planned": planned, "failed": failed}


NIGHTLY_TASK_NAME = "transfers: nightly reassignment"


def transfers_nightly_schedule_ensure(**kwargs: object) -> bool:
    """Create the nightly run's schedule (02:30) once; an administrator's edits stay."""
    from scrm.schedules import periodic_task_ensure

    return periodic_task_ensure(
        name=NIGHTLY_TASK_NAME,
        task="customers.tasks.transfers_nightly_task",
        queue="bulk",
        description="Reads WeCom's unassigned list and reassigns what departed staff still hold.",
        crontab={"minute": "30", "hour": "2"},
        using=kwargs.get("using"),
    )
