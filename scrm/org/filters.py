"""Filters of departments and staff, shared by the REST API and the admin."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from .models import Department, Staff
from .selectors import department_subtree, staff_in_departments


class DepartmentFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label=_("Search name"))
    parent = django_filters.ModelChoiceFilter(
        queryset=Department.objects.all(), label=_("Parent department (id)")
    )
    within = django_filters.ModelChoiceFilter(
        queryset=Department.objects.all(),
        method="filter_within",
        label=_("The department (id) and everything below it"),
    )
    wecom_id = django_filters.NumberFilter(label=_("WeCom id"))
    is_store = django_filters.BooleanFilter(label=_("Is a store"))

    class Meta:
        model = Department
        fields = []

    def filter_q(self, qs, name, value):
        value = value.strip()
        return qs.filter(name__icontains=value) if value else qs

    def filter_within(self, qs, name, value):
        return qs.filter(id__in=department_subtree(value).values("id")) if value else qs


class StaffFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label=_("Search name or userid"))
    userid = django_filters.CharFilter(label=_("WeCom userid"))
    status = django_filters.MultipleChoiceFilter(choices=Staff.Status.choices, label=_("Status"))
    department = django_filters.ModelChoiceFilter(
        queryset=Department.objects.all(),
        method="filter_department",
        label=_("In the department (id) or anywhere below it"),
    )
    main_department = django_filters.ModelChoiceFilter(
        queryset=Department.objects.all(), label=_("Main department (id)")
    )
    contact_enabled = django_filters.BooleanFilter(label=_("Customer contact enabled"))

    class Meta:
        model = Staff
        fields = []

    def filter_q(self, qs, name, value):
        value = value.strip()
        return qs.filter(Q(name__icontains=value) | Q(userid=value)) if value else qs

    def filter_department(self, qs, name, value):
        return qs.filter(id__in=staff_in_departments([value]).values("id")) if value else qs
