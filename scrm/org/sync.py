"""Sync of the organisation from WeCom: the department tree and the staff (WECOM.md §2).

The sync step ``org`` (run first, ``ORDER_ORG``) and the ``change_contact`` handlers share the
writes below, so a callback and a sync that see the same WeCom data leave the same rows.

Members: ``user/list_id`` lists every member but only the contact-sync secret may call it, which a
customer-contact deployment usually lacks. Without ``WECOM_CONTACT_SYNC_SECRET`` the members are
those ``get_follow_user_list`` returns (every member with customer contact: the only ones who can
have customers), with ``user/get`` for their details; a known member missing from that list is
asked for with ``user/get`` before being called departed, because losing the customer-contact
feature is not leaving the company (docs/decisions.md).

Staff are never deleted: a member WeCom no longer returns becomes ``departed`` with the time it
was noticed, and keeps their follows and groups for the reassignment of their customers.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Sequence
from datetime import datetime

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from scrm.wecom import errors
from scrm.wecom.client import WecomClient
from scrm.wecom.sync import SyncContext

from .audit import audit_record
from .models import Department, Staff, StaffDepartment
from .signals import staff_departed

logger = logging.getLogger(__name__)

STEP = "org"
#: Members fetched with ``user/get`` and written together.
BATCH = 200

#: ``user/get`` ``status``: 1 activated, 2 disabled, 4 not activated yet, 5 quit the corp.
STAFF_STATUS = {
    1: Staff.Status.ACTIVE,
    2: Staff.Status.DISABLED,
    4: Staff.Status.ACTIVE,
    5: Staff.Status.DEPARTED,
}
STAFF_FIELDS = (
    "name",
    "position",
    "gender",
    "avatar",
    "status",
    "departed_at",
    "main_department_id",
    "contact_enabled",
)


def _count(ctx: SyncContext | None, what: str, n: int) -> None:
    if ctx is not None and n:
        ctx.count(STEP, what, n)


# --- departments ----------------------------------------------------------------------------------


def _paths(rows: dict[int, dict], known: dict[int, tuple[int, str]]) -> dict[int, str]:
    """Materialized paths of ``rows`` from their WeCom parents; parents outside ``rows`` come from
    ``known`` (our rows: wecom_id → (pk, path)) and are roots when we do not hold them either."""
    paths: dict[int, str] = {}

    def path_of(wecom_id: int, seen: frozenset[int] = frozenset()) -> str:
        if wecom_id in paths:
            return paths[wecom_id]
        parent = int(rows[wecom_id].get("parentid") or 0)
        if parent in rows and parent not in seen:
            prefix = path_of(parent, seen | {wecom_id})
        elif parent in known:
            prefix = known[parent][1]
        else:
            prefix = "/"
        paths[wecom_id] = f"{prefix}{wecom_id}/"
        return paths[wecom_id]

    for wecom_id in rows:
        path_of(wecom_id)
    return paths


@transaction.atomic
def departments_apply(
    *, departments: Iterable[dict], prune: bool = False, ctx: SyncContext | None = None
) -> dict[int, int]:
    """Upsert WeCom ``department/list`` rows by ``wecom_id`` with parents and materialized paths.

    Parents are written before their children, one bulk upsert per level of the tree. With
    ``prune`` (``departments`` is the whole visible tree) the departments WeCom no longer has are
    deleted, deepest first; WeCom only deletes empty departments, so nothing of value goes with
    them. Returns wecom_id → pk of the rows written.
    """
    rows = {int(d["id"]): d for d in departments}
    parent_ids = {int(d.get("parentid") or 0) for d in rows.values()}
    known = {
        wecom_id: (pk, path)
        for wecom_id, pk, path in Department.objects.filter(wecom_id__in=set(rows) | parent_ids).values_list(
            "wecom_id", "pk", "path"
        )
    }
    current = {
        d["wecom_id"]: d
        for d in Department.objects.filter(wecom_id__in=rows).values(
            "wecom_id", "name", "order", "path", "parent_id"
        )
    }
    # The whole tree (prune) knows every parent; a subtree's top hangs under a parent we hold.
    # A parent outside the whole tree is out of the app's range, and its children become roots.
    outside = {} if prune else {k: v for k, v in known.items() if k not in rows}
    paths = _paths(rows, outside)
    pks = {wecom_id: pk for wecom_id, (pk, _) in known.items()}
    levels: dict[int, list[int]] = {}
    for wecom_id, path in paths.items():
        levels.setdefault(path.count("/"), []).append(wecom_id)
    for depth in sorted(levels):
        changed = []
        for wecom_id in levels[depth]:
            data = rows[wecom_id]
            parent = int(data.get("parentid") or 0)
            parent_pk = pks.get(parent) if parent in rows or parent in outside else None
            values = {
                "name": str(data.get("name") or "")[:64],
                "order": int(data.get("order") or 0),
                "path": paths[wecom_id],
                "parent_id": parent_pk,
            }
            old = current.get(wecom_id)
            if old is None or any(old[k] != v for k, v in values.items()):
                changed.append(Department(wecom_id=wecom_id, **values))
                _count(ctx, "departments created" if old is None else "departments updated", 1)
        if changed:
            Department.objects.bulk_create(
                changed,
                update_conflicts=True,
                unique_fields=["wecom_id"],
                update_fields=["name", "order", "path", "parent", "updated_at"],
            )
            pks.update(
                Department.objects.filter(wecom_id__in=[d.wecom_id for d in changed]).values_list(
                    "wecom_id", "pk"
                )
            )
    if prune:
        gone = list(Department.objects.exclude(wecom_id__in=rows).values_list("pk", "path"))
        for pk, _ in sorted(gone, key=lambda item: -item[1].count("/")):
            Department.objects.filter(pk=pk).delete()
        _count(ctx, "departments deleted", len(gone))
    return {wecom_id: pks[wecom_id] for wecom_id in rows if wecom_id in pks}


def department_delete(*, wecom_id: int) -> bool:
    """Delete a department WeCom deleted; one that still has sub-departments here is kept."""
    department = Department.objects.filter(wecom_id=wecom_id).first()
    if department is None:
        return False
    if department.children.exists():
        logger.warning("department %s deleted in WeCom still has sub-departments here; kept", wecom_id)
        return False
    department.delete()
    return True


# --- staff ----------------------------------------------------------------------------------------


def _int_list(value: object) -> list[int]:
    return [int(v) for v in value] if isinstance(value, list) else []


def _staff_values(
    data: dict, *, departments: dict[int, int], contact_enabled: bool, old: dict | None
) -> dict:
    status = STAFF_STATUS.get(int(data.get("status") or 1), Staff.Status.ACTIVE)
    departed_at = None
    if status == Staff.Status.DEPARTED:
        departed_at = (old or {}).get("departed_at") or timezone.now()
    main = int(data.get("main_department") or 0) or next(iter(_int_list(data.get("department"))), 0)
    return {
        "name": str(data.get("name") or data["userid"])[:64],
        "position": str(data.get("position") or "")[:128],
        "gender": int(data["gender"]) if str(data.get("gender")) in ("0", "1", "2") else 0,
        "avatar": str(data.get("avatar") or "")[:512],
        "status": status,
        "departed_at": departed_at,
        "main_department_id": departments.get(main),
        "contact_enabled": contact_enabled,
    }


@transaction.atomic
def staff_apply(
    *,
    members: Sequence[dict],
    contact_enabled: set[str] | None = None,
    ctx: SyncContext | None = None,
    trigger: str = "sync",
) -> dict[str, int]:
    """Upsert members as ``user/get`` returns them, with their department memberships.

    ``contact_enabled`` holds the userids with customer contact; None keeps what we hold (true
    for a member new to us). Only rows whose values changed are written. Returns userid → pk.
    A member WeCom now says has quit (status 5) departs through :func:`staff_depart`, so that the
    departure is recorded once whatever else reports it (``trigger`` says who noticed).
    """
    if not members:
        return {}
    userids = [m["userid"] for m in members]
    old_rows = {
        row["userid"]: row
        for row in Staff.objects.filter(userid__in=userids).values("pk", "userid", *STAFF_FIELDS)
    }
    wanted_departments = {d for m in members for d in _int_list(m.get("department"))}
    wanted_departments |= {int(m.get("main_department") or 0) for m in members}
    departments = dict(
        Department.objects.filter(wecom_id__in=wanted_departments).values_list("wecom_id", "pk")
    )
    changed = []
    leaving: list[str] = []
    for data in members:
        old = old_rows.get(data["userid"])
        enabled = (
            data["userid"] in contact_enabled
            if contact_enabled is not None
            else (old["contact_enabled"] if old else True)
        )
        values = _staff_values(data, departments=departments, contact_enabled=enabled, old=old)
        was_departed = old is not None and old["status"] == Staff.Status.DEPARTED
        if values["status"] == Staff.Status.DEPARTED and not was_departed:
            # Written as it was (new: active) here; staff_depart below records the departure.
            values["status"] = old["status"] if old else Staff.Status.ACTIVE
            values["departed_at"] = old["departed_at"] if old else None
            leaving.append(data["userid"])
        if old is None or any(old[k] != v for k, v in values.items()):
            changed.append(Staff(userid=data["userid"], **values))
            _count(ctx, "staff created" if old is None else "staff updated", 1)
    if changed:
        Staff.objects.bulk_create(
            changed,
            update_conflicts=True,
            unique_fields=["userid"],
            update_fields=[f.removesuffix("_id") for f in STAFF_FIELDS] + ["updated_at"],
        )
    if leaving:
        staff_depart(userids=leaving, ctx=ctx, trigger=trigger)
    pks = dict(Staff.objects.filter(userid__in=userids).values_list("userid", "pk"))
    _memberships_apply(members=members, staff_pks=pks, departments=departments)
    return pks


def _memberships_apply(
    *, members: Sequence[dict], staff_pks: dict[str, int], departments: dict[int, int]
) -> None:
    """Make the department memberships of these staff what WeCom says, in bulk."""
    wanted: dict[tuple[int, int], tuple[int, bool]] = {}
    for data in members:
        leaders = _int_list(data.get("is_leader_in_dept"))
        orders = _int_list(data.get("order"))
        for i, wecom_id in enumerate(_int_list(data.get("department"))):
            if wecom_id in departments:
                order = orders[i] if i < len(orders) else 0
                leader = bool(leaders[i]) if i < len(leaders) else False
                wanted[(staff_pks[data["userid"]], departments[wecom_id])] = (order, leader)
    held = {
        (staff_id, department_id): (pk, order, leader)
        for pk, staff_id, department_id, order, leader in StaffDepartment.objects.filter(
            staff_id__in=staff_pks.values()
        ).values_list("pk", "staff_id", "department_id", "order", "is_leader")
    }
    stale = [pk for pair, (pk, *_) in held.items() if pair not in wanted]
    if stale:
        StaffDepartment.objects.filter(pk__in=stale).delete()
    changed = [
        StaffDepartment(staff_id=staff_id, department_id=department_id, order=order, is_leader=leader)
        for (staff_id, department_id), (order, leader) in wanted.items()
        if held.get((staff_id, department_id), (None, None, None))[1:] != (order, leader)
    ]
    if changed:
        StaffDepartment.objects.bulk_create(
            changed,
            update_conflicts=True,
            unique_fields=["staff", "department"],
            update_fields=["order", "is_leader"],
        )


def staff_depart(
    *,
    userids: Iterable[str],
    at: datetime | None = None,
    ctx: SyncContext | None = None,
    trigger: str = "sync",
) -> int:
    """Mark these staff departed (never deleted: their customers await reassignment).

    Only members not departed yet change, under a row lock, so a callback, a sync and WeCom's
    unassigned list reporting the same departure record it once: ``departed_at`` keeps the first
    time, one ``staff.departed`` audit entry is written, and ``staff_departed`` is sent after
    commit with ``trigger`` ("callback", "sync" or "unassigned"). Returns how many departed.
    """
    at = at or timezone.now()
    ids = list(dict.fromkeys(userids))
    departed: list[int] = []
    with transaction.atomic():
        for start in range(0, len(ids), 1000):
            pks = list(
                Staff.objects.select_for_update()
                .filter(userid__in=ids[start : start + 1000])
                .exclude(status=Staff.Status.DEPARTED)
                .values_list("pk", flat=True)
            )
            if pks:
                Staff.objects.filter(pk__in=pks).update(
                    status=Staff.Status.DEPARTED, departed_at=at, updated_at=timezone.now()
                )
                departed += pks
        _departures_record(staff_ids=departed, trigger=trigger)
    _count(ctx, "staff departed", len(departed))
    return len(departed)


def _departures_record(*, staff_ids: list[int], trigger: str) -> None:
    """The audit entry of each departure, and ``staff_departed`` once the transaction commits."""
    if not staff_ids:
        return
    for staff in Staff.objects.filter(pk__in=staff_ids).order_by("pk"):
        audit_record(
            "staff.departed",
            target=staff,
            at=staff.departed_at,
            key=f"staff.departed:{staff.pk}:{int(staff.departed_at.timestamp())}",
            details={"trigger": trigger, "userid": staff.userid},
        )
    transaction.on_commit(
        lambda: staff_departed.send(sender=Staff, staff_ids=list(staff_ids), trigger=trigger)
    )


def member_fetch(ctx: SyncContext, userid: str) -> dict | None:
    """``user/get`` of one member, or None when WeCom no longer has them (60111)."""
    try:
        return ctx.call(ctx.client.user_get, userid)
    except errors.UserNotFound:
        return None


# --- the step -------------------------------------------------------------------------------------


def _directory_userids(ctx: SyncContext) -> list[str] | None:
    """Every member's userid through ``user/list_id`` when the contact-sync secret is configured."""
    secret = getattr(settings, "WECOM_CONTACT_SYNC_SECRET", "")
    if not secret:
        return None
    directory = WecomClient(
        ctx.client.corp_id, secret, base_url=ctx.client.base_url, timeout=settings.WECOM_HTTP_TIMEOUT
    )
    try:
        userids: dict[str, None] = {}
        cursor = ""
        while True:
            page = ctx.call(directory.user_list_id, cursor=cursor)
            for row in page.get("dept_user") or []:
                userids.setdefault(row["userid"], None)
            cursor = page.get("next_cursor") or ""
            if not cursor:
                return list(userids)
    finally:
        directory.close()


def org_sync(ctx: SyncContext) -> None:
    """The ``org`` sync step: departments, then members, then the departures."""
    departments = ctx.call(ctx.client.department_list)
    ctx.progress(STEP, 0, None)
    departments_apply(departments=departments, prune=True, ctx=ctx)

    with_contact = ctx.call(ctx.client.get_follow_user_list)
    contact_enabled = set(with_contact)
    listed = _directory_userids(ctx)
    full_list = listed is not None
    listed = listed if full_list else with_contact
    held = dict(Staff.objects.values_list("userid", "status"))
    if ctx.mode == "full":
        to_fetch = list(listed)
    else:
        to_fetch = [u for u in listed if held.get(u, Staff.Status.DEPARTED) == Staff.Status.DEPARTED]
        # What a listing tells without details: the customer-contact flag of the members we hold.
        for enabled in (True, False):
            userids = [u for u in listed if u in held and (u in contact_enabled) is enabled]
            for start in range(0, len(userids), 1000):
                Staff.objects.filter(userid__in=userids[start : start + 1000]).exclude(
                    contact_enabled=enabled
                ).update(contact_enabled=enabled)
    listed_set = set(listed)
    missing = [u for u, status in held.items() if status != Staff.Status.DEPARTED and u not in listed_set]
    if not full_list:
        # Without the full member list, a member missing from the customer-contact list may only
        # have lost that feature: ask for them before calling them departed.
        to_fetch += missing
    total = len(to_fetch)
    done = 0
    gone: list[str] = [] if not full_list else missing
    ctx.progress(STEP, done, total)
    for start in range(0, total, BATCH):
        batch = []
        for userid in to_fetch[start : start + BATCH]:
            data = member_fetch(ctx, userid)
            if data is None:
                gone.append(userid)
            else:
                batch.append(data)
            done += 1
            ctx.progress(STEP, done, total)
        staff_apply(members=batch, contact_enabled=contact_enabled, ctx=ctx)
    staff_depart(userids=gone, ctx=ctx)
    ctx.progress(STEP, done, total)
