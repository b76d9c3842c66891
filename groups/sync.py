"""Sync of customer group chats and their members from WeCom (WECOM.md §6.1, §6.2).

The sync step ``groups`` (after the org and the customers, ``ORDER_GROUPS``) and the
``change_external_chat`` handlers write through :func:`chats_apply`, which compares what WeCom
returned with what we hold and writes only the differences, in bulk: new members, members back
after leaving, members gone (kept, marked ``left_at``), and a timeline event for each customer
who joined or left.

Listing: ``groupchat/list`` is always called with an owner filter of at most 100 owners (without
one, a corp whose visible range has more than 1,000 members gets 81017), 1,000 chats a page,
following the cursor. A ``full`` run fetches every chat with ``groupchat/get`` (the list carries no
member version, so only a fetch can tell what changed); an ``incremental`` run fetches only the
chats that are new to us or whose inheritance status changed. Both mark the chats WeCom no longer
lists as dismissed.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Exists, OuterRef, Subquery
from django.utils import timezone

from customers.models import Customer, CustomerEvent
from scrm.org.models import Staff
from scrm.wecom import errors
from scrm.wecom.sync import SyncContext

from .models import GroupChat, GroupMember

STEP = "groups"
OWNERS_PER_LIST = 100
LIST_LIMIT = 1000
#: Chats fetched with ``groupchat/get`` and then written together: tens of thousands of member
#: rows per write at most (a customer group holds up to about 500 people), a few statements per
#: 200 chats.
BATCH = 200

#: ``groupchat/list`` status: 0 normal, 1 owner departed (awaiting inheritance), 2 inheritance in
#: progress, 3 inherited.
LIST_STATUS = {
    0: GroupChat.Status.NORMAL,
    1: GroupChat.Status.OWNER_DEPARTED,
    2: GroupChat.Status.TRANSFERRING,
    3: GroupChat.Status.TRANSFERRED,
}
CHAT_FIELDS = (
    "name",
    "owner_userid",
    "owner_id",
    "admin_userids",
    "notice",
    "created_at",
    "status",
    "member_count",
    "member_version",
    "dismissed_at",
)
MEMBER_FIELDS = (
    "kind",
    "customer_id",
    "staff_id",
    "unionid",
    "name",
    "group_nickname",
    "joined_at",
    "join_scene",
    "inviter_userid",
    "state",
    "left_at",
    "quit_scene",
)


#: Known ``join_scene`` codes, looked up once per member.
JOIN_SCENES = frozenset(GroupMember.JoinScene.values)


def _time(value: object) -> datetime | None:
    try:
        seconds = int(value)  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return None
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds > 0 else None


def _count(ctx: SyncContext | None, what: str, n: int) -> None:
    if ctx is not None and n:
        ctx.count(STEP, what, n)


def _chat_status(old: dict | None, listed_status: int | None) -> str:
    if listed_status is not None:
        return LIST_STATUS.get(int(listed_status), GroupChat.Status.NORMAL)
    if old is None or old["status"] == GroupChat.Status.DISMISSED:
        return GroupChat.Status.NORMAL  # a chat WeCom returns is not dismissed
    return old["status"]


def _member_values(member: dict, *, customers: dict[str, int], staff: dict[str, int]) -> dict:
    member_id = member["userid"]
    kind = GroupMember.Kind.STAFF if int(member.get("type") or 2) == 1 else GroupMember.Kind.CUSTOMER
    join_scene = int(member.get("join_scene") or 0)
    return {
        "kind": kind,
        "customer_id": customers.get(member_id) if kind == GroupMember.Kind.CUSTOMER else None,
        "staff_id": staff.get(member_id) if kind == GroupMember.Kind.STAFF else None,
        "unionid": str(member.get("unionid") or "")[:64],
        "name": str(member.get("name") or "")[:128],
        "group_nickname": str(member.get("group_nickname") or "")[:128],
        "joined_at": _time(member.get("join_time")),
        "join_scene": join_scene if join_scene in JOIN_SCENES else 0,
        "inviter_userid": str((member.get("invitor") or {}).get("userid") or "")[:64],
        "state": str(member.get("state") or "")[:64],
        "left_at": None,
        "quit_scene": None,
    }


#: Fewer rows than this (a callback's chat) go by plain ``INSERT``: a staging table's create and
#: drop would cost more than they save.
COPY_MIN_ROWS = 200
#: Text-format ``COPY`` escapes (backslash first).
COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


def _copy_texts(texts: list[str | None]) -> list[str]:
    """Text values escaped for ``COPY``; a column without any character to escape (nearly every
    one) is checked once as a whole instead of value by value."""
    whole = "".join(t for t in texts if t is not None)
    if any(c in whole for c in "\\\t\n\r"):
        return ["\\N" if t is None else t.translate(COPY_ESCAPES) for t in texts]
    return ["\\N" if t is None else t for t in texts]


def _copy_column(field: models.Field, values: list[Any]) -> list[str]:
    """One column's values in ``COPY``'s text format (a column at a time: one type test per column)."""
    if isinstance(field, models.JSONField):
        return _copy_texts([json.dumps(v, ensure_ascii=False) for v in values])
    if isinstance(field, models.CharField | models.TextField):
        return _copy_texts([None if v is None else str(v) for v in values])
    if isinstance(field, models.DateTimeField):
        return ["\\N" if v is None else v.isoformat() for v in values]
    if isinstance(field, models.BooleanField):
        return ["\\N" if v is None else "t" if v else "f" for v in values]
    return ["\\N" if v is None else str(v) for v in values]  # numbers and keys


def _rows_write(
    model: type[models.Model],
    rows: list[dict[str, Any]],
    *,
    unique: Sequence[str] = (),
    update: Sequence[str] = (),
) -> None:
    """Insert ``rows`` (dicts keyed by field attname); rows clashing on ``unique`` update ``update``.

    On PostgreSQL, from ``COPY_MIN_ROWS`` rows on, the rows go by ``COPY``: straight into the
    table when nothing can clash, else into a temporary table first and on with one ``INSERT …
    SELECT … ON CONFLICT``. No model instance, no ORM preparation and no SQL literal per value:
    those took most of the time of a first sync (tens of thousands of members and timeline events
    per thousand chats), and ``COPY`` halves what an ``INSERT`` of the same rows as parameters
    costs. Fewer rows, and other databases, use ``bulk_create``. Fields a row leaves out get their
    default (``auto_now`` ones the current time), as ``bulk_create`` would give them.
    """
    if not rows:
        return
    meta = model._meta
    if connection.vendor != "postgresql" or len(rows) < COPY_MIN_ROWS:
        objs = [model(**row) for row in rows]
        if update:
            model.objects.bulk_create(
                objs,
                update_conflicts=True,
                unique_fields=list(unique),
                update_fields=[meta.get_field(name).name for name in update],
                batch_size=1000,
            )
        else:
            model.objects.bulk_create(objs, batch_size=1000)
        return
    now = timezone.now()
    fields = [f for f in meta.concrete_fields if not f.primary_key]
    converted = []
    for f in fields:
        if getattr(f, "auto_now", False) or getattr(f, "auto_now_add", False):
            values = [row.get(f.attname) or now for row in rows]
        elif f.attname in rows[0]:
            values = [row[f.attname] for row in rows]
        else:
            values = [f.get_default()] * len(rows)
        converted.append(_copy_column(f, values))
    data = io.StringIO("".join(f"{line}\n" for line in map("\t".join, zip(*converted, strict=True))))
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    columns = ", ".join(quote(f.column) for f in fields)
    with connection.cursor() as cursor:
        if not unique:
            cursor.cursor.copy_expert(f"COPY {table} ({columns}) FROM STDIN", data, size=1 << 20)
            return
        # Created and dropped inside the caller's transaction: an error rolls it back with the rest.
        staging = quote(f"{meta.db_table}_staging")
        cursor.execute(f"CREATE TEMPORARY TABLE {staging} AS SELECT {columns} FROM {table} WITH NO DATA")
        cursor.cursor.copy_expert(f"COPY {staging} ({columns}) FROM STDIN", data, size=1 << 20)
        conflict = ", ".join(quote(meta.get_field(name).column) for name in unique)
        if update:
            targets = (quote(meta.get_field(name).column) for name in update)
            action = "UPDATE SET " + ", ".join(f"{c} = EXCLUDED.{c}" for c in targets)
        else:
            action = "NOTHING"
        cursor.execute(
            f"INSERT INTO {table} ({columns}) SELECT {columns} FROM {staging} "
            f"ON CONFLICT ({conflict}) DO {action}"
        )
        cursor.execute(f"DROP TABLE {staging}")


@transaction.atomic
def chats_apply(
    *,
    chats: Sequence[dict],
    statuses: dict[str, int] | None = None,
    source: str = CustomerEvent.Source.SYNC,
    quit_scene: int | None = None,
    at: datetime | None = None,
    ctx: SyncContext | None = None,
) -> None:
    """Make our rows match ``groupchat/get`` results: the chats, then their members.

    ``statuses`` carries the inheritance status of each chat from ``groupchat/list`` (the sync);
    without it a chat keeps its status. ``quit_scene`` and ``at`` describe the members who left
    (a ``del_member`` callback says how and when; a sync only notices that they are gone).
    Writes only what differs, so applying the same data twice changes nothing.
    """
    if not chats:
        return
    at = at or timezone.now()
    statuses = statuses or {}
    chat_ids = [c["chat_id"] for c in chats]
    old_chats = {
        row["chat_id"]: row
        for row in GroupChat.objects.filter(chat_id__in=chat_ids).values("pk", "chat_id", *CHAT_FIELDS)
    }
    members_of = {c["chat_id"]: [m for m in c.get("member_list") or [] if m.get("userid")] for c in chats}
    staff_ids = {c.get("owner") or "" for c in chats} | {
        m["userid"] for ms in members_of.values() for m in ms if int(m.get("type") or 2) == 1
    }
    external_ids = {m["userid"] for ms in members_of.values() for m in ms if int(m.get("type") or 2) != 1}
    staff = dict(Staff.objects.filter(userid__in=staff_ids).values_list("userid", "pk"))
    customers = dict(
        Customer.objects.filter(external_userid__in=external_ids).values_list("external_userid", "pk")
    )

    changed: list[dict[str, Any]] = []
    for chat in chats:
        old = old_chats.get(chat["chat_id"])
        owner = str(chat.get("owner") or "")
        values = {
            "name": str(chat.get("name") or "")[:128],
            "owner_userid": owner[:64],
            "owner_id": staff.get(owner),
            "admin_userids": [a["userid"] for a in chat.get("admin_list") or [] if a.get("userid")],
            "notice": str(chat.get("notice") or ""),
            "created_at": _time(chat.get("create_time")),
            "status": _chat_status(old, statuses.get(chat["chat_id"])),
            "member_count": len(members_of[chat["chat_id"]]),
            "member_version": str(chat.get("member_version") or "")[:64],
            "dismissed_at": None,
        }
        if old is None or any(old[k] != v for k, v in values.items()):
            changed.append({"chat_id": chat["chat_id"], **values})
            _count(ctx, "chats created" if old is None else "chats updated", 1)
    _rows_write(GroupChat, changed, unique=["chat_id"], update=[*CHAT_FIELDS, "synced_at"])
    groups = {
        row["chat_id"]: row
        for row in GroupChat.objects.filter(chat_id__in=chat_ids).values("pk", "chat_id", "name", "owner_id")
    }
    _members_apply(
        members_of=members_of,
        groups=groups,
        customers=customers,
        staff=staff,
        source=source,
        quit_scene=quit_scene,
        at=at,
        ctx=ctx,
    )


def _members_apply(
    *,
    members_of: dict[str, list[dict]],
    groups: dict[str, dict],
    customers: dict[str, int],
    staff: dict[str, int],
    source: str,
    quit_scene: int | None,
    at: datetime,
    ctx: SyncContext | None,
) -> None:
    group_pks = [g["pk"] for g in groups.values()]
    held: dict[tuple[int, str], dict] = {
        (row["group_id"], row["member_id"]): row
        for row in GroupMember.objects.filter(group_id__in=group_pks).values(
            "pk", "group_id", "member_id", *MEMBER_FIELDS
        )
    }
    held_by_group: dict[int, dict[str, dict]] = {}
    for (group_pk, member_id), row in held.items():
        held_by_group.setdefault(group_pk, {})[member_id] = row
    upserts: list[dict[str, Any]] = []
    left: list[int] = []
    events: list[dict[str, Any]] = []
    joined = updated = 0

    def timeline(kind: str, group: dict, customer_id: int | None, when: datetime | None, scene) -> None:
        if customer_id is None:
            return  # a WeChat user who is nobody's customer has no timeline
        events.append(
            {
                "customer_id": customer_id,
                "type": kind,
                "occurred_at": when or at,
                "staff_id": group["owner_id"],
                "source": source,
                "payload": {"chat_id": group["chat_id"], "chat_name": group["name"], "scene": scene},
            }
        )

    for chat_id, members in members_of.items():
        group = groups[chat_id]
        present = set()
        for member in members:
            present.add(member["userid"])
            values = _member_values(member, customers=customers, staff=staff)
            old = held.get((group["pk"], member["userid"]))
            if old is not None and all(old[k] == v for k, v in values.items()):
                continue
            upserts.append({"group_id": group["pk"], "member_id": member["userid"], **values})
            if old is None or old["left_at"] is not None:
                joined += 1
                timeline(
                    CustomerEvent.Type.JOINED_GROUP,
                    group,
                    values["customer_id"],
                    values["joined_at"],
                    values["join_scene"],
                )
            else:
                updated += 1
        for member_id, old in held_by_group.get(group["pk"], {}).items():
            if member_id not in present and old["left_at"] is None:
                left.append(old["pk"])
                timeline(CustomerEvent.Type.LEFT_GROUP, group, old["customer_id"], at, quit_scene)
    _count(ctx, "members joined", joined)
    _count(ctx, "members updated", updated)
    _rows_write(GroupMember, upserts, unique=["group", "member_id"], update=MEMBER_FIELDS)
    for start in range(0, len(left), 1000):
        GroupMember.objects.filter(pk__in=left[start : start + 1000]).update(
            left_at=at, quit_scene=quit_scene
        )
    _count(ctx, "members left", len(left))
    _rows_write(CustomerEvent, events)
    _count(ctx, "timeline events", len(events))


def chats_dismiss(
    *, chat_ids: Iterable[str], at: datetime | None = None, ctx: SyncContext | None = None
) -> int:
    """Mark chats dismissed (kept with their members, for history and statistics)."""
    at = at or timezone.now()
    ids = list(chat_ids)
    dismissed = 0
    for start in range(0, len(ids), 1000):
        dismissed += (
            GroupChat.objects.filter(chat_id__in=ids[start : start + 1000])
            .exclude(status=GroupChat.Status.DISMISSED)
            .update(status=GroupChat.Status.DISMISSED, dismissed_at=at, synced_at=timezone.now())
        )
    _count(ctx, "chats dismissed", dismissed)
    return dismissed


def members_link() -> int:
    """Link members to the customers and staff that arrived after them, in two statements.

    A WeChat user may be in a group before they are anyone's customer; when they become one,
    their membership rows get the link here instead of waiting for the group to change.
    """
    customers = Customer.objects.filter(external_userid=OuterRef("member_id"))
    linked = (
        GroupMember.objects.filter(kind=GroupMember.Kind.CUSTOMER, customer__isnull=True)
        .filter(Exists(customers))
        .update(customer=Subquery(customers.values("pk")[:1]))
    )
    staff = Staff.objects.filter(userid=OuterRef("member_id"))
    linked += (
        GroupMember.objects.filter(kind=GroupMember.Kind.STAFF, staff__isnull=True)
        .filter(Exists(staff))
        .update(staff=Subquery(staff.values("pk")[:1]))
    )
    return linked


def chat_fetch(client, chat_id: str, *, call=None) -> dict | None:
    """``groupchat/get`` with names, or None when WeCom no longer has the chat (dismissed)."""
    try:
        if call is not None:
            return call(client.groupchat_get, chat_id, need_name=True)
        return client.groupchat_get(chat_id, need_name=True)
    except errors.NotFound:
        return None


def _listed_chats(ctx: SyncContext) -> dict[str, int]:
    """chat_id → status of every chat WeCom lists, by owners in chunks of 100."""
    owners = set(Staff.objects.values_list("userid", flat=True))
    owners |= set(
        GroupChat.objects.exclude(status=GroupChat.Status.DISMISSED)
        .exclude(owner_userid="")
        .values_list("owner_userid", flat=True)
        .distinct()
    )
    ordered = sorted(owners)
    listed: dict[str, int] = {}
    for start in range(0, len(ordered), OWNERS_PER_LIST):
        chunk = ordered[start : start + OWNERS_PER_LIST]
        cursor = ""
        while True:
            page = ctx.call(ctx.client.groupchat_list, limit=LIST_LIMIT, cursor=cursor, owner_userids=chunk)
            for item in page.get("group_chat_list") or []:
                listed[item["chat_id"]] = int(item.get("status") or 0)
            cursor = page.get("next_cursor") or ""
            if not cursor:
                break
        ctx.progress(STEP, 0, None)
    return listed


def groups_sync(ctx: SyncContext) -> None:
    """The ``groups`` sync step."""
    listed = _listed_chats(ctx)
    held = dict(GroupChat.objects.values_list("chat_id", "status"))
    if ctx.mode == "full":
        to_fetch = list(listed)
    else:
        to_fetch = [c for c, status in listed.items() if held.get(c) != LIST_STATUS.get(status)]
    total, done = len(to_fetch), 0
    gone = [c for c, status in held.items() if status != GroupChat.Status.DISMISSED and c not in listed]
    ctx.progress(STEP, done, total)
    for start in range(0, total, BATCH):
        fetched = []
        for chat_id in to_fetch[start : start + BATCH]:
            chat = chat_fetch(ctx.client, chat_id, call=ctx.call)
            if chat is None:
                gone.append(chat_id)
            else:
                fetched.append(chat)
            done += 1
            ctx.progress(STEP, done, total)
        chats_apply(chats=fetched, statuses={c["chat_id"]: listed[c["chat_id"]] for c in fetched}, ctx=ctx)
    chats_dismiss(chat_ids=gone, ctx=ctx)
    _count(ctx, "members linked", members_link())
