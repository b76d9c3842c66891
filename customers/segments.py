"""Segments: saved audiences as rules over customers (PRODUCT.md B3).

The rules format, a JSON object (every key optional; an empty object matches every customer):

    {"tags_any": [tag ids], "tags_all": [tag ids], "tags_none": [tag ids],
     "staff": [staff ids], "departments": [department ids],   # followed (actively) by them
     "channels": [states],                                    # added through these channels
     "added_after": "YYYY-MM-DD", "added_before": "YYYY-MM-DD",
     "gender": [0|1|2], "lifecycle_stages": [stage values],
     "groups_any": [group ids] | "in_any_group": true|false,
     "spend_min": "123.45", "spend_max": ..., "last_order_after": date, "last_order_before": date,
     ...rules other apps register (live codes from campaigns, groups from groups)}

Interface used by broadcasts and SOP (campaigns):
- :func:`segment_rules_clean` validates and normalizes rules (ValidationError with a message per
  bad key);
- :func:`segment_customers` is the unscoped queryset of matching customers (callers scope it).
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from .models import Customer


def segment_rules_clean(rules: Any) -> dict:
    """Validated, normalized rules; raises ``ValidationError`` naming each bad key."""
    raise NotImplementedError


def segment_customers(rules: dict) -> QuerySet[Customer]:
    """Every customer the (clean) rules match, unscoped."""
    raise NotImplementedError
