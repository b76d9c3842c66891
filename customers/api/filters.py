"""Filters of corporate tags; customers and follows use ``customers.filters``."""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _

from customers.filters import IdListFilter
from customers.models import Tag, TagGroup


class TagGroupFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label=_("Search name"))
    wecom_id = django_filters.CharFilter(label=_("WeCom id"))

    class Meta:
        model = TagGroup
        fields = []


class TagFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(field_name="name", lookup_expr="icontains", label=_("Search name"))
    group = IdListFilter(queryset=TagGroup.objects.filter(deleted=False), label=_("Tag groups (ids)"))
    wecom_id = django_filters.CharFilter(label=_("WeCom id"))

    class Meta:
        model = Tag
        fields = []
