"""The demo company's two halves: what WeCom holds (into the sandbox) and what only we hold.

The generator writes its rows into staging tables (temporary copies of our tables, same columns).
From them:

1. :func:`sandbox_fill` writes what WeCom's servers would hold into the sandbox: the department
   tree, the members still employed, corp tags, every customer who still has a friend among
   the staff with those friendships and their corp tags, and the live group chats with their
   current members.
2. The CRM then syncs from the sandbox through the real client (services.py).
3. :func:`history_overlay` adds, by WeCom ids, what WeCom does not hold or no longer shows: which
   departments are stores, staff who left and their ended follows, customers who deleted every
   staff member, the timeline, notes, lifecycle stages, custom fields, personal tags, channels,
   dismissed groups and members who left, group tags and kinds.

Every statement is plain SQL over the staging tables, so a million customers cost a few joins,
and the same code runs on SQLite.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

from django.db import models

from campaigns.models import Channel
from customers.models import (
    Customer,
    CustomerEvent,
    CustomerNote,
    Follow,
    FollowPersonalTag,
    FollowTag,
    PersonalTag,
    Tag,
    TagGroup,
)
from groups.models import GroupChat, GroupMember, GroupTag
from scrm.org.models import Department, Staff, StaffDepartment
from scrm.sandbox.seed import SandboxSeeder

from .columns import TABLES

STAGE_PREFIX = "demo_stage_"
GROUP_STATUS = {"normal": 0, "transferred": 0, "owner_departed": 1}  # our status -> WeCom's


def stage_name(model: type[models.Model]) -> str:
    return STAGE_PREFIX + model._meta.db_table


def stage_create(connection) -> dict[str, str]:
    """Empty temporary copies of the demo tables (columns only: no keys, no indexes)."""
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in TABLES:
            table, stage = model._meta.db_table, stage_name(model)
            cursor.execute(f"DROP TABLE IF EXISTS {qn(stage)}")
            if connection.vendor == "postgresql":
                cursor.execute(f"CREATE TEMPORARY TABLE {qn(stage)} (LIKE {qn(table)})")
            else:
                cursor.execute(f"CREATE TEMPORARY TABLE {qn(stage)} AS SELECT * FROM {qn(table)} WHERE 0")
    return {model._meta.db_table: stage_name(model) for model in TABLES}


def stage_drop(connection) -> None:
    qn = connection.ops.quote_name
    with connection.cursor() as cursor:
        for model in TABLES:
            cursor.execute(f"DROP TABLE IF EXISTS {qn(stage_name(model))}")


# --- reading the staging tables ---------------------------------------------------------------------


def _epoch(connection, column: str) -> str:
    if connection.vendor == "postgresql":
        return f"CAST(EXTRACT(EPOCH FROM {column}) AS BIGINT)"
    return f"CAST(strftime('%s', {column}) AS INTEGER)"


def _json(value):
    return json.loads(value) if isinstance(value, str) else value


def _rows(connection, sql: str, params=None) -> Iterator[tuple]:
    """Stream a query's rows: a server-side cursor on PostgreSQL, so a million rows never sit in memory."""
    cursor = connection.chunked_cursor() if connection.vendor == "postgresql" else connection.cursor()
    with cursor:
        cursor.execute(sql, params)  # no params: SQLite's "%s" in strftime stays as it is
        while batch := cursor.fetchmany(5_000):
            yield from batch


def _t(model: type[models.Model]) -> str:
    return f'"{stage_name(model)}"'


def sandbox_fill(connection, seeder: SandboxSeeder) -> dict[str, int]:
    """Write the staged company's WeCom side into the sandbox through ``seeder``."""

    def epoch(column: str) -> str:
        return _epoch(connection, column)

    dept_wecom = dict(_rows(connection, f"SELECT id, wecom_id FROM {_t(Department)}"))
    for _pk, wecom_id, name, parent_id, order in _rows(
        connection, f"SELECT id, wecom_id, name, parent_id, {_q('order')} FROM {_t(Department)} ORDER BY id"
    ):
        seeder.department(dept_id=wecom_id, name=name, parentid=dept_wecom.get(parent_id, 0), order=order)
    for userid, name, main_department, position, gender in _rows(
        connection,
        f"SELECT userid, name, main_department_id, position, gender FROM {_t(Staff)} "
        "WHERE status = 'active' ORDER BY id",
    ):
        dept = dept_wecom[main_department]
        seeder.member(
            userid=userid,
            name=name,
            departments=[dept],
            main_department=dept,
            position=position,
            gender=str(gender),
        )
    for group_id, name, order, created in _rows(
        connection,
        f"SELECT wecom_id, name, {_q('order')}, {epoch('created_at')} FROM {_t(TagGroup)} ORDER BY id",
    ):
        seeder.tag_group(group_id=group_id, name=name, order=order, create_time=created)
    for group_id, tag_id, name, order, created in _rows(
        connection,
        f"SELECT g.wecom_id, t.wecom_id, t.name, t.{_q('order')}, {epoch('t.created_at')} "
        f"FROM {_t(Tag)} t JOIN {_t(TagGroup)} g ON g.id = t.group_id ORDER BY t.id",
    ):
        seeder.tag(group_id=group_id, tag_id=tag_id, name=name, order=order, create_time=created)

    # Customers who are still somebody's friend, with those friendships and their corp tags.
    active = f"EXISTS (SELECT 1 FROM {_t(Follow)} f WHERE f.customer_id = c.id AND f.status = 'active')"
    for row in _rows(
        connection,
        "SELECT c.id, c.external_userid, c.name, c.type, c.gender, c.unionid, c.avatar, c.corp_name, "
        f"c.corp_full_name, c.position FROM {_t(Customer)} c WHERE {active} ORDER BY c.id",
    ):
        key, external_userid, name, type_, gender, unionid, avatar, corp_name, corp_full_name, position = row
        seeder.contact(
            key=key,
            external_userid=external_userid,
            name=name,
            type=type_,
            gender=gender,
            unionid=unionid,
            avatar=avatar,
            corp_name=corp_name,
            corp_full_name=corp_full_name,
            position=position,
        )
    tags = _rows(
        connection,
        f"SELECT ft.follow_id, t.wecom_id FROM {_t(FollowTag)} ft JOIN {_t(Tag)} t ON t.id = ft.tag_id "
        f"JOIN {_t(Follow)} f ON f.id = ft.follow_id WHERE f.status = 'active' ORDER BY ft.follow_id, ft.id",
    )
    pending = next(tags, None)
    for row in _rows(
        connection,
        "SELECT f.id, f.customer_id, s.userid, f.remark, f.description, "
        f"{epoch('f.added_at')}, f.add_way, f.state, f.oper_userid, f.remark_corp_name, f.remark_mobiles "
        f"FROM {_t(Follow)} f JOIN {_t(Staff)} s ON s.id = f.staff_id "
        "WHERE f.status = 'active' ORDER BY f.id",
    ):
        follow_id, customer, userid, remark, description, added, add_way, state, oper, corp, mobiles = row
        tag_ids = []
        while pending is not None and pending[0] <= follow_id:
            if pending[0] == follow_id:
                tag_ids.append(pending[1])
            pending = next(tags, None)
        seeder.follow(
            userid=userid,
            contact_key=customer,
            createtime=added,
            remark=remark[:20],
            description=description[:150],
            add_way=add_way,
            state=state[:30],
            oper_userid=oper,
            remark_corp_name=corp[:20],
            remark_mobiles=_json(mobiles),
            tag_ids=tag_ids,
        )

    # Live group chats and their current members, staff first as WeCom lists them.
    members = _rows(
        connection,
        "SELECT group_id, member_id, kind, unionid, name, group_nickname, "
        f"{epoch('joined_at')}, join_scene, inviter_userid, state FROM {_t(GroupMember)} "
        "WHERE left_at IS NULL ORDER BY group_id, kind, joined_at, id",
    )
    pending = next(members, None)
    for group_id, chat_id, name, owner, admins, notice, created, status, version in _rows(
        connection,
        "SELECT id, chat_id, name, owner_userid, admin_userids, notice, "
        f"{epoch('created_at')}, status, member_version FROM {_t(GroupChat)} "
        "WHERE status <> 'dismissed' ORDER BY id",
    ):
        member_list = []
        while pending is not None and pending[0] <= group_id:
            if pending[0] == group_id:
                _g, member_id, kind, unionid, member_name, nickname, joined, scene, inviter, state = pending
                member = {
                    "userid": member_id,
                    "type": kind,
                    "join_time": joined,
                    "join_scene": scene,
                    "group_nickname": nickname,
                    "name": member_name,
                }
                if kind == 2 and unionid:
                    member["unionid"] = unionid
                if inviter:
                    member["invitor"] = {"userid": inviter}
                if state:
                    member["state"] = state
                member_list.append(member)
            pending = next(members, None)
        seeder.group_chat(
            chat_id=chat_id,
            name=name[:64],
            owner=owner,
            create_time=created,
            notice=notice,
            status=GROUP_STATUS.get(status, 0),
            member_list=member_list,
            admin_list=[{"userid": u} for u in _json(admins)],
            member_version=version,
        )
    return seeder.close()


def _q(name: str) -> str:
    return f'"{name}"'


# --- after the sync: what only we hold ------------------------------------------------------------


def _columns(model: type[models.Model]) -> list[str]:
    return [f.column for f in model._meta.concrete_fields if not f.primary_key]


def _insert(cursor, model, *, joins: str = "", where: str = "1 = 1", mapped: dict[str, str] | None = None):
    """``INSERT INTO model SELECT … FROM its staging table s``, foreign keys mapped by WeCom ids."""
    mapped = mapped or {}
    columns = _columns(model)
    values = ", ".join(mapped.get(c, f"s.{_q(c)}") for c in columns)
    cursor.execute(
        f"INSERT INTO {_q(model._meta.db_table)} ({', '.join(map(_q, columns))}) "
        f"SELECT {values} FROM {_t(model)} s {joins} WHERE {where} ORDER BY s.id"
    )
    return cursor.rowcount


# Joins from a staged row ``s`` to our rows, by WeCom ids.
_CUSTOMER = (
    f"JOIN {_t(Customer)} sc ON sc.id = s.customer_id "
    "JOIN customers_customer c ON c.external_userid = sc.external_userid"
)
_STAFF = f"LEFT JOIN {_t(Staff)} ss ON ss.id = s.staff_id LEFT JOIN org_staff st ON st.userid = ss.userid"
_FOLLOW = (
    f"JOIN {_t(Follow)} sf ON sf.id = s.follow_id "
    f"JOIN {_t(Customer)} fsc ON fsc.id = sf.customer_id "
    "JOIN customers_customer fc ON fc.external_userid = fsc.external_userid "
    f"JOIN {_t(Staff)} fss ON fss.id = sf.staff_id "
    "JOIN org_staff fst ON fst.userid = fss.userid "
    "JOIN customers_follow f ON f.customer_id = fc.id AND f.staff_id = fst.id"
)


def _department(alias: str, column: str) -> str:
    """Our department id for the staged department id in ``alias.column``."""
    return (
        f"(SELECT d.id FROM org_department d JOIN {_t(Department)} sd ON sd.wecom_id = d.wecom_id "
        f"WHERE sd.id = {alias}.{column})"
    )


def history_overlay(connection) -> dict[str, int]:
    """Add what WeCom does not hold to the synced company (see the module docstring)."""
    added: dict[str, int] = {}
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE org_department SET is_store = %s WHERE wecom_id IN "
            f"(SELECT wecom_id FROM {_t(Department)} WHERE is_store = %s)",
            [True, True],
        )
        added["staff who left"] = _insert(
            cursor,
            Staff,
            mapped={"main_department_id": _department("s", "main_department_id"), "user_id": "NULL"},
            where="s.status = 'departed' AND NOT EXISTS "
            "(SELECT 1 FROM org_staff x WHERE x.userid = s.userid)",
        )
        _insert(
            cursor,
            StaffDepartment,
            joins=f"JOIN {_t(Staff)} ss ON ss.id = s.staff_id JOIN org_staff st ON st.userid = ss.userid",
            mapped={"staff_id": "st.id", "department_id": _department("s", "department_id")},
            where="NOT EXISTS (SELECT 1 FROM org_staffdepartment x WHERE x.staff_id = st.id)",
        )
        added["channels"] = _insert(
            cursor, Channel, where="NOT EXISTS (SELECT 1 FROM campaigns_channel x WHERE x.state = s.state)"
        )
        added["personal tags"] = _insert(
            cursor,
            PersonalTag,
            joins=f"JOIN {_t(Staff)} ss ON ss.id = s.staff_id JOIN org_staff st ON st.userid = ss.userid",
            mapped={"staff_id": "st.id"},
        )
        added["customers without a friend"] = _insert(
            cursor,
            Customer,
            where="NOT EXISTS "
            "(SELECT 1 FROM customers_customer x WHERE x.external_userid = s.external_userid)",
        )
        cursor.execute(
            "UPDATE customers_customer SET lifecycle_stage = s.lifecycle_stage, "
            "custom_fields = s.custom_fields, first_added_at = s.first_added_at, created_at = s.created_at, "
            f"updated_at = s.updated_at FROM {_t(Customer)} s "
            "WHERE customers_customer.external_userid = s.external_userid"
        )
        added["ended follows"] = _insert(
            cursor,
            Follow,
            joins=f"{_CUSTOMER} JOIN {_t(Staff)} ss ON ss.id = s.staff_id "
            "JOIN org_staff st ON st.userid = ss.userid",
            mapped={"customer_id": "c.id", "staff_id": "st.id"},
            where="s.status <> 'active' AND NOT EXISTS "
            "(SELECT 1 FROM customers_follow x WHERE x.customer_id = c.id AND x.staff_id = st.id)",
        )
        _insert(
            cursor,
            FollowTag,
            joins=f"{_FOLLOW} JOIN {_t(Tag)} stt ON stt.id = s.tag_id "
            "JOIN customers_tag t ON t.wecom_id = stt.wecom_id",
            mapped={"follow_id": "f.id", "tag_id": "t.id"},
            where="sf.status <> 'active'",
        )
        _insert(
            cursor,
            FollowPersonalTag,
            joins=f"{_FOLLOW} JOIN {_t(PersonalTag)} sp ON sp.id = s.tag_id "
            "JOIN customers_personaltag p ON p.staff_id = fst.id AND p.group_name = sp.group_name "
            "AND p.name = sp.name",
            mapped={"follow_id": "f.id", "tag_id": "p.id"},
        )
        # The sync saw every friendship and group membership at once and dated its timeline events
        # "now"; the staged history knows when each happened, so it replaces them.
        cursor.execute("DELETE FROM customers_customerevent WHERE source = %s", [CustomerEvent.Source.SYNC])
        added["timeline events"] = _insert(
            cursor,
            CustomerEvent,
            joins=f"{_CUSTOMER} {_STAFF}",
            mapped={"customer_id": "c.id", "staff_id": "st.id"},
        )
        added["notes"] = _insert(
            cursor,
            CustomerNote,
            joins=f"{_CUSTOMER} {_STAFF}",
            mapped={"customer_id": "c.id", "staff_id": "st.id"},
        )
        _insert(cursor, GroupTag, where="NOT EXISTS (SELECT 1 FROM groups_grouptag x WHERE x.name = s.name)")
        added["dismissed groups"] = _insert(
            cursor,
            GroupChat,
            joins="LEFT JOIN org_staff st ON st.userid = s.owner_userid",
            mapped={"owner_id": "st.id", "store_id": _department("s", "store_id")},
            where="NOT EXISTS (SELECT 1 FROM groups_groupchat x WHERE x.chat_id = s.chat_id)",
        )
        cursor.execute(
            f"UPDATE groups_groupchat SET kind = s.kind, store_id = {_department('s', 'store_id')} "
            f"FROM {_t(GroupChat)} s WHERE groups_groupchat.chat_id = s.chat_id"
        )
        cursor.execute(
            "UPDATE groups_groupchat SET owner_id = "
            "(SELECT st.id FROM org_staff st WHERE st.userid = groups_groupchat.owner_userid) "
            "WHERE owner_id IS NULL"
        )
        through = GroupChat.tags.through
        cursor.execute(
            f"INSERT INTO {_q(through._meta.db_table)} (groupchat_id, grouptag_id) "
            f"SELECT g.id, t.id FROM {_t(through)} s "
            f"JOIN {_t(GroupChat)} sg ON sg.id = s.groupchat_id "
            "JOIN groups_groupchat g ON g.chat_id = sg.chat_id "
            f"JOIN {_t(GroupTag)} stg ON stg.id = s.grouptag_id JOIN groups_grouptag t ON t.name = stg.name "
            "ORDER BY s.id"
        )
        added["members who left"] = _insert(
            cursor,
            GroupMember,
            joins=f"JOIN {_t(GroupChat)} sg ON sg.id = s.group_id "
            "JOIN groups_groupchat g ON g.chat_id = sg.chat_id "
            "LEFT JOIN customers_customer c ON s.kind = 2 AND c.external_userid = s.member_id "
            "LEFT JOIN org_staff st ON s.kind = 1 AND st.userid = s.member_id",
            mapped={"group_id": "g.id", "customer_id": "c.id", "staff_id": "st.id"},
            where="NOT EXISTS "
            "(SELECT 1 FROM groups_groupmember x WHERE x.group_id = g.id AND x.member_id = s.member_id)",
        )
    return added


def staged_value(connection, model: type[models.Model], column: str, pk: int):
    """One column of a staged row, such as the userid of the generator's staff id ``pk``."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {_q(column)} FROM {_t(model)} WHERE id = %s", [pk])
        row = cursor.fetchone()
    return row[0] if row else None
