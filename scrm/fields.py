"""Model fields shared by the apps."""

from __future__ import annotations

import json
from collections.abc import Iterable

from django.db import models


class IdArrayField(models.Field):
    """A set of integer ids kept on the row itself, for fast "has any / all of these" filters.

    PostgreSQL stores it as ``bigint[]`` with a GIN index (see the migration that creates it), so
    a two-tag filter over a million customers is an index lookup, not a join. SQLite, the embedded
    default, stores JSON text and answers the same lookups with ``json_each``. Values are kept
    sorted and distinct; services maintain them, nothing writes them by hand.

    Lookups: ``field__has_all=[1, 2]`` (every id present) and ``field__has_any=[1, 2]``.
    """

    description = "A sorted set of integer ids"

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default", list)
        kwargs.setdefault("blank", True)
        kwargs["editable"] = False
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        kwargs.pop("default", None)
        kwargs.pop("blank", None)
        kwargs.pop("editable", None)
        return name, path, args, kwargs

    def db_type(self, connection) -> str:
        return "bigint[]" if connection.vendor == "postgresql" else "text"

    @staticmethod
    def normalize(values: Iterable[int] | None) -> list[int]:
        return sorted({int(v) for v in values or ()})

    def get_db_prep_value(self, value, connection, prepared=False):
        if value is None:
            return None
        values = self.normalize(value)
        return values if connection.vendor == "postgresql" else json.dumps(values)

    def from_db_value(self, value, expression, connection):
        if value is None or isinstance(value, list):
            return value
        return json.loads(value)

    def to_python(self, value):
        if isinstance(value, str):
            return json.loads(value)
        return self.normalize(value)


class _IdArrayLookup(models.Lookup):
    postgres_operator = ""

    def get_prep_lookup(self):
        return IdArrayField.normalize(self.rhs)

    def process_rhs(self, compiler, connection):
        return "", list(self.rhs)

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        ids = list(self.rhs)
        if connection.vendor == "postgresql":
            return f"{lhs} {self.postgres_operator} %s::bigint[]", [*lhs_params, ids]
        return self.as_json_sql(lhs, lhs_params, ids)

    def as_json_sql(self, lhs: str, lhs_params: list, ids: list[int]) -> tuple[str, list]:
        raise NotImplementedError


@IdArrayField.register_lookup
class HasAll(_IdArrayLookup):
    lookup_name = "has_all"
    postgres_operator = "@>"

    def as_json_sql(self, lhs, lhs_params, ids):
        if not ids:
            return "1 = 1", []
        marks = ", ".join(["%s"] * len(ids))
        sql = f"(SELECT COUNT(*) FROM json_each({lhs}) WHERE json_each.value IN ({marks})) = %s"
        return sql, [*lhs_params, *ids, len(ids)]


@IdArrayField.register_lookup
class HasAny(_IdArrayLookup):
    lookup_name = "has_any"
    postgres_operator = "&&"

    def as_json_sql(self, lhs, lhs_params, ids):
        if not ids:
            return "1 = 0", []
        marks = ", ".join(["%s"] * len(ids))
        return f"EXISTS (SELECT 1 FROM json_each({lhs}) WHERE json_each.value IN ({marks}))", [
            *lhs_params,
            *ids,
        ]
