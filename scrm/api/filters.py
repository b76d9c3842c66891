"""The API's filter backend: django-filter, with dates held to a range the database can take."""

from __future__ import annotations

from datetime import date, datetime

from django.utils.translation import gettext as _
from django_filters import utils
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.exceptions import ValidationError

# Filters add a day or convert to UTC, so a date near year 1 or 9999 would overflow into a 500.
EARLIEST = date(1900, 1, 1)
LATEST = date(2999, 12, 31)


class FilterBackend(DjangoFilterBackend):
    def filter_queryset(self, request, queryset, view):
        filterset = self.get_filterset(request, queryset, view)
        if filterset is None:
            return queryset
        if not filterset.is_valid() and self.raise_exception:
            raise utils.translate_validation(filterset.errors)
        errors = {
            name: [
                _("Must be between %(earliest)s and %(latest)s.") % {"earliest": EARLIEST, "latest": LATEST}
            ]
            for name, value in filterset.form.cleaned_data.items()
            if isinstance(value, date) and not EARLIEST <= _day(value) <= LATEST
        }
        if errors:
            raise ValidationError(errors)
        return filterset.qs


def _day(value: date) -> date:
    return value.date() if isinstance(value, datetime) else value
