"""Reads of group SOP: the rules and their runs, and the groups a rule posts to.

Rules are company-wide configuration, written by administrators and marketing managers (the roles
that may change them); the groups a rule reaches are resolved here, for the tick and the admin.
"""

from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from groups.models import GroupChat
from scrm.org.models import Staff

from ..models import GroupSopAttachment, GroupSopRule, GroupSopRun

__all__ = ["group_sop_rule_groups", "group_sop_rule_list", "group_sop_run_list"]


def group_sop_rule_list() -> QuerySet[GroupSopRule]:
    """Every rule, with its targets and attachments prefetched (one query each per page)."""
    return GroupSopRule.objects.prefetch_related(
        "groups",
        "owners",
        "group_tags",
        "stores",
        Prefetch("attachments", queryset=GroupSopAttachment.objects.defer("file_content")),
    )


def group_sop_run_list(*, rule: GroupSopRule | None = None) -> QuerySet[GroupSopRun]:
    runs = GroupSopRun.objects.select_related("rule")
    return runs.filter(rule=rule) if rule is not None else runs


def group_sop_rule_groups(*, rule: GroupSopRule) -> QuerySet[GroupChat]:
    """The live groups a rule posts to: the chosen groups, and every group of the chosen owners,
    group tags and stores (subtrees included), whose owner is an active staff member."""
    targets = Q(pk__in=rule.groups.values("pk"))
    targets |= Q(owner__in=rule.owners.values("pk"))
    targets |= Q(
        pk__in=GroupChat.tags.through.objects.filter(grouptag__in=rule.group_tags.values("pk")).values(
            "groupchat_id"
        )
    )
    for path in rule.stores.values_list("path", flat=True):
        targets |= Q(store__path__startswith=path)
    return (
        GroupChat.objects.filter(targets)
        .filter(status=GroupChat.Status.NORMAL, owner__status=Staff.Status.ACTIVE)
        .order_by("owner_id", "id")
    )
