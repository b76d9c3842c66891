"""Sinks that take the generator's tuples into the database.

PostgreSQL gets ``COPY … FROM STDIN`` in chunks (QUALITY.md: about 335,000 rows/s on two cores,
against about 90,000 for ``bulk_create``); ``pipeline.py`` can generate them in a second process.
Other databases (SQLite, the embedded default) get
batched ``INSERT``s through ``executemany``; ``bulk_create`` is not used because it would stamp
every ``auto_now`` column with the current time and so break determinism.

Values arrive as the generator makes them: ints, strings, bools, lists, dicts, ``None``, and times
as whole epoch seconds (UTC). Each sink turns them into what its database wants.
"""

from __future__ import annotations

import functools
import io
import json
from collections.abc import Callable
from datetime import UTC, datetime

from django.db import models

from scrm.fields import IdArrayField

COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})
NULL = "\\N"


def _kind(field: models.Field) -> str:
    if isinstance(field, IdArrayField):
        return "idarray"
    if isinstance(field, models.JSONField):
        return "json"
    if isinstance(field, models.ForeignKey):
        return _kind(field.target_field)
    if isinstance(field, models.BooleanField):
        return "bool"
    if isinstance(field, models.DateTimeField):
        return "ts"
    if isinstance(field, (models.IntegerField, models.AutoField, models.BigAutoField, models.SmallAutoField)):
        return "int"
    if isinstance(field, models.DecimalField):
        return "decimal"
    if isinstance(field, (models.CharField, models.TextField)):
        return "text"
    name = f"{field.model.__name__}.{field.name}"
    raise TypeError(f"The demo writers cannot store {field.__class__.__name__} ({name}).")


# One encoder for all: json.dumps() with options builds a new encoder object on every call.
_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _json_text(value) -> str:
    if not value:
        return "{}" if isinstance(value, dict) else "[]" if isinstance(value, list) else _dumps(value)
    text = _dumps(value)
    return text.translate(COPY_ESCAPES) if "\\" in text else text  # JSON has no raw tab or newline


def _id_array(values) -> str:
    return "{" + ",".join(map(str, values)) + "}"


def epoch_to_datetime(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


class _Days(dict):
    """Epoch day -> "2026-11-22 ", filled on first use."""

    def __missing__(self, day: int) -> str:
        text = self[day] = epoch_to_datetime(day * 86_400).strftime("%Y-%m-%d ")
        return text


@functools.cache
def _seconds_of_day(zone: str) -> list[str]:
    return [f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}{zone}" for s in range(86_400)]


class Table:
    """Rows of one model on their way to the database."""

    def __init__(self, sink: Sink, model: type[models.Model], columns: tuple[str, ...]):
        by_attname = {f.attname: f for f in model._meta.concrete_fields}
        missing = [c for c in columns if c not in by_attname]
        if missing:
            raise ValueError(f"{model.__name__} has no column(s) {', '.join(missing)}")
        self.sink = sink
        self.model = model
        self.fields = [by_attname[c] for c in columns]
        # Columns the generator does not fill get their default, so a field added later still loads.
        self.extra_fields = [f for f in model._meta.concrete_fields if f.attname not in set(columns)]
        self.extra_values = [sink.default_for(f) for f in self.extra_fields]
        self.pending: list = []
        self.written = 0
        encode = sink.encoder(self)
        limit = sink.flush_rows

        def add(row: tuple) -> None:
            pending = self.pending
            pending.append(encode(row))
            if len(pending) >= limit:
                self.flush()

        self.add = add  # the generator calls it millions of times: one closure, no lookups

    @property
    def count(self) -> int:
        return self.written + len(self.pending)

    def flush(self) -> None:
        if self.pending:
            rows, self.pending = self.pending, []
            self.written += len(rows)
            self.sink.write(self, rows)


class Sink:
    """Common part of the two sinks: tables by model, defaults, counts."""

    flush_rows = 50_000

    def __init__(self, connection, *, now: int, rename: dict[str, str] | None = None):
        self.connection = connection
        self.now = now
        self.tables: dict[type[models.Model], Table] = {}
        # db_table -> the table that receives its rows instead (the staging tables of services.py).
        self.rename = dict(rename or {})

    def table_name(self, model: type[models.Model]) -> str:
        return self.rename.get(model._meta.db_table, model._meta.db_table)

    def table(self, model: type[models.Model], columns: tuple[str, ...]) -> Table:
        table = self.tables.get(model)
        if table is None:
            table = self.tables[model] = Table(self, model, columns)
        return table

    def count(self, model: type[models.Model]) -> int:
        table = self.tables.get(model)
        return table.count if table else 0

    def counts(self) -> dict[type[models.Model], int]:
        return {model: table.count for model, table in self.tables.items()}

    def default_for(self, field: models.Field):
        if getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            return self.now
        if field.has_default() or field.null or field.empty_strings_allowed:
            return field.get_default()
        name = f"{field.model.__name__}.{field.name}"
        raise ValueError(f"The demo generator must fill {name}: it has no default.")

    def flush(self) -> None:
        for table in self.tables.values():
            table.flush()

    def close(self) -> None:
        """Write everything still pending and wait until it is in the database."""
        self.flush()

    # Implemented by each sink.
    def encoder(self, table: Table) -> Callable[[tuple], object]:
        raise NotImplementedError

    def write(self, table: Table, rows: list) -> None:
        raise NotImplementedError


class CopySink(Sink):
    """PostgreSQL: rows become COPY text lines; each chunk is one ``COPY … FROM STDIN``.

    ``freeze`` names tables emptied by TRUNCATE in this transaction: their rows are loaded with
    ``FREEZE``, already visible to all, so that index-only scans work without a vacuum first.
    """

    flush_rows = 100_000

    def __init__(
        self, connection, *, now: int, freeze: set[str] = frozenset(), rename: dict[str, str] | None = None
    ):
        super().__init__(connection, now=now, rename=rename)
        self.freeze = set(freeze)
        self.days = _Days()
        self.seconds = _seconds_of_day("+00")

    def _expression(self, field: models.Field, value: str) -> str:
        """Python source that turns ``value`` (source too) into COPY text for ``field``."""
        kind = _kind(field)
        special = " or ".join(f"{c} in {value}" for c in "BTLR")
        expression = {
            "int": f"{value}",
            "decimal": f"str({value})",
            # translate() looks every character up in a dict when the text is not ASCII: test first.
            "text": f"({value}.translate(E) if {special} else {value})",
            "bool": f"('t' if {value} else 'f')",
            "ts": f"D[{value} // 86400] + S[{value} % 86400]",
            "json": f"J({value})",
            "idarray": f"A({value})",
        }[kind]
        return f"(N if {value} is None else {expression})" if field.null else expression

    def encoder(self, table: Table) -> Callable[[tuple], str]:
        # One compiled function per table, with every conversion inlined: the generic loop over
        # per-column callables cost several times more per row.
        env = {
            **{
                "E": COPY_ESCAPES,
                "N": NULL,
                "D": self.days,
                "S": self.seconds,
                "J": _json_text,
                "A": _id_array,
            },
            **{"B": "\\", "T": "\t", "L": "\n", "R": "\r"},  # f-string expressions may not hold backslashes
        }
        extras = "".join(
            "\t" + eval(self._expression(f, "v"), env, {"v": v})  # noqa: S307 - our own expressions
            for f, v in zip(table.extra_fields, table.extra_values, strict=True)
        )
        env["X"] = extras + "\n"
        parts = "\\t".join("{" + self._expression(f, f"r[{i}]") + "}" for i, f in enumerate(table.fields))
        source = f'def encode(r):\n    return f"{parts}{{X}}"\n'
        exec(compile(source, f"<copy encoder for {table.model._meta.db_table}>", "exec"), env)  # noqa: S102
        return env["encode"]

    def write(self, table: Table, rows: list[str]) -> None:
        qn = self.connection.ops.quote_name
        db_table = self.table_name(table.model)
        columns = ", ".join(qn(f.column) for f in [*table.fields, *table.extra_fields])
        options = " WITH (FREEZE)" if db_table in self.freeze else ""
        sql = f"COPY {qn(db_table)} ({columns}) FROM STDIN{options}"
        self._copy(sql, "".join(rows))

    def _copy(self, sql: str, data: str) -> None:
        self.connection.ensure_connection()
        # The driver's own cursor: with DEBUG on, Django's wrapper would keep every chunk in memory.
        with self.connection.connection.cursor() as cursor:
            cursor.copy_expert(sql, io.StringIO(data), size=1 << 20)


class InsertSink(Sink):
    """Any other database: batched ``INSERT``s with values prepared as Django would."""

    flush_rows = 5_000

    def __init__(self, connection, *, now: int, rename: dict[str, str] | None = None):
        super().__init__(connection, now=now, rename=rename)
        self.days = _Days()

    def _preparer(self, field: models.Field) -> Callable:
        connection = self.connection
        kind = _kind(field)
        if connection.vendor == "sqlite":
            # What Django itself stores on SQLite, without a call into the field per value: UTC
            # text without zone, JSON text, and ints, strings and bools as they are.
            if kind == "ts":
                days, seconds = self.days, _seconds_of_day("")
                return lambda v: None if v is None else days[v // 86_400] + seconds[v % 86_400]
            if kind == "json":
                return lambda v: None if v is None else json.dumps(v)
            if kind == "idarray":
                return lambda v: None if v is None else json.dumps(IdArrayField.normalize(v))
            return None  # as it is
        prepare = field.get_db_prep_save
        if kind == "ts":
            return lambda v: None if v is None else prepare(epoch_to_datetime(v), connection)
        return lambda v: prepare(v, connection)

    def encoder(self, table: Table) -> Callable[[tuple], tuple]:
        preparers = [self._preparer(f) for f in table.fields]
        extras = tuple(
            (p(v) if (p := self._preparer(f)) else v)
            for f, v in zip(table.extra_fields, table.extra_values, strict=True)
        )
        if all(p is None for p in preparers):
            return lambda row: row + extras
        steps = [(i, p) for i, p in enumerate(preparers) if p is not None]

        def encode(row: tuple) -> tuple:
            values = list(row)
            for i, prepare in steps:
                values[i] = prepare(values[i])
            return (*values, *extras)

        return encode

    def write(self, table: Table, rows: list[tuple]) -> None:
        qn = self.connection.ops.quote_name
        fields = [*table.fields, *table.extra_fields]
        columns = ", ".join(qn(f.column) for f in fields)
        marks = ", ".join(["%s"] * len(fields))
        sql = f"INSERT INTO {qn(self.table_name(table.model))} ({columns}) VALUES ({marks})"
        with self.connection.cursor() as cursor:
            cursor.executemany(sql, rows)
