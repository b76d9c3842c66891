"""Customer filters, shared by the REST API, the admin and (later) the mobile pages.

The query pieces are plain functions (``filter_tags_any`` …) so that the admin's list filters and
the FilterSet build exactly the same SQL.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

import django_filters
from django import forms
from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from scrm.org.models import Department, Staff
from scrm.org.selectors import staff_in_departments

from .models import Customer, Follow, LifecycleStage, Tag

# --- Query pieces ---------------------------------------------------------------------------------


def filter_tags_any(qs: QuerySet[Customer], tag_ids: Sequence[int]) -> QuerySet[Customer]:
    return qs.filter(tag_ids__has_any=list(tag_ids)) if tag_ids else qs


def filter_tags_all(qs: QuerySet[Customer], tag_ids: Sequence[int]) -> QuerySet[Customer]:
    return qs.filter(tag_ids__has_all=list(tag_ids)) if tag_ids else qs


def filter_tags_none(qs: QuerySet[Customer], tag_ids: Sequence[int]) -> QuerySet[Customer]:
    return qs.exclude(tag_ids__has_any=list(tag_ids)) if tag_ids else qs


def _followed(qs: QuerySet[Customer], follows: QuerySet[Follow]) -> QuerySet[Customer]:
    return qs.filter(id__in=follows.filter(status=Follow.Status.ACTIVE).values("customer_id"))


def filter_staff(qs: QuerySet[Customer], staff: Sequence[Staff]) -> QuerySet[Customer]:
    return _followed(qs, Follow.objects.filter(staff__in=staff)) if staff else qs


def filter_department(qs: QuerySet[Customer], department: Department | None) -> QuerySet[Customer]:
    if department is None:
        return qs
    return _followed(qs, Follow.objects.filter(staff__in=staff_in_departments([department])))


def filter_channel(qs: QuerySet[Customer], state: str) -> QuerySet[Customer]:
    return qs.filter(id__in=Follow.objects.filter(state=state).values("customer_id")) if state else qs


def day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def filter_added(qs: QuerySet[Customer], after: date | None, before: date | None) -> QuerySet[Customer]:
    """Customers first added on or after ``after`` and on or before ``before`` (local dates)."""
    if after:
        qs = qs.filter(first_added_at__gte=day_start(after))
    if before:
        qs = qs.filter(first_added_at__lt=day_start(before) + timedelta(days=1))
    return qs


# --- Form field for "1,2,3" or repeated ids ------------------------------------------------------


MAX_ID = 2**63 - 1


class IdListField(forms.ModelMultipleChoiceField):
    """Accepts ``?tags_any=1,2`` as well as ``?tags_any=1&tags_any=2``; unknown ids are an error."""

    default_error_messages = {
        "invalid_choice": _("Unknown id %(value)s."),
        "invalid_pk_value": _("“%(pk)s” is not a valid id."),
    }

    def clean(self, value):
        if isinstance(value, str):
            value = [value]
        if value:
            value = [part.strip() for item in value for part in str(item).split(",") if part.strip()]
            for part in value:
                # Checked here: a number past 64 bits would reach the database (and fail on SQLite).
                if not (part.isascii() and part.isdigit()) or int(part) > MAX_ID:
                    raise forms.ValidationError(
                        self.error_messages["invalid_pk_value"], code="invalid_pk_value", params={"pk": part}
                    )
        return super().clean(value)


class IdListFilter(django_filters.ModelMultipleChoiceFilter):
    field_class = IdListField


# --- FilterSet ------------------------------------------------------------------------------------


class CustomerFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label=_("Search name, external userid or unionid"))
    tags_any = IdListFilter(
        queryset=Tag.objects.filter(deleted=False), method="filter_tags_any", label=_("Has any of these tags")
    )
    tags_all = IdListFilter(
        queryset=Tag.objects.filter(deleted=False), method="filter_tags_all", label=_("Has all of these tags")
    )
    tags_none = IdListFilter(
        queryset=Tag.objects.filter(deleted=False),
        method="filter_tags_none",
        label=_("Has none of these tags"),
    )
    staff = IdListFilter(
        queryset=Staff.objects.all(), method="filter_staff", label=_("Followed by staff (ids)")
    )
    department = django_filters.ModelChoiceFilter(
        queryset=Department.objects.all(),
        method="filter_department",
        label=_("Followed by staff of department (id)"),
    )
    channel = django_filters.CharFilter(method="filter_channel", max_length=64, label=_("Channel (state)"))
    added_after = django_filters.DateFilter(method="filter_added_after", label=_("First added on or after"))
    added_before = django_filters.DateFilter(
        method="filter_added_before", label=_("First added on or before")
    )
    gender = django_filters.TypedChoiceFilter(choices=Customer.Gender.choices, coerce=int, label=_("Gender"))
    lifecycle_stage = django_filters.MultipleChoiceFilter(
        choices=LifecycleStage.choices, label=_("Lifecycle stage")
    )
    type = django_filters.TypedChoiceFilter(choices=Customer.Type.choices, coerce=int, label=_("Type"))

    class Meta:
        model = Customer
        fields = ["unionid", "external_userid"]

    def filter_q(self, qs, name, value):
        value = value.strip()
        if not value:
            return qs
        return qs.filter(Q(name__icontains=value) | Q(external_userid=value) | Q(unionid=value))

    def filter_tags_any(self, qs, name, value):
        return filter_tags_any(qs, [t.id for t in value])

    def filter_tags_all(self, qs, name, value):
        return filter_tags_all(qs, [t.id for t in value])

    def filter_tags_none(self, qs, name, value):
        return filter_tags_none(qs, [t.id for t in value])

    def filter_staff(self, qs, name, value):
        return filter_staff(qs, list(value))

    def filter_department(self, qs, name, value):
        return filter_department(qs, value)

    def filter_channel(self, qs, name, value):
        return filter_channel(qs, value)

    def filter_added_after(self, qs, name, value):
        return filter_added(qs, value, None)

    def filter_added_before(self, qs, name, value):
        return filter_added(qs, None, value)


class FollowFilterSet(django_filters.FilterSet):
    customer = django_filters.NumberFilter(field_name="customer_id", label=_("Customer id"))
    staff = IdListFilter(queryset=Staff.objects.all(), field_name="staff", label=_("Staff ids"))
    status = django_filters.MultipleChoiceFilter(choices=Follow.Status.choices, label=_("Status"))
    state = django_filters.CharFilter(label=_("Channel (state)"))
    added_after = django_filters.IsoDateTimeFilter(
        field_name="added_at", lookup_expr="gte", label=_("Added at or after")
    )
    added_before = django_filters.IsoDateTimeFilter(
        field_name="added_at", lookup_expr="lt", label=_("Added before")
    )

    class Meta:
        model = Follow
        fields = ["add_way"]
