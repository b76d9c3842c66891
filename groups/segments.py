"""The segment rules on group membership (registered into ``customers.segments`` by ``ready()``).

- ``groups_any``: [group chat ids], the customer is a member of any of them;
- ``in_any_group``: true (a member of some group chat) or false (of none).

A member is a ``GroupMember`` row of the customer that has not left (``left_at`` empty) in a group
that is not dismissed. ``EXISTS`` over the (customer, group) index, so that "in no group" stays
correct where member rows have no customer (staff, unknown external users).
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import Customer
from customers.segments import clean_bool, clean_id_list, segment_rule_register

from .models import GroupChat, GroupMember


def _memberships() -> QuerySet[GroupMember]:
    return GroupMember.objects.filter(customer_id=OuterRef("pk"), left_at__isnull=True).exclude(
        group__status=GroupChat.Status.DISMISSED
    )


def groups_any_clean(value) -> list[int]:
    return clean_id_list(value, model=GroupChat, noun=_("group chat"))


def groups_any_apply(customers: QuerySet[Customer], group_ids: list[int]) -> QuerySet[Customer]:
    return customers.filter(Exists(_memberships().filter(group_id__in=group_ids)))


def in_any_group_apply(customers: QuerySet[Customer], member: bool) -> QuerySet[Customer]:
    exists = Exists(_memberships())
    return customers.filter(exists if member else ~exists)


def group_choices() -> list[tuple[int, str]]:
    groups = GroupChat.objects.exclude(status=GroupChat.Status.DISMISSED).order_by("name")
    return [(g.id, str(g)) for g in groups.only("id", "name", "chat_id")[:2000]]


def segment_rules_register() -> None:
    segment_rule_register(
        "groups_any",
        label=gettext_lazy("Member of any of these group chats"),
        clean=groups_any_clean,
        apply=groups_any_apply,
        choices=group_choices,
    )
    segment_rule_register(
        "in_any_group",
        label=gettext_lazy("Member of some group chat"),
        clean=clean_bool,
        apply=in_any_group_apply,
        kind="bool",
    )
