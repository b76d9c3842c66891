"""Reads of group chats and members, always through the reader's data scope.

A group is in scope when its owner is: a guide sees the groups they own, a store manager the
groups owned by staff of their subtrees.
"""

from __future__ import annotations

from django.db.models import QuerySet

from scrm.org.scoping import scope_for

from .models import GroupChat, GroupMember


def group_list(*, user) -> QuerySet[GroupChat]:
    scope = scope_for(user)
    groups = GroupChat.objects.select_related("owner", "store")
    if scope.everything:
        return groups
    if scope.is_empty:
        return groups.none()
    return groups.filter(owner__in=scope.staff())


def group_member_list(*, user) -> QuerySet[GroupMember]:
    members = GroupMember.objects.select_related("group", "customer", "staff")
    scope = scope_for(user)
    if scope.everything:
        return members
    return members.filter(group__in=group_list(user=user))
