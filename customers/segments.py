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

Every key is one clause and the clauses are ANDed; within a list the values are ORed (``tags_all``
excepted). Each rule is an entry of a registry (:func:`segment_rule_register`): this module
registers the rules on customers' own data, and apps above customers in the layers register
theirs from their ``ready()`` (groups: ``groups_any``, ``in_any_group``; campaigns:
``live_codes``), so customers never imports them.

Interface used by broadcasts and SOP (campaigns):
- :func:`segment_rules_clean` validates and normalizes rules (ValidationError with a message per
  bad key);
- :func:`segment_customers` is the unscoped queryset of matching customers (callers scope it);
- :func:`segment_count`, :func:`segment_sample` and :func:`segment_export_rows` read the audience
  within a login's scope when given one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.db.models import ProtectedError, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from scrm.org.models import Department, Staff
from scrm.org.selectors import staff_in_departments

from .filters import (
    MAX_ID,
    _followed,
    day_start,
    filter_added,
    filter_channel,
    filter_department,
    filter_staff,
    filter_tags_all,
    filter_tags_any,
    filter_tags_none,
)
from .models import Customer, Follow, LifecycleStage, Segment, Tag
from .selectors import customer_list, tag_names

# A list rule takes at most this many values: a segment names tags or staff, not a customer list.
MAX_RULE_VALUES = 1000
MAX_SPEND = Decimal("999999999999.99")
SAMPLE_SIZE = 20

# --- Registry -------------------------------------------------------------------------------------

Choices = Callable[[], Sequence[tuple[Any, Any]]]


@dataclass(frozen=True)
class SegmentRule:
    """One key of the rules.

    ``clean(value)`` returns the normalized, JSON-friendly value (or None to drop the key) and
    raises ``ValidationError`` with a message on a bad one; ``apply(customers, value)`` narrows a
    customer queryset by a clean value. ``kind`` and ``choices`` tell forms how to edit the value:
    "ids" (a multiple choice of ids), "values" (a multiple choice of strings), "bool", "date" or
    "decimal"; ``choices`` is a callable so that it reads the database only when a form is shown.
    """

    key: str
    label: Any
    clean: Callable[[Any], Any]
    apply: Callable[[QuerySet[Customer], Any], QuerySet[Customer]]
    kind: str = "ids"
    choices: Choices | None = None
    help_text: Any = ""


_RULES: dict[str, SegmentRule] = {}


def segment_rule_register(
    key: str,
    *,
    clean: Callable[[Any], Any],
    apply: Callable[[QuerySet[Customer], Any], QuerySet[Customer]],
    label: Any,
    kind: str = "ids",
    choices: Choices | None = None,
    help_text: Any = "",
) -> None:
    """Add (or replace, on a second ``ready()``) the rule ``key``."""
    _RULES[key] = SegmentRule(key, label, clean, apply, kind, choices, help_text)


def segment_rule_choices_register(key: str, choices: Choices) -> None:
    """Give an existing rule its choices (campaigns names the channels of ``channels``)."""
    _RULES[key] = replace(_RULES[key], choices=choices)


def segment_rule_list() -> list[SegmentRule]:
    """The registered rules, in the order forms show them."""
    return list(_RULES.values())


# --- Clean helpers (usable by the rules of other apps) --------------------------------------------


def clean_id_list(value: Any, *, model=None, queryset: QuerySet | None = None, noun: str = "") -> list[int]:
    """Distinct positive ids, in the given order, each of which must exist in ``queryset``."""
    if value is None or value == "":
        return []
    if isinstance(value, (int, str)):
        value = [value]
    if not isinstance(value, (list, tuple)):
        raise ValidationError(_("Expected a list of ids."))
    ids: list[int] = []
    for item in value:
        if isinstance(item, bool):
            raise ValidationError(_("“%(value)s” is not a valid id.") % {"value": item})
        text = str(item).strip()
        if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
            raise ValidationError(_("“%(value)s” is not a valid id.") % {"value": item})
        if int(text) not in ids:
            ids.append(int(text))
    if len(ids) > MAX_RULE_VALUES:
        raise ValidationError(_("At most %(max)s values.") % {"max": MAX_RULE_VALUES})
    if queryset is None and model is not None:
        queryset = model.objects.all()
    if queryset is not None and ids:
        known = set(queryset.filter(pk__in=ids).values_list("pk", flat=True))
        unknown = [i for i in ids if i not in known]
        if unknown:
            raise ValidationError(
                _("Unknown %(noun)s id %(ids)s.")
                % {"noun": noun or queryset.model._meta.verbose_name, "ids": ", ".join(map(str, unknown))}
            )
    return ids


def clean_date(value: Any) -> str | None:
    """A day as "YYYY-MM-DD" (dates and datetimes are accepted as such)."""
    if value is None or value == "":
        return None
    if isinstance(value, date):
        return value.isoformat()[:10]
    if isinstance(value, str):
        try:
            return date.fromisoformat(value.strip()).isoformat()
        except ValueError:
            pass
    raise ValidationError(_("“%(value)s” is not a date (YYYY-MM-DD).") % {"value": value})


def clean_bool(value: Any) -> bool | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false", "yes", "no", "1", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    raise ValidationError(_("Expected true or false."))


def _clean_choice_list(value: Any, choices, *, coerce=str) -> list:
    if value is None or value == "":
        return []
    if not isinstance(value, (list, tuple)):
        value = [value]
    allowed = [c for c, _label in choices]
    cleaned = []
    for raw in value:
        try:
            item = coerce(raw) if not isinstance(raw, bool) else None
        except (TypeError, ValueError):
            item = None
        if item not in allowed:
            raise ValidationError(
                _("“%(value)s” is not one of %(allowed)s.")
                % {"value": raw, "allowed": ", ".join(map(str, allowed))}
            )
        if item not in cleaned:
            cleaned.append(item)
    return cleaned


def _clean_states(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    if isinstance(value, str):
        value = value.split(",")
    if not isinstance(value, (list, tuple)):
        raise ValidationError(_("Expected a list of channel states."))
    states = []
    for item in value:
        if not isinstance(item, str):
            raise ValidationError(_("Expected a list of channel states."))
        item = item.strip()
        if len(item) > 64:
            raise ValidationError(_("A channel state has at most 64 characters."))
        if item and item not in states:
            states.append(item)
    if len(states) > MAX_RULE_VALUES:
        raise ValidationError(_("At most %(max)s values.") % {"max": MAX_RULE_VALUES})
    return states


def _clean_decimal(value: Any) -> str | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise ValidationError(_("Expected an amount."))
    try:
        amount = Decimal(str(value).strip())
    except InvalidOperation:
        raise ValidationError(_("“%(value)s” is not an amount.") % {"value": value}) from None
    if not amount.is_finite() or amount < 0 or amount > MAX_SPEND:
        raise ValidationError(_("An amount from 0 to %(max)s.") % {"max": MAX_SPEND})
    return str(amount.quantize(Decimal("0.01")))


def _tags(value):
    return clean_id_list(value, queryset=Tag.objects.filter(deleted=False), noun=_("tag"))


# --- Apply helpers --------------------------------------------------------------------------------


def _as_date(value: str | date) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def filter_channels(qs: QuerySet[Customer], states: Sequence[str]) -> QuerySet[Customer]:
    """Customers added through any of ``states``; one state is exactly ``filter_channel``."""
    if len(states) == 1:
        return filter_channel(qs, states[0])
    return (
        qs.filter(id__in=Follow.objects.filter(state__in=list(states)).values("customer_id"))
        if states
        else qs
    )


def _departments(qs: QuerySet[Customer], ids: Sequence[int]) -> QuerySet[Customer]:
    departments = list(Department.objects.filter(id__in=ids).order_by().only("id", "path"))
    if not departments:
        return qs.none()
    if len(departments) == 1:
        return filter_department(qs, departments[0])
    return _followed(qs, Follow.objects.filter(staff__in=staff_in_departments(departments)))


def _added_after(qs, value):
    return filter_added(qs, _as_date(value), None)


def _added_before(qs, value):
    return filter_added(qs, None, _as_date(value))


def _last_order_after(qs, value):
    return qs.filter(last_order_at__gte=day_start(_as_date(value)))


def _last_order_before(qs, value):
    return qs.filter(last_order_at__lt=day_start(_as_date(value)) + timedelta(days=1))


def _spend_min(qs, value):
    # Spend starts at 0 for everyone: a positive minimum matches no one until orders arrive.
    return qs.filter(spend_90d__gte=Decimal(value))


def _spend_max(qs, value):
    return qs.filter(spend_90d__lte=Decimal(value))


def _gender(qs, values):
    return qs.filter(gender=values[0]) if len(values) == 1 else qs.filter(gender__in=values)


def _stages(qs, values):
    return qs.filter(lifecycle_stage=values[0]) if len(values) == 1 else qs.filter(lifecycle_stage__in=values)


def _tag_choices():
    grouped: dict[str, list[tuple[int, str]]] = {}
    for tag in Tag.objects.filter(deleted=False, group__deleted=False).select_related("group"):
        grouped.setdefault(tag.group.name, []).append((tag.id, tag.name))
    return list(grouped.items())


def _staff_choices():
    return list(Staff.objects.order_by("name").values_list("id", "name"))


def _department_choices():
    return [(d.id, d.name) for d in Department.objects.order_by("path").only("id", "name")]


def _channel_choices_from_follows():
    # Without campaigns' channel names, the states customers were added with (a bounded read).
    states = Follow.objects.exclude(state="").order_by("state").values_list("state", flat=True).distinct()
    return [(s, s) for s in states[:500]]


ORDERS_HELP = gettext_lazy("Empty until orders arrive from the order system: matches no one for now.")

for _key, _options in {
    "tags_any": dict(
        label=gettext_lazy("Has any of these tags"), clean=_tags, apply=filter_tags_any, choices=_tag_choices
    ),
    "tags_all": dict(
        label=gettext_lazy("Has all of these tags"), clean=_tags, apply=filter_tags_all, choices=_tag_choices
    ),
    "tags_none": dict(
        label=gettext_lazy("Has none of these tags"),
        clean=_tags,
        apply=filter_tags_none,
        choices=_tag_choices,
    ),
    "staff": dict(
        label=gettext_lazy("Followed by any of these staff"),
        clean=lambda v: clean_id_list(v, model=Staff, noun=_("staff")),
        apply=filter_staff,
        choices=_staff_choices,
    ),
    "departments": dict(
        label=gettext_lazy("Followed by staff of these departments"),
        clean=lambda v: clean_id_list(v, model=Department, noun=_("department")),
        apply=_departments,
        choices=_department_choices,
        help_text=gettext_lazy("Sub-departments included."),
    ),
    "channels": dict(
        label=gettext_lazy("Added through these channels"),
        clean=_clean_states,
        apply=filter_channels,
        kind="values",
        choices=_channel_choices_from_follows,
    ),
    "added_after": dict(
        label=gettext_lazy("First added on or after"), clean=clean_date, apply=_added_after, kind="date"
    ),
    "added_before": dict(
        label=gettext_lazy("First added on or before"), clean=clean_date, apply=_added_before, kind="date"
    ),
    "gender": dict(
        label=gettext_lazy("Gender"),
        clean=lambda v: _clean_choice_list(v, Customer.Gender.choices, coerce=int),
        apply=_gender,
        kind="values",
        choices=lambda: Customer.Gender.choices,
    ),
    "lifecycle_stages": dict(
        label=gettext_lazy("Lifecycle stage"),
        clean=lambda v: _clean_choice_list(v, LifecycleStage.choices),
        apply=_stages,
        kind="values",
        choices=lambda: LifecycleStage.choices,
    ),
    "spend_min": dict(
        label=gettext_lazy("Spend in the last 90 days at least"),
        clean=_clean_decimal,
        apply=_spend_min,
        kind="decimal",
        help_text=ORDERS_HELP,
    ),
    "spend_max": dict(
        label=gettext_lazy("Spend in the last 90 days at most"),
        clean=_clean_decimal,
        apply=_spend_max,
        kind="decimal",
        help_text=ORDERS_HELP,
    ),
    "last_order_after": dict(
        label=gettext_lazy("Last order on or after"),
        clean=clean_date,
        apply=_last_order_after,
        kind="date",
        help_text=ORDERS_HELP,
    ),
    "last_order_before": dict(
        label=gettext_lazy("Last order on or before"),
        clean=clean_date,
        apply=_last_order_before,
        kind="date",
        help_text=ORDERS_HELP,
    ),
}.items():
    segment_rule_register(_key, **_options)
del _key, _options

# Pairs that must not contradict each other: (low key, high key).
_RANGES = (
    ("added_after", "added_before"),
    ("last_order_after", "last_order_before"),
    ("spend_min", "spend_max"),
)


# --- Interface ------------------------------------------------------------------------------------


def segment_rules_clean(rules: Any) -> dict:
    """Validated, normalized rules; raises ``ValidationError`` naming each bad key.

    Empty values (None, "", []) are dropped, ids are checked against the database (a deleted tag is
    an unknown tag), dates become "YYYY-MM-DD" and amounts "123.45". The errors are a dict
    ``{key: [message]}`` (``ValidationError.message_dict``).
    """
    if rules is None:
        return {}
    if not isinstance(rules, dict):
        raise ValidationError({"rules": [_("Rules must be a JSON object.")]})
    errors: dict[str, list[str]] = {}
    clean: dict[str, Any] = {}
    for key, value in rules.items():
        rule = _RULES.get(key)
        if rule is None:
            errors[str(key)] = [_("Unknown rule “%(key)s”.") % {"key": key}]
            continue
        try:
            value = rule.clean(value)
        except ValidationError as error:
            errors[key] = error.messages
            continue
        if value is not None and value != []:
            clean[key] = value
    for low, high in _RANGES:
        if low in clean and high in clean:
            lo, hi = clean[low], clean[high]
            if (Decimal(lo) > Decimal(hi)) if low == "spend_min" else lo > hi:
                errors.setdefault(high, []).append(
                    _("Must not be before “%(low)s”.") % {"low": low}
                    if low != "spend_min"
                    else _("Must not be less than “%(low)s”.") % {"low": low}
                )
    if errors:
        raise ValidationError(errors)
    return clean


def segment_filter(customers: QuerySet[Customer], rules: dict) -> QuerySet[Customer]:
    """``customers`` narrowed by the (clean) rules, in the registry's order.

    A key no app registers any more (an app removed) matches no one rather than everyone: an
    audience must never silently widen.
    """
    if any(key not in _RULES for key in rules):
        return customers.none()
    for key, rule in _RULES.items():
        value = rules.get(key)
        if value is None or value == [] or value == "":
            continue
        customers = rule.apply(customers, value)
    return customers


def segment_customers(rules: dict) -> QuerySet[Customer]:
    """Every customer the (clean) rules match, unscoped."""
    return segment_filter(Customer.objects.all(), rules)


def segment_customers_for(rules: dict, *, user=None) -> QuerySet[Customer]:
    """The matching customers ``user`` may see (every one when ``user`` is None)."""
    base = Customer.objects.all() if user is None else customer_list(user=user)
    return segment_filter(base, rules)


def segment_count(rules: dict, *, user=None) -> int:
    """How many customers the (clean) rules match, within ``user``'s scope when given."""
    return segment_customers_for(rules, user=user).count()


def segment_sample(rules: dict, *, limit: int = SAMPLE_SIZE, user=None) -> list[Customer]:
    """The newest ``limit`` matching customers (the few columns a preview shows)."""
    customers = segment_customers_for(rules, user=user)
    return list(
        customers.order_by("-id").only("id", "name", "external_userid", "gender", "lifecycle_stage")[:limit]
    )


def segment_save(segment: Segment, *, by=None) -> Segment:
    """Validate and save ``segment`` (its rules normalized); ``by`` becomes the creator of a new one."""
    segment.rules = segment_rules_clean(segment.rules)
    if segment.pk is None and by is not None and getattr(by, "is_authenticated", False):
        segment.created_by = by
    segment.full_clean()
    segment.save()
    return segment


def segment_delete(segment: Segment) -> None:
    """Delete ``segment``; one a broadcast names stays (its audience must remain explainable)."""
    try:
        segment.delete()
    except ProtectedError:
        raise ValidationError(
            _("The segment “%(name)s” is used by broadcasts and cannot be deleted.") % {"name": segment.name}
        ) from None


def segment_count_refresh(*, segment: Segment) -> int:
    """Count ``segment`` over every customer and remember it (``last_count``) for the lists."""
    count = segment_count(segment.rules or {})
    now = timezone.now()
    Segment.objects.filter(pk=segment.pk).update(last_count=count, last_counted_at=now)
    segment.last_count, segment.last_counted_at = count, now
    return count


EXPORT_HEADER = (
    gettext_lazy("id"),
    gettext_lazy("external userid"),
    gettext_lazy("name"),
    gettext_lazy("gender"),
    gettext_lazy("lifecycle stage"),
    gettext_lazy("first added at"),
    gettext_lazy("corporate tags"),
    gettext_lazy("spend in the last 90 days"),
    gettext_lazy("last order at"),
)
EXPORT_CHUNK = 2000


def segment_export_rows(rules: dict, *, user) -> Iterator[list]:
    """The matching customers ``user`` may see as CSV rows, read ``EXPORT_CHUNK`` at a time.

    Tag names come from the cached tag map, so the rows cost one query per chunk.
    """
    names = tag_names()
    genders = dict(Customer.Gender.choices)
    stages = dict(LifecycleStage.choices)
    customers = (
        segment_customers_for(rules, user=user)
        .order_by("-id")
        .values_list(
            "id",
            "external_userid",
            "name",
            "gender",
            "lifecycle_stage",
            "first_added_at",
            "tag_ids",
            "spend_90d",
            "last_order_at",
        )
    )
    for cid, ext, name, gender, stage, added, tags, spend, last_order in customers.iterator(
        chunk_size=EXPORT_CHUNK
    ):
        yield [
            cid,
            ext,
            name,
            genders.get(gender, gender),
            stages.get(stage, stage),
            timezone.localtime(added),
            "; ".join(f"{names[t][0]}/{names[t][1]}" for t in tags or () if t in names),
            spend,
            timezone.localtime(last_order) if last_order else "",
        ]


def segment_export_response(rules: dict, *, user, filename: str):
    """A streamed CSV download of :func:`segment_export_rows`."""
    from scrm.admin import csv_streaming_response

    return csv_streaming_response(
        filename, [str(h) for h in EXPORT_HEADER], segment_export_rows(rules, user=user)
    )
