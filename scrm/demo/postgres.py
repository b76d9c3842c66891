"""PostgreSQL bulk-load plumbing: empty tables, set indexes and foreign keys aside, put them back.

Loading millions of rows into tables that keep their secondary indexes and foreign-key triggers
costs a B-tree insert per index and a trigger per key for every row. Building each index once
after the load, and validating each foreign key with one anti-join, is many times faster. Every
step runs inside the caller's transaction, so a failed load leaves the database as it was.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from django.core.management.color import no_style


@dataclass
class SetAside:
    """What ``set_aside`` removed, as the statements that bring it back (indexes before keys)."""

    indexes: list[str] = field(default_factory=list)
    foreign_keys: list[str] = field(default_factory=list)


def referencing_tables(cursor, tables: list[str]) -> set[str]:
    """Tables outside ``tables`` that refer to them by foreign key, directly or through each other."""
    found: set[str] = set()
    frontier = set(tables)
    while frontier:
        cursor.execute(
            """
            SELECT DISTINCT c.conrelid::regclass::text
            FROM pg_constraint c
            WHERE c.contype = 'f' AND c.confrelid = ANY(%s::regclass[])
            """,
            [sorted(frontier)],
        )
        new = {row[0].strip('"') for row in cursor.fetchall()} - set(tables) - found
        found |= new
        frontier = new
    return found


def truncate(cursor, tables: list[str], *, cascade: bool) -> None:
    names = ", ".join(f'"{t}"' for t in tables)
    cursor.execute(f"TRUNCATE {names} RESTART IDENTITY{' CASCADE' if cascade else ''}")


def set_aside(cursor, tables: list[str]) -> SetAside:
    """Drop the foreign keys, unique constraints and secondary indexes of ``tables`` (primary keys stay)."""
    aside = SetAside()
    for table in tables:
        cursor.execute(
            """
            SELECT conname, contype, pg_get_constraintdef(oid)
            FROM pg_constraint
            WHERE conrelid = %s::regclass AND contype IN ('f', 'u')
            ORDER BY contype, conname
            """,
            [table],
        )
        for name, kind, definition in cursor.fetchall():
            cursor.execute(f'ALTER TABLE "{table}" DROP CONSTRAINT "{name}"')
            statement = f'ALTER TABLE "{table}" ADD CONSTRAINT "{name}" {definition}'
            (aside.foreign_keys if kind == "f" else aside.indexes).append(statement)
        cursor.execute(
            """
            SELECT i.indexrelid::regclass::text, pg_get_indexdef(i.indexrelid)
            FROM pg_index i
            WHERE i.indrelid = %s::regclass AND NOT i.indisprimary
              AND NOT EXISTS (
                SELECT 1 FROM pg_constraint c
                WHERE c.conrelid = i.indrelid AND c.conindid = i.indexrelid AND c.contype IN ('p', 'u', 'x')
              )
            ORDER BY 1
            """,
            [table],
        )
        for name, definition in cursor.fetchall():
            cursor.execute(f"DROP INDEX {name}")
            aside.indexes.append(definition)
    return aside


def put_back(cursor, aside: SetAside, progress=None) -> None:
    """Rebuild what ``set_aside`` dropped: each index in one sorted pass, each key in one anti-join."""
    cursor.execute("SET LOCAL maintenance_work_mem = '512MB'")
    for statement in [*aside.indexes, *aside.foreign_keys]:
        if progress:
            progress(statement[:100])
        cursor.execute(statement)


def reset_sequences(connection, models) -> None:
    """Move each table's id sequence past the ids the load chose."""
    statements = connection.ops.sequence_reset_sql(no_style(), list(models))
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement)


def analyze(connection, tables: list[str], *, vacuum: bool) -> None:
    """Fresh planner statistics; with ``vacuum`` (outside a transaction) also the visibility map."""
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(f'{"VACUUM (ANALYZE)" if vacuum else "ANALYZE"} "{table}"')
