"""Filters of group chats and their members, shared by the REST API and the admin."""

from __future__ import annotations

import django_filters
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from customers.filters import IdListFilter
from customers.models import Customer
from scrm.org.models import Department, Staff
from scrm.org.selectors import department_subtree

from .models import GroupChat, GroupMember, GroupTag


class GroupChatFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label=_("Search name or chat id"))
    owner = IdListFilter(queryset=Staff.objects.all(), label=_("Owners (staff ids)"))
    store = django_filters.ModelChoiceFilter(
        queryset=Department.objects.all(),
        method="filter_store",
        label=_("Store: the department (id) or below it"),
    )
    status = django_filters.MultipleChoiceFilter(choices=GroupChat.Status.choices, label=_("Status"))
    kind = django_filters.MultipleChoiceFilter(choices=GroupChat.Kind.choices, label=_("Type"))
    tags_any = IdListFilter(
        queryset=GroupTag.objects.all(),
        field_name="tags",
        distinct=True,
        label=_("Has any of these group tags"),
    )
    created_after = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", label=_("Created at or after")
    )
    created_before = django_filters.IsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", label=_("Created before")
    )

    class Meta:
        model = GroupChat
        fields = ["chat_id"]

    def filter_q(self, qs, name, value):
        value = value.strip()
        return qs.filter(Q(name__icontains=value) | Q(chat_id=value)) if value else qs

    def filter_store(self, qs, name, value):
        return qs.filter(store__in=department_subtree(value)) if value else qs


class GroupMemberFilterSet(django_filters.FilterSet):
    q = django_filters.CharFilter(method="filter_q", label=_("Search name, nickname or member id"))
    group = IdListFilter(queryset=GroupChat.objects.all(), label=_("Groups (ids)"))
    customer = IdListFilter(queryset=Customer.objects.all(), label=_("Customers (ids)"))
    staff = IdListFilter(queryset=Staff.objects.all(), label=_("Staff (ids)"))
    kind = django_filters.TypedChoiceFilter(choices=GroupMember.Kind.choices, coerce=int, label=_("Kind"))
    present = django_filters.BooleanFilter(
        field_name="left_at", lookup_expr="isnull", label=_("Still in the group (true) or left (false)")
    )
    joined_after = django_filters.IsoDateTimeFilter(
        field_name="joined_at", lookup_expr="gte", label=_("Joined at or after")
    )
    joined_before = django_filters.IsoDateTimeFilter(
        field_name="joined_at", lookup_expr="lt", label=_("Joined before")
    )

    class Meta:
        model = GroupMember
        fields = ["member_id", "unionid", "state"]

    def filter_q(self, qs, name, value):
        value = value.strip()
        if not value:
            return qs
        return qs.filter(Q(name__icontains=value) | Q(group_nickname__icontains=value) | Q(member_id=value))
