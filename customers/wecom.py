"""Applying what WeCom says about customers, follows and corp tags to our tables.

One mapping from WeCom's JSON (WECOM.md §3, §4) to ``Customer`` / ``Follow`` / ``FollowTag`` /
``PersonalTag`` / ``TagGroup`` / ``Tag``, shared by the callback handlers (one customer fetched
with ``externalcontact/get``) and the sync step (thousands of ``batch/get_by_user`` rows at once).
Everything here works in bulk: a call costs a fixed handful of queries whatever the number of
rows, and writes only the rows whose content differs, so applying the same data twice changes
nothing (no write, no timeline event).

The functions return what changed (follows begun, tags added and removed, profile fields edited);
the callers decide which timeline events that is worth, since a callback and a reconciliation
tell different stories about the same change.
"""

from __future__ import annotations

import json
import logging
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

from django.db import connection, models, transaction
from django.db.models import Q
from django.utils import timezone

from scrm.org.models import Staff
from scrm.wecom.errors import NotFound, UserNotFound

from .models import (
    Customer,
    CustomerEvent,
    Follow,
    FollowPersonalTag,
    FollowTag,
    LifecycleStage,
    PersonalTag,
    Tag,
    TagGroup,
)
from .services import _chunks, customer_tag_ids_refresh, tag_names_invalidate

logger = logging.getLogger(__name__)

Json = dict[str, Any]

#: Customer fields WeCom owns (``externalcontact/get`` → ``external_contact``).
CUSTOMER_FIELDS = ("name", "avatar", "type", "gender", "unionid", "corp_name", "corp_full_name", "position")
#: Follow fields WeCom owns (``follow_user`` / ``follow_info``).
FOLLOW_FIELDS = (
    "added_at",
    "add_way",
    "state",
    "remark",
    "description",
    "remark_corp_name",
    "remark_mobiles",
    "oper_userid",
)
#: The follow fields a staff member edits in the client; a change is a "profile updated" event.
PROFILE_FIELDS = ("remark", "description", "remark_corp_name", "remark_mobiles")
#: A callback's ``CreateTime`` and the follow's ``createtime`` are stamped by different clocks.
ADD_EVENT_SLACK = timedelta(minutes=5)
#: Timeline events that end a relationship.
ENDING_EVENTS = (
    CustomerEvent.Type.DELETED_BY_STAFF,
    CustomerEvent.Type.DELETED_BY_CUSTOMER,
    CustomerEvent.Type.TRANSFERRED,
    CustomerEvent.Type.FOLLOW_GONE,
)


def wecom_time(value: Any) -> datetime:
    """A WeCom unix timestamp as an aware datetime; missing or zero means now."""
    try:
        seconds = int(value or 0)
    except (TypeError, ValueError):
        seconds = 0
    return datetime.fromtimestamp(seconds, tz=UTC) if seconds > 0 else timezone.now()


@cache
def _max_length(model, name: str) -> int | None:
    return model._meta.get_field(name).max_length


def _text(value: Any, model, name: str) -> str:
    """A string clipped to the column, so that an over-long value from WeCom is never a DataError."""
    text = "" if value is None else str(value)
    return text[: _max_length(model, name)]


def _int(value: Any, default: int = 0) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return default


def customer_fields(contact: Json) -> dict[str, Any]:
    """``external_contact`` → Customer fields (everything except the id and ``first_added_at``)."""
    kind = _int(contact.get("type"), Customer.Type.WECHAT)
    return {
        "name": _text(contact.get("name"), Customer, "name"),
        "avatar": _text(contact.get("avatar"), Customer, "avatar"),
        "type": kind if kind in Customer.Type.values else Customer.Type.WECHAT,
        "gender": _int(contact.get("gender")) if _int(contact.get("gender")) in (0, 1, 2) else 0,
        "unionid": _text(contact.get("unionid"), Customer, "unionid"),
        "corp_name": _text(contact.get("corp_name"), Customer, "corp_name"),
        "corp_full_name": _text(contact.get("corp_full_name"), Customer, "corp_full_name"),
        "position": _text(contact.get("position"), Customer, "position"),
    }


def follow_fields(info: Json) -> dict[str, Any]:
    """``follow_user`` / ``follow_info`` → Follow fields WeCom owns."""
    mobiles = info.get("remark_mobiles") or []
    return {
        "added_at": wecom_time(info.get("createtime")),
        "add_way": _int(info.get("add_way")),  # newer codes are stored as they come (WECOM.md 3.7)
        "state": _text(info.get("state"), Follow, "state"),
        "remark": _text(info.get("remark"), Follow, "remark"),
        "description": _text(info.get("description"), Follow, "description"),
        "remark_corp_name": _text(info.get("remark_corp_name"), Follow, "remark_corp_name"),
        "remark_mobiles": [str(m) for m in mobiles] if isinstance(mobiles, list) else [],
        "oper_userid": _text(info.get("oper_userid"), Follow, "oper_userid"),
    }


# --- Staff ----------------------------------------------------------------------------------------


def staff_fields(user: Json) -> dict[str, Any]:
    """``user/get`` → the Staff fields needed to hang follows on; the org sync fills in the rest."""
    status = _int(user.get("status"), 1)
    fields: dict[str, Any] = {
        "userid": user["userid"],
        "name": _text(user.get("name") or user["userid"], Staff, "name"),
        "position": _text(user.get("position"), Staff, "position"),
        "gender": _int(user.get("gender")) if _int(user.get("gender")) in (0, 1, 2) else 0,
        "status": Staff.Status.ACTIVE,
    }
    if status == 2:
        fields["status"] = Staff.Status.DISABLED
    elif status == 5:
        fields.update(status=Staff.Status.DEPARTED, departed_at=timezone.now())
    return fields


def staff_ids_resolve(
    userids: Iterable[str], *, fetch: Callable[[str], Json | None] | None = None
) -> dict[str, int]:
    """Our Staff ids of these WeCom userids; unknown ones are fetched with ``fetch`` (``user/get``)
    and created when given, so a customer added to a member the org sync has not seen yet is not
    lost. Members WeCom does not know (60111, or ``fetch`` answering None) are left out."""
    wanted = {u for u in userids if u}
    found = dict(Staff.objects.filter(userid__in=wanted).values_list("userid", "id"))
    missing = sorted(wanted - found.keys())
    if missing and fetch is not None:
        new = []
        for userid in missing:
            try:
                user = fetch(userid)
            except UserNotFound:
                user = None
            if user is None:
                logger.warning("WeCom does not know the member %s; their follows are skipped", userid)
                continue
            new.append(Staff(**staff_fields(user)))
        Staff.objects.bulk_create(new, ignore_conflicts=True)  # the org sync may have raced us
        found.update(Staff.objects.filter(userid__in=missing).values_list("userid", "id"))
    return found


# --- Corp tags ------------------------------------------------------------------------------------


@dataclass
class TagsApplied:
    created: int = 0
    updated: int = 0
    deleted: int = 0


def _changed(obj, values: Mapping[str, Any]) -> bool:
    changed = False
    for name, value in values.items():
        if getattr(obj, name) != value:
            setattr(obj, name, value)
            changed = True
    return changed


@transaction.atomic
def tag_groups_apply(groups: Sequence[Json], *, prune: bool) -> TagsApplied:
    """Upsert the groups and tags of a ``get_corp_tag_list`` answer by WeCom id, in bulk.

    ``prune``: the answer is the whole list (no filter), so groups and tags we hold with a WeCom id
    that it lacks were deleted in WeCom and are marked deleted here. Answers to by-id queries carry
    ``deleted`` flags instead, which are applied either way. A local group or tag not yet pushed to
    WeCom (no WeCom id) with the same live name is adopted rather than duplicated.
    """
    done = TagsApplied()
    now = timezone.now()
    groups = [g for g in groups if g.get("group_id")]
    group_ids = {g["group_id"] for g in groups}
    tag_ids = {t["id"] for g in groups for t in g.get("tag") or () if t.get("id")}
    if prune:
        # Gone first, so that a live name freed in WeCom can be taken by a renamed group or tag.
        gone_groups = TagGroup.objects.filter(wecom_id__isnull=False, deleted=False).exclude(
            wecom_id__in=group_ids
        )
        gone_tags = Tag.objects.filter(wecom_id__isnull=False, deleted=False).exclude(wecom_id__in=tag_ids)
        done.deleted = tags_mark_deleted(
            tag_ids=list(gone_tags.values_list("pk", flat=True)),
            group_ids=list(gone_groups.values_list("pk", flat=True)),
        )
    known_groups = {g.wecom_id: g for g in TagGroup.objects.filter(wecom_id__in=group_ids)}
    local_groups = {g.name: g for g in TagGroup.objects.filter(wecom_id__isnull=True, deleted=False)}
    dead_groups: list[int] = []
    changed_groups: dict[int, TagGroup] = {}
    new_groups: list[TagGroup] = []
    group_of: dict[str, TagGroup] = {}
    for data in groups:
        values = {
            "name": _text(data.get("group_name"), TagGroup, "name"),
            "order": max(_int(data.get("order")), 0),
            "deleted": bool(data.get("deleted")),
        }
        group = known_groups.get(data["group_id"]) or local_groups.pop(values["name"], None)
        if group is None:
            group = TagGroup(wecom_id=data["group_id"], created_at=now, updated_at=now, **values)
            new_groups.append(group)
        else:
            adopted, was_deleted = group.wecom_id != data["group_id"], group.deleted
            group.wecom_id = data["group_id"]
            if _changed(group, values) or adopted:
                changed_groups[group.pk] = group
            if group.deleted and not was_deleted:
                dead_groups.append(group.pk)
        group_of[data["group_id"]] = group
    # Updates before inserts: a new group may take the name an existing one just gave up.
    for group in changed_groups.values():
        group.updated_at = now
    TagGroup.objects.bulk_update(
        changed_groups.values(), ["wecom_id", "name", "order", "deleted", "updated_at"]
    )
    TagGroup.objects.bulk_create(new_groups)
    if any(g.pk is None for g in new_groups):  # databases that cannot return ids
        ids = dict(TagGroup.objects.filter(wecom_id__in=group_ids).values_list("wecom_id", "id"))
        for group in new_groups:
            group.pk = group.id = ids[group.wecom_id]

    known_tags = {t.wecom_id: t for t in Tag.objects.filter(wecom_id__in=tag_ids)}
    local_tags = {
        (t.group_id, t.name): t
        for t in Tag.objects.filter(
            wecom_id__isnull=True, deleted=False, group_id__in=[g.pk for g in group_of.values()]
        )
    }
    dead_tags: list[int] = []
    changed_tags: list[Tag] = []
    new_tags: list[Tag] = []
    for data in groups:
        group = group_of[data["group_id"]]
        for item in data.get("tag") or ():
            if not item.get("id"):
                continue
            values = {
                "group_id": group.pk,
                "name": _text(item.get("name"), Tag, "name"),
                "order": max(_int(item.get("order")), 0),
                "deleted": group.deleted or bool(item.get("deleted")),
            }
            tag = known_tags.get(item["id"]) or local_tags.pop((group.pk, values["name"]), None)
            if tag is None:
                new_tags.append(Tag(wecom_id=item["id"], created_at=now, updated_at=now, **values))
                continue
            adopted, was_deleted = tag.wecom_id != item["id"], tag.deleted
            tag.wecom_id = item["id"]
            if _changed(tag, values) or adopted:
                changed_tags.append(tag)
            if tag.deleted and not was_deleted:
                dead_tags.append(tag.pk)
    for tag in changed_tags:
        tag.updated_at = now
    Tag.objects.bulk_update(changed_tags, ["wecom_id", "group_id", "name", "order", "deleted", "updated_at"])
    Tag.objects.bulk_create(new_tags)
    done.created = len(new_groups) + len(new_tags)
    done.updated = len(changed_groups) + len(changed_tags)
    done.deleted += tags_mark_deleted(tag_ids=dead_tags, group_ids=dead_groups)
    if done.created or done.updated or done.deleted:
        tag_names_invalidate()
    return done


def tags_mark_deleted(*, tag_ids: Sequence[int] = (), group_ids: Sequence[int] = ()) -> int:
    """Mark tags (and whole groups with their tags) deleted, as WeCom does, and take them off
    every follow and customer index; returns how many tags were live before."""
    if not tag_ids and not group_ids:
        return 0
    tags = Tag.objects.filter(Q(pk__in=list(tag_ids)) | Q(group_id__in=list(group_ids)))
    dead = list(tags.filter(deleted=False).values_list("pk", flat=True))
    now = timezone.now()
    if group_ids:
        TagGroup.objects.filter(pk__in=list(group_ids), deleted=False).update(deleted=True, updated_at=now)
    # Links to tags already marked deleted (the caller just flipped them) are dropped too.
    all_ids = sorted(set(dead) | set(tag_ids))
    if not all_ids:
        return 0
    Tag.objects.filter(pk__in=all_ids, deleted=False).update(deleted=True, updated_at=now)
    for chunk in _chunks(all_ids):
        links = FollowTag.objects.filter(tag_id__in=chunk)
        customer_ids = set(links.values_list("follow__customer_id", flat=True))
        links.delete()
        customer_tag_ids_refresh(customer_ids)
    tag_names_invalidate()
    return len(set(dead) | set(tag_ids))


def tag_map() -> dict[str, int]:
    """WeCom tag id → our Tag id, for the live tags (at most 3,000 per corp: WECOM.md §4)."""
    return dict(Tag.objects.filter(deleted=False, wecom_id__isnull=False).values_list("wecom_id", "id"))


def unknown_tag_ids(wecom_ids: Iterable[str], tags: Mapping[str, int]) -> list[str]:
    """The WeCom tag ids among ``wecom_ids`` that ``tags`` (see :func:`tag_map`) lacks."""
    return sorted({t for t in wecom_ids if t and t not in tags})


def tag_ids_ensure(
    wecom_ids: Iterable[str], tags: dict[str, int], *, fetch: Callable[[list[str]], list[Json]]
) -> None:
    """Fetch tags we do not know yet (created in WeCom after our last tag sync, callback missed)
    by id and add them to ``tags``; ids WeCom reports deleted stay unknown and are ignored."""
    unknown = unknown_tag_ids(wecom_ids, tags)
    if not unknown:
        return
    tag_groups_apply(fetch(unknown), prune=False)
    tags.update(Tag.objects.filter(wecom_id__in=unknown, deleted=False).values_list("wecom_id", "id"))


# --- Bulk upsert ----------------------------------------------------------------------------------

UPSERT_CHUNK = 5000


def _upsert(
    model, rows: list[dict[str, Any]], *, unique: Sequence[str], update: Sequence[str] = ()
) -> dict[tuple, tuple[int, bool]]:
    """``INSERT … ON CONFLICT (unique) DO UPDATE SET update`` (``DO NOTHING`` without ``update``).

    Returns ``{unique values: (id, inserted)}`` for the rows written. PostgreSQL gets one
    statement per few thousand rows built on ``unnest`` of column arrays: no model instance per
    row, which is what makes a million-customer sync fast. Other databases use ``bulk_create``.
    Every row carries the same keys, the auto-filled ones (``created_at``…) included.
    """
    if not rows:
        return {}
    if connection.vendor == "postgresql":
        found: dict[tuple, tuple[int, bool]] = {}
        for start in range(0, len(rows), UPSERT_CHUNK):
            found.update(_pg_upsert(model, rows[start : start + UPSERT_CHUNK], unique, update))
        return found
    keys = {tuple(row[u] for u in unique) for row in rows}
    before = _ids_of(model, unique, keys)
    objs = [model(**row) for row in rows]
    if update:
        model.objects.bulk_create(
            objs,
            update_conflicts=True,
            unique_fields=list(unique),
            update_fields=list(update),
            batch_size=1000,
        )
    else:
        model.objects.bulk_create(objs, ignore_conflicts=True, batch_size=1000)
    after = _ids_of(model, unique, keys)
    written = keys if update else keys - before.keys()
    return {key: (after[key], key not in before) for key in written if key in after}


def _ids_of(model, unique: Sequence[str], keys: set[tuple]) -> dict[tuple, int]:
    if len(unique) == 1:
        rows = model.objects.filter(**{f"{unique[0]}__in": [k[0] for k in keys]})
    else:
        rows = model.objects.filter(**{f"{u}__in": {k[i] for k in keys} for i, u in enumerate(unique)})
    return {tuple(r[:-1]): r[-1] for r in rows.values_list(*unique, "pk") if tuple(r[:-1]) in keys}


def _insert(model, rows: list[dict[str, Any]], *, conflict: Sequence[str] = ()) -> None:
    """Insert rows in bulk; with ``conflict``, rows clashing on those fields are skipped."""
    if not rows:
        return
    if connection.vendor == "postgresql":
        for start in range(0, len(rows), UPSERT_CHUNK):
            _pg_upsert(model, rows[start : start + UPSERT_CHUNK], conflict, (), returning=False)
        return
    model.objects.bulk_create(
        [model(**row) for row in rows], ignore_conflicts=bool(conflict), batch_size=1000
    )


def _pg_upsert(
    model, rows: list[dict[str, Any]], unique: Sequence[str], update: Sequence[str], returning=True
):
    meta, quote = model._meta, connection.ops.quote_name
    first = rows[0]
    # Columns equal on every row (defaults, timestamps) are sent once, not as arrays: unnest
    # cannot carry an array column (``tag_ids``) anyway.
    same = [name for name in first if all(row[name] == first[name] for row in rows)]
    varying = [name for name in first if name not in same]
    fields = [meta.get_field(name) for name in (*varying, *same)]
    arrays, unnest, values, constants = [], [], [], []
    for name in varying:
        fld = meta.get_field(name)
        if isinstance(fld, models.JSONField):
            arrays.append([json.dumps(row[name]) for row in rows])
            unnest.append("%s::jsonb[]")
        elif fld.db_type(connection).endswith("[]"):  # an array per row: sent as array literals
            arrays.append(["{" + ",".join(str(v) for v in row[name]) + "}" for row in rows])
            unnest.append("%s::text[]")
        else:
            arrays.append([row[name] for row in rows])
            unnest.append(f"%s::{fld.db_type(connection)}[]")
    for name in same:
        fld = meta.get_field(name)
        values.append(json.dumps(first[name]) if isinstance(fld, models.JSONField) else first[name])
        constants.append(f"%s::{'jsonb' if isinstance(fld, models.JSONField) else fld.db_type(connection)}")
    source = f"unnest({', '.join(unnest)})" if unnest else "(SELECT 1) AS one"
    selected = ", ".join(
        [f"u.{quote(n)}::{meta.get_field(n).db_type(connection)}" for n in varying] + constants
    )
    if unnest:
        source += f" AS u({', '.join(quote(n) for n in varying)})"
    unique_columns = [quote(meta.get_field(u).column) for u in unique]
    sql = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) "
        f"SELECT {selected} FROM {source}"
    )
    if update:
        columns = [quote(meta.get_field(u).column) for u in update]
        sql += f" ON CONFLICT ({', '.join(unique_columns)}) DO UPDATE SET "
        sql += ", ".join(f"{c} = EXCLUDED.{c}" for c in columns)
    elif unique:
        sql += f" ON CONFLICT ({', '.join(unique_columns)}) DO NOTHING"
    if returning:
        # xmax is 0 on a freshly inserted row version: tells inserts from updates.
        sql += f" RETURNING {', '.join(unique_columns)}, {quote(meta.pk.column)}, (xmax = 0)"
    with connection.cursor() as cursor:
        cursor.execute(sql, [*values, *arrays])  # the SELECT list's constants come before FROM
        return {tuple(r[:-2]): (r[-2], r[-1]) for r in cursor.fetchall()} if returning else {}


# --- Customers and follows ------------------------------------------------------------------------


@dataclass(frozen=True)
class ContactEntry:
    """One staff–customer pair as WeCom gave it.

    ``personal_tags`` is None when the source does not carry them (``batch/get_by_user`` gives corp
    tag ids only): the follow's personal tags are then left as they are.
    """

    contact: Json
    follow: Json
    corp_tag_ids: Sequence[str]
    personal_tags: Sequence[tuple[str, str]] | None = None

    @classmethod
    def from_batch(cls, item: Json) -> ContactEntry:
        """A ``batch/get_by_user`` row: ``{external_contact, follow_info{…, tag_id: [...]}}``."""
        info = item.get("follow_info") or {}
        return cls(item.get("external_contact") or {}, info, list(info.get("tag_id") or ()))

    @classmethod
    def from_get(cls, contact: Json, follow_user: Json) -> ContactEntry:
        """A ``follow_user`` element of ``externalcontact/get``: tags of type 1 (corp, with an id)
        and type 2 (personal, by group and name); type 3 (strategy) tags are not ours."""
        tags = follow_user.get("tags") or ()
        corp = [t["tag_id"] for t in tags if _int(t.get("type")) == 1 and t.get("tag_id")]
        personal = [
            (
                _text(t.get("group_name"), PersonalTag, "group_name"),
                _text(t.get("tag_name"), PersonalTag, "name"),
            )
            for t in tags
            if _int(t.get("type")) == 2 and t.get("tag_name")
        ]
        return cls(contact, follow_user, corp, personal)


def contact_fetch(client, external_userid: str, *, call: Callable | None = None) -> list[ContactEntry]:
    """Every follow of one customer from ``externalcontact/get``, paging ``follow_user`` (WeCom
    pages it at 500); none when WeCom no longer knows the customer or the relationship.

    ``call(fn, *args, **kwargs)`` wraps each request (the sync's retrying ``ctx.call``).
    """
    call = call or (lambda fn, *args, **kwargs: fn(*args, **kwargs))
    entries: list[ContactEntry] = []
    cursor = ""
    while True:
        try:
            data = call(client.externalcontact_get, external_userid, cursor=cursor)
        except NotFound as error:
            logger.info("customer %s is not in WeCom (%s)", external_userid, error)
            return []
        contact = data.get("external_contact") or {}
        entries += [ContactEntry.from_get(contact, f) for f in data.get("follow_user") or ()]
        cursor = data.get("next_cursor") or ""
        if not cursor:
            return entries


@dataclass(frozen=True)
class FollowBegun:
    """A follow the apply created, or reopened after it had ended: a new relationship."""

    follow_id: int
    customer_id: int
    staff_id: int
    added_at: datetime
    state: str
    add_way: int
    userid: str
    #: Created by this apply (not reopened): no event can exist for it yet.
    created: bool = False


@dataclass
class ContactsApplied:
    customer_ids: dict[str, int] = field(default_factory=dict)
    follow_ids: dict[tuple[int, int], int] = field(default_factory=dict)  # (customer, staff) → follow
    begun: list[FollowBegun] = field(default_factory=list)
    tags_added: dict[int, set[int]] = field(default_factory=dict)  # follow id → tag ids
    tags_removed: dict[int, set[int]] = field(default_factory=dict)
    profile_changes: dict[int, dict[str, list]] = field(
        default_factory=dict
    )  # follow id → {field: [old, new]}
    customers_created: int = 0
    customers_updated: int = 0
    follows_created: int = 0
    follows_updated: int = 0
    skipped: int = 0  # entries whose staff member is unknown


def _customers_upsert(
    entries: Sequence[ContactEntry],
    done: ContactsApplied,
    staff_ids: Mapping[str, int],
    tags: Mapping[str, int],
) -> set[int]:
    """Upsert customers; returns the ids of those created, whose ``tag_ids`` are written here
    already (all their follows are in ``entries``), saving a second write of each new row."""
    wanted: dict[str, dict[str, Any]] = {}
    earliest: dict[str, datetime] = {}
    tag_sets: dict[str, set[int]] = defaultdict(set)
    for entry in entries:
        external_userid = entry.contact.get("external_userid")
        if not external_userid:
            continue
        wanted[external_userid] = customer_fields(entry.contact)
        added = wecom_time(entry.follow.get("createtime"))
        earliest[external_userid] = min(earliest.get(external_userid, added), added)
        if entry.follow.get("userid") in staff_ids:
            tag_sets[external_userid].update(tags[t] for t in entry.corp_tag_ids if t in tags)
    columns = ("external_userid", "id", "first_added_at", *CUSTOMER_FIELDS)
    existing = {
        row[0]: dict(zip(columns, row, strict=True))
        for row in Customer.objects.filter(external_userid__in=list(wanted)).values_list(*columns)
    }
    now = timezone.now()
    writes = []
    for external_userid, values in wanted.items():
        row = existing.get(external_userid)
        if row is None:
            first_added_at = earliest[external_userid]
        else:
            done.customer_ids[external_userid] = row["id"]
            first_added_at = min(row["first_added_at"], earliest[external_userid])
            if first_added_at == row["first_added_at"] and all(row[k] == v for k, v in values.items()):
                continue
        writes.append(
            {
                "external_userid": external_userid,
                "first_added_at": first_added_at,
                **values,
                "lifecycle_stage": LifecycleStage.NEW,  # only used on insert
                "custom_fields": {},
                "tag_ids": sorted(tag_sets[external_userid]),  # only used on insert
                "created_at": now,
                "updated_at": now,
            }
        )
    written = _upsert(
        Customer,
        writes,
        unique=["external_userid"],
        update=[*CUSTOMER_FIELDS, "first_added_at", "updated_at"],
    )
    created = set()
    for (external_userid,), (pk, inserted) in written.items():
        done.customer_ids[external_userid] = pk
        if inserted:
            created.add(pk)
        else:
            done.customers_updated += 1
    done.customers_created += len(created)
    return created


def _follow_row(
    key: tuple[int, int], values: dict[str, Any], status_changed_at, now: datetime
) -> dict[str, Any]:
    return {
        "customer_id": key[0],
        "staff_id": key[1],
        **values,
        "status": Follow.Status.ACTIVE,
        "status_changed_at": status_changed_at,
        "created_at": now,
        "updated_at": now,
    }


def _follows_upsert(
    pairs: dict[tuple[int, int], tuple[ContactEntry, dict[str, Any]]],
    userids: Mapping[int, str],
    done: ContactsApplied,
    now: datetime,
) -> tuple[set[int], set[tuple[int, int]]]:
    """Upsert follows; returns the customers whose set of active follows changed (a follow
    reopened) and the pairs whose follow did not exist before."""
    customer_ids = {c for c, _ in pairs}
    staff_ids = {s for _, s in pairs}
    columns = ("customer_id", "staff_id", "id", "status", "status_changed_at", *FOLLOW_FIELDS)
    existing = {
        (row[0], row[1]): dict(zip(columns, row, strict=True))
        for row in Follow.objects.filter(customer_id__in=customer_ids, staff_id__in=staff_ids).values_list(
            *columns
        )
    }
    writes, begun_keys = [], set()
    reopened: set[int] = set()
    for key, (_entry, values) in pairs.items():
        row = existing.get(key)
        if row is None:
            writes.append(_follow_row(key, values, None, now))
            begun_keys.add(key)
            continue
        done.follow_ids[key] = row["id"]
        ended = row["status"] != Follow.Status.ACTIVE
        new_episode = ended or row["added_at"] != values["added_at"]
        changes = {k: [row[k], v] for k, v in values.items() if row[k] != v}
        if not changes and not ended:
            continue
        if new_episode:
            begun_keys.add(key)
            if ended:
                reopened.add(key[0])
        else:
            profile = {k: v for k, v in changes.items() if k in PROFILE_FIELDS}
            if profile:
                done.profile_changes[row["id"]] = profile
        writes.append(_follow_row(key, values, now if ended else row["status_changed_at"], now))
    written = _upsert(
        Follow,
        writes,
        unique=["customer_id", "staff_id"],
        update=[*FOLLOW_FIELDS, "status", "status_changed_at", "updated_at"],
    )
    created_keys = set()
    for key, (pk, inserted) in written.items():
        done.follow_ids[key] = pk
        if inserted:
            created_keys.add(key)
        else:
            done.follows_updated += 1
    done.follows_created += len(created_keys)
    for key in begun_keys:
        values = pairs[key][1]
        done.begun.append(
            FollowBegun(
                follow_id=done.follow_ids[key],
                customer_id=key[0],
                staff_id=key[1],
                added_at=values["added_at"],
                state=values["state"],
                add_way=values["add_way"],
                userid=userids[key[1]],
                created=key in created_keys,
            )
        )
    return reopened, created_keys


def _follow_tags_replace(
    wanted: dict[int, set[int]], new_follow_ids: set[int], done: ContactsApplied
) -> None:
    current: dict[int, dict[int, int]] = defaultdict(dict)  # follow → {tag: link id}
    old = [f for f in wanted if f not in new_follow_ids]
    for link_id, follow_id, tag_id in FollowTag.objects.filter(follow_id__in=old).values_list(
        "id", "follow_id", "tag_id"
    ):
        current[follow_id][tag_id] = link_id
    stale: list[int] = []
    links: list[dict[str, Any]] = []
    now = timezone.now()
    for follow_id, tags in wanted.items():
        have = current.get(follow_id, {})
        added = tags - have.keys()
        removed = have.keys() - tags
        if added:
            done.tags_added[follow_id] = added
            links += [{"follow_id": follow_id, "tag_id": t, "created_at": now} for t in sorted(added)]
        if removed:
            done.tags_removed[follow_id] = set(removed)
            stale += [have[t] for t in removed]
    if stale:
        FollowTag.objects.filter(pk__in=stale).delete()
    _insert(FollowTag, links, conflict=["follow_id", "tag_id"])


def _personal_tags_replace(wanted: dict[int, tuple[int, set[tuple[str, str]]]]) -> None:
    """Replace the personal tags of these follows (follow → (staff, {(group, name)}))."""
    staff_ids = {staff_id for staff_id, _ in wanted.values()}
    names = {(staff_id, *tag) for staff_id, tags in wanted.values() for tag in tags}

    def known() -> dict[tuple[int, str, str], int]:
        rows = PersonalTag.objects.filter(staff_id__in=staff_ids).values_list(
            "staff_id", "group_name", "name", "id"
        )
        return {(s, g, n): pk for s, g, n, pk in rows}

    ids = known()
    missing = [PersonalTag(staff_id=s, group_name=g, name=n) for s, g, n in names if (s, g, n) not in ids]
    if missing:
        PersonalTag.objects.bulk_create(missing, ignore_conflicts=True)
        ids = known()
    current: dict[int, dict[int, int]] = defaultdict(dict)
    for link_id, follow_id, tag_id in FollowPersonalTag.objects.filter(
        follow_id__in=list(wanted)
    ).values_list("id", "follow_id", "tag_id"):
        current[follow_id][tag_id] = link_id
    stale, links = [], []
    for follow_id, (staff_id, tags) in wanted.items():
        target = {ids[(staff_id, g, n)] for g, n in tags}
        have = current.get(follow_id, {})
        links += [FollowPersonalTag(follow_id=follow_id, tag_id=t) for t in target - have.keys()]
        stale += [have[t] for t in have.keys() - target]
    if stale:
        FollowPersonalTag.objects.filter(pk__in=stale).delete()
    FollowPersonalTag.objects.bulk_create(links, ignore_conflicts=True)


@transaction.atomic
def contacts_apply(
    entries: Sequence[ContactEntry], *, staff_ids: Mapping[str, int], tags: Mapping[str, int]
) -> ContactsApplied:
    """Upsert customers, their follows and the follows' tags from WeCom rows, in bulk.

    ``staff_ids`` maps WeCom userids to our Staff ids (rows of other members are skipped and
    counted); ``tags`` maps WeCom corp tag ids to ours (unknown ids are ignored: fetch them first
    with :func:`tag_ids_ensure`). Only rows whose content differs are written. A follow that ended
    and shows up again in WeCom is reopened: it is a new relationship (``begun``). The customers'
    ``tag_ids`` index is refreshed for every customer whose active follows or tags changed.
    """
    done = ContactsApplied()
    now = timezone.now()
    created_customers = _customers_upsert(entries, done, staff_ids, tags)
    userids = {staff_id: userid for userid, staff_id in staff_ids.items()}
    pairs: dict[tuple[int, int], tuple[ContactEntry, dict[str, Any]]] = {}
    for entry in entries:
        customer_id = done.customer_ids.get(entry.contact.get("external_userid", ""))
        staff_id = staff_ids.get(entry.follow.get("userid", ""))
        if customer_id is None or staff_id is None:
            done.skipped += 1
            continue
        pairs[(customer_id, staff_id)] = (entry, follow_fields(entry.follow))
    touched, created = _follows_upsert(pairs, userids, done, now)
    wanted_tags = {
        done.follow_ids[key]: {tags[t] for t in entry.corp_tag_ids if t in tags}
        for key, (entry, _values) in pairs.items()
    }
    _follow_tags_replace(wanted_tags, {done.follow_ids[key] for key in created}, done)
    personal = {
        done.follow_ids[key]: (key[1], set(entry.personal_tags))
        for key, (entry, _values) in pairs.items()
        if entry.personal_tags is not None
    }
    if personal:
        _personal_tags_replace(personal)
    changed_follows = done.tags_added.keys() | done.tags_removed.keys()
    customer_of = {follow_id: key[0] for key, follow_id in done.follow_ids.items()}
    touched |= {customer_of[f] for f in changed_follows}
    customer_tag_ids_refresh(sorted(touched - created_customers))
    return done


# --- Ending follows and the timeline ---------------------------------------------------------------


def event(*, customer_id, staff_id, type, occurred_at, source, payload) -> dict[str, Any]:  # noqa: A002
    return {
        "customer_id": customer_id,
        "staff_id": staff_id,
        "type": type,
        "occurred_at": occurred_at,
        "source": source,
        "payload": payload,
    }


def events_insert(events: list[dict[str, Any]]) -> None:
    """Timeline events (dicts of :func:`event` fields) in bulk: one statement per chunk on
    PostgreSQL, without building a model per row."""
    now = timezone.now()
    _insert(CustomerEvent, [{**event, "created_at": now} for event in events])


@transaction.atomic
def follows_end(
    *, follow_ids: Sequence[int], status: str, when: datetime, event_type: str, source: str, payload=None
) -> int:
    """End these active follows with ``status`` at ``when`` and write one timeline event each;
    returns how many ended. Follows already ended are left alone, so a repeat does nothing."""
    ended = 0
    for chunk in _chunks(follow_ids):
        rows = list(
            Follow.objects.filter(pk__in=chunk, status=Follow.Status.ACTIVE).values_list(
                "id", "customer_id", "staff_id", "staff__userid"
            )
        )
        if not rows:
            continue
        Follow.objects.filter(pk__in=[r[0] for r in rows], status=Follow.Status.ACTIVE).update(
            status=status, status_changed_at=when, updated_at=timezone.now()
        )
        customer_tag_ids_refresh({r[1] for r in rows})
        events_insert(
            [
                event(
                    customer_id=customer_id,
                    staff_id=staff_id,
                    type=event_type,
                    occurred_at=when,
                    source=source,
                    payload={"userid": userid, **(payload or {})},
                )
                for _id, customer_id, staff_id, userid in rows
            ]
        )
        ended += len(rows)
    return ended


def added_events_write(
    begun: Iterable[FollowBegun], *, source: str, extra: Mapping[int, Json] | None = None
) -> int:
    """An "added" event for each begun follow, unless that relationship already has one (the
    sync and the callback may both see the same add: whichever comes second writes nothing)."""
    begun = list(begun)
    if not begun:
        return 0
    # The latest "added" or ending event of each pair: an "added" one at or after the follow's
    # start (less the clock slack) means this relationship has its event already.
    latest: dict[tuple[int, int], tuple[datetime, str]] = {}
    older = [b for b in begun if not b.created]
    if older:
        for customer_id, staff_id, occurred_at, kind in (
            CustomerEvent.objects.filter(
                customer_id__in={b.customer_id for b in older},
                type__in=[CustomerEvent.Type.ADDED, *ENDING_EVENTS],
                occurred_at__gte=min(b.added_at for b in older) - ADD_EVENT_SLACK,
            )
            .order_by("occurred_at", "id")
            .values_list("customer_id", "staff_id", "occurred_at", "type")
        ):
            latest[(customer_id, staff_id)] = (occurred_at, kind)
    events = []
    for b in begun:
        occurred_at, kind = latest.get((b.customer_id, b.staff_id), (None, ""))
        if kind == CustomerEvent.Type.ADDED and occurred_at >= b.added_at - ADD_EVENT_SLACK:
            continue
        payload = {"userid": b.userid, "state": b.state, "add_way": b.add_way}
        payload.update((extra or {}).get(b.follow_id, {}))
        events.append(
            event(
                customer_id=b.customer_id,
                staff_id=b.staff_id,
                type=CustomerEvent.Type.ADDED,
                occurred_at=payload.pop("occurred_at", b.added_at),
                source=source,
                payload=payload,
            )
        )
    events_insert(events)
    return len(events)


def tag_events_write(
    done: ContactsApplied, *, follow_ids: Iterable[int], source: str, when: datetime | None = None
) -> int:
    """ "tagged" / "untagged" events for the corp-tag changes of these follows."""
    follow_ids = set(follow_ids) & (done.tags_added.keys() | done.tags_removed.keys())
    if not follow_ids:
        return 0
    tag_ids = set().union(
        *(done.tags_added.get(f, set()) | done.tags_removed.get(f, set()) for f in follow_ids)
    )
    names = dict(Tag.objects.filter(pk__in=tag_ids).values_list("id", "name"))
    follows = {
        pk: (customer_id, staff_id, updated_at, userid)
        for pk, customer_id, staff_id, updated_at, userid in Follow.objects.filter(
            pk__in=follow_ids
        ).values_list("id", "customer_id", "staff_id", "updated_at", "staff__userid")
    }
    events = []
    for follow_id in sorted(follow_ids):
        customer_id, staff_id, updated_at, userid = follows[follow_id]
        for event_type, changed in (
            (CustomerEvent.Type.TAGGED, done.tags_added.get(follow_id)),
            (CustomerEvent.Type.UNTAGGED, done.tags_removed.get(follow_id)),
        ):
            if changed:
                events.append(
                    event(
                        customer_id=customer_id,
                        staff_id=staff_id,
                        type=event_type,
                        occurred_at=when or updated_at,
                        source=source,
                        payload={
                            "userid": userid,
                            "tags": [{"id": t, "name": names.get(t, "")} for t in sorted(changed)],
                        },
                    )
                )
    events_insert(events)
    return len(events)
