"""Bulk-filling the sandbox with a whole emulated corp: what WeCom's servers would hold.

The demo and the sync benchmark build corps of up to a million customers; creating them through
the API or row by row would take hours. :class:`SandboxSeeder` takes plain rows keyed by WeCom
ids, chooses the primary keys itself (so follows can name their member and contact without a
lookup), and writes each table in large batches: ``COPY … FROM STDIN`` on PostgreSQL,
``bulk_create`` elsewhere. Like the rest of :mod:`scrm.sandbox.services`, it plays WeCom's part.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterable
from typing import Any

from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction

from .models import (
    SandboxAccessToken,
    SandboxApp,
    SandboxDepartment,
    SandboxExternalContact,
    SandboxFollow,
    SandboxGroupChat,
    SandboxMember,
    SandboxTag,
    SandboxTagGroup,
)

# The tables a seeder writes, in an order where every row's references are already written.
SEEDED = (
    SandboxDepartment,
    SandboxMember,
    SandboxTagGroup,
    SandboxTag,
    SandboxExternalContact,
    SandboxFollow,
    SandboxGroupChat,
)

_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _copy_text(value: Any) -> str:
    if value is None:
        return "\\N"
    if value is True:
        return "t"
    if value is False:
        return "f"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, (list, dict)):
        value = _dumps(value)
    return value.translate(_COPY_ESCAPES)


class _Table:
    """Rows of one model waiting to be written, as tuples in ``columns`` order."""

    def __init__(self, model: type[models.Model], columns: tuple[str, ...]):
        by_attname = {f.attname: f for f in model._meta.concrete_fields}
        self.model = model
        self.columns = columns
        # Columns the seeder does not set get their model default, so that a field added to a
        # sandbox model later does not break seeding.
        self.extra = [f for f in model._meta.concrete_fields if f.attname not in columns]
        self.extra_values = tuple(f.get_default() for f in self.extra)
        missing = [c for c in columns if c not in by_attname]
        if missing:
            raise ValueError(f"{model.__name__} has no column(s) {', '.join(missing)}")
        self.rows: list[tuple] = []
        self.written = 0


class SandboxSeeder:
    """Writes one emulated corp in bulk; call :meth:`close` to flush the last rows.

    Rows refer to each other by WeCom ids (``userid``, ``group_id``) or, for external contacts,
    by the caller's integer ``key`` (an external_userid map of a million strings would cost more
    memory than the rows). Use it inside a transaction; nothing is visible before it commits.
    """

    FLUSH_ROWS = 50_000

    def __init__(self, *, corp_id: str, using: str = DEFAULT_DB_ALIAS):
        self.corp_id = corp_id
        self.connection = connections[using]
        self.postgresql = self.connection.vendor == "postgresql"
        self._tables: dict[type[models.Model], _Table] = {}
        self._next_pk = {
            model: (model.objects.using(using).aggregate(m=models.Max("pk"))["m"] or 0) + 1
            for model in SEEDED
        }
        self._contact_base = self._next_pk[SandboxExternalContact] - 1
        self._max_contact_key = 0
        self._member_pk: dict[str, int] = {}
        self._tag_group_pk: dict[str, int] = {}

    # --- rows -------------------------------------------------------------------------------------

    def _add(self, model: type[models.Model], columns: tuple[str, ...], row: tuple) -> None:
        table = self._tables.get(model)
        if table is None:
            table = self._tables[model] = _Table(model, columns)
        table.rows.append(row)
        if len(table.rows) >= self.FLUSH_ROWS:
            self._flush(table)

    def _pk(self, model: type[models.Model]) -> int:
        pk = self._next_pk[model]
        self._next_pk[model] = pk + 1
        return pk

    def department(self, *, dept_id: int, name: str, parentid: int, order: int = 0) -> None:
        pk = self._pk(SandboxDepartment)
        columns = ("id", "corp_id", "dept_id", "name", "parentid", "order")
        self._add(SandboxDepartment, columns, (pk, self.corp_id, dept_id, name, parentid, order))

    def member(
        self,
        *,
        userid: str,
        name: str,
        departments: list[int],
        main_department: int,
        position: str = "",
        gender: str = "0",
        status: int = 1,
    ) -> None:
        pk = self._member_pk[userid] = self._pk(SandboxMember)
        columns = (
            "id",
            "corp_id",
            "userid",
            "name",
            "departments",
            "main_department",
            "position",
            "gender",
            "status",
        )
        row = (pk, self.corp_id, userid, name, departments, main_department, position, gender, status)
        self._add(SandboxMember, columns, row)

    def tag_group(self, *, group_id: str, name: str, order: int, create_time: int) -> None:
        pk = self._tag_group_pk[group_id] = self._pk(SandboxTagGroup)
        columns = ("id", "corp_id", "group_id", "name", "order", "create_time", "deleted")
        self._add(SandboxTagGroup, columns, (pk, self.corp_id, group_id, name, order, create_time, False))

    def tag(self, *, group_id: str, tag_id: str, name: str, order: int, create_time: int) -> None:
        columns = ("id", "group_id", "tag_id", "name", "order", "create_time", "deleted")
        row = (self._pk(SandboxTag), self._tag_group_pk[group_id], tag_id, name, order, create_time, False)
        self._add(SandboxTag, columns, row)

    def contact(
        self,
        *,
        key: int,
        external_userid: str,
        name: str,
        type: int = 1,
        gender: int = 0,
        unionid: str = "",
        avatar: str = "",
        corp_name: str = "",
        corp_full_name: str = "",
        position: str = "",
    ) -> None:
        """An external contact; ``key`` (a positive integer, unique here) is how :meth:`follow` names it."""
        if key < 1:
            raise ValueError("contact keys start at 1")
        self._max_contact_key = max(self._max_contact_key, key)
        columns = (
            "id",
            "corp_id",
            "external_userid",
            "name",
            "type",
            "gender",
            "unionid",
            "avatar",
            "corp_name",
            "corp_full_name",
            "position",
        )
        row = (
            self._contact_base + key,
            self.corp_id,
            external_userid,
            name,
            type,
            gender,
            unionid,
            avatar,
            corp_name,
            corp_full_name,
            position,
        )
        self._add(SandboxExternalContact, columns, row)

    def follow(
        self,
        *,
        userid: str,
        contact_key: int,
        createtime: int,
        remark: str = "",
        description: str = "",
        add_way: int = 0,
        state: str = "",
        oper_userid: str = "",
        remark_corp_name: str = "",
        remark_mobiles: list[str] | None = None,
        tag_ids: list[str] | None = None,
    ) -> None:
        columns = (
            "id",
            "member_id",
            "contact_id",
            "remark",
            "description",
            "createtime",
            "add_way",
            "state",
            "oper_userid",
            "remark_corp_name",
            "remark_mobiles",
            "tag_ids",
        )
        row = (
            self._pk(SandboxFollow),
            self._member_pk[userid],
            self._contact_base + contact_key,
            remark,
            description,
            createtime,
            add_way,
            state,
            oper_userid,
            remark_corp_name,
            remark_mobiles or [],
            tag_ids or [],
        )
        self._add(SandboxFollow, columns, row)

    def group_chat(
        self,
        *,
        chat_id: str,
        name: str,
        owner: str,
        create_time: int,
        member_list: list[dict],
        admin_list: list[dict] | None = None,
        notice: str = "",
        status: int = 0,
        member_version: str = "",
    ) -> None:
        columns = (
            "id",
            "corp_id",
            "chat_id",
            "name",
            "owner",
            "create_time",
            "notice",
            "status",
            "member_list",
            "admin_list",
            "member_version",
        )
        row = (
            self._pk(SandboxGroupChat),
            self.corp_id,
            chat_id,
            name,
            owner,
            create_time,
            notice,
            status,
            member_list,
            admin_list or [],
            member_version,
        )
        self._add(SandboxGroupChat, columns, row)

    # --- writing ----------------------------------------------------------------------------------

    def _flush(self, table: _Table) -> None:
        rows, table.rows = table.rows, []
        if not rows:
            return
        table.written += len(rows)
        if self.postgresql:
            qn = self.connection.ops.quote_name
            columns = [*table.columns, *(f.column for f in table.extra)]
            extra = "".join("\t" + _copy_text(v) for v in table.extra_values)
            data = "".join("\t".join(map(_copy_text, row)) + extra + "\n" for row in rows)
            sql = f"COPY {qn(table.model._meta.db_table)} ({', '.join(map(qn, columns))}) FROM STDIN"
            self.connection.ensure_connection()
            # The driver's own cursor: with DEBUG on, Django's wrapper would keep the data in memory.
            with self.connection.connection.cursor() as cursor:
                cursor.copy_expert(sql, io.StringIO(data), size=1 << 20)
        else:
            model = table.model
            model.objects.using(self.connection.alias).bulk_create(
                (model(**dict(zip(table.columns, row, strict=True))) for row in rows), batch_size=2_000
            )

    def close(self) -> dict[str, int]:
        """Write what is pending, in reference order, and move the id sequences past the chosen ids."""
        for model in SEEDED:
            if model in self._tables:
                self._flush(self._tables[model])
        statements = self.connection.ops.sequence_reset_sql(no_style(), list(SEEDED))
        with self.connection.cursor() as cursor:
            for statement in statements:
                cursor.execute(statement)
        return {model._meta.label: table.written for model, table in self._tables.items()}


def sandbox_apps_create(
    *,
    corp_id: str,
    contact_secret: str,
    agent_secret: str = "",
    agentid: int | None = None,
    sync_secret: str = "",
) -> None:
    """The corp's apps: the customer-contact secret, the app (agent) and, if given, the contact-sync one."""
    SandboxApp.objects.create(corp_id=corp_id, name="customer contact", secret=contact_secret)
    if agent_secret:
        SandboxApp.objects.create(
            corp_id=corp_id, name="app", secret=agent_secret, agentid=agentid, customer_contact=False
        )
    if sync_secret:
        SandboxApp.objects.create(
            corp_id=corp_id,
            name="contact sync",
            secret=sync_secret,
            customer_contact=False,
            contact_sync=True,
        )


@transaction.atomic
def sandbox_corp_clear(*, corp_id: str) -> None:
    """Delete everything the sandbox holds for ``corp_id``: apps, tokens, people, customers, tags, groups.

    Plain set deletes, children first, so that a million follows go in one statement each
    instead of the ORM's row-by-row cascade collection.
    """
    deletes: Iterable[models.QuerySet] = (
        SandboxFollow.objects.filter(member__corp_id=corp_id),
        SandboxFollow.objects.filter(contact__corp_id=corp_id),
        SandboxExternalContact.objects.filter(corp_id=corp_id),
        SandboxTag.objects.filter(group__corp_id=corp_id),
        SandboxTagGroup.objects.filter(corp_id=corp_id),
        SandboxGroupChat.objects.filter(corp_id=corp_id),
        SandboxAccessToken.objects.filter(app__corp_id=corp_id),
    )
    for queryset in deletes:
        queryset._raw_delete(queryset.db)
    # Members, departments and apps are few; the ORM also clears whatever other sandbox tables
    # refer to them (contact ways, messages…).
    SandboxMember.objects.filter(corp_id=corp_id).delete()
    SandboxDepartment.objects.filter(corp_id=corp_id).delete()
    SandboxApp.objects.filter(corp_id=corp_id).only("id").delete()  # secrets stay unread
