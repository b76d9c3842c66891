"""Reads of group live codes: the list, and the joins each code brought, per group and by day.

Joins are the group members who carry the code's ``state`` (WeCom puts the join way's state on
each member who joined through it, ``GroupMember.state``). Every query is bounded by the code's
groups (``GroupMember``'s ``(group, member_id)`` index leads with the group), so a code costs what
its groups hold (a few hundred members each), never a scan of all members.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from django.db.models import Count, Q, QuerySet
from django.db.models.functions import TruncDate
from django.utils import timezone

from groups.models import GroupMember

from ..models import GroupCode, GroupCodeChat

__all__ = [
    "groupcode_list",
    "groupcode_group_counts",
    "groupcode_joins_since",
    "groupcode_joins_by_day",
    "groupcode_members_by_group",
]


def groupcode_list(*, user=None) -> QuerySet[GroupCode]:
    """Group codes, with their channel. A company-wide marketing tool like channels: whoever may
    view them (their role's permission) sees them all."""
    return GroupCode.objects.select_related("channel", "welcome_template")


def groupcode_group_counts(*, code_ids: Iterable[int]) -> dict[int, dict[str, int]]:
    """``{code_id: {status: groups}}`` for these codes, in one query."""
    counts: dict[int, dict[str, int]] = {}
    rows = (
        GroupCodeChat.objects.filter(code_id__in=list(code_ids))
        .values("code_id", "status")
        .annotate(n=Count("id"))
        .order_by()
    )
    for row in rows:
        counts.setdefault(row["code_id"], {})[row["status"]] = row["n"]
    return counts


def _day_start(day: date) -> datetime:
    return timezone.make_aware(datetime.combine(day, time.min))


def groupcode_joins_since(*, codes: Iterable[GroupCode], since: datetime) -> dict[int, int]:
    """``{code_id: members who joined the code's groups through it since ``since``}``, one query.

    A page of the admin list asks for today's joins of its codes at once.
    """
    codes = list(codes)
    by_state = {c.channel.state: c.pk for c in codes}
    if not by_state:
        return {}
    seats = GroupCodeChat.objects.filter(code_id__in=[c.pk for c in codes]).values("group_id")
    rows = (
        GroupMember.objects.filter(group_id__in=seats, state__in=list(by_state), joined_at__gte=since)
        .values("state")
        .annotate(n=Count("id"))
        .order_by()
    )
    return {by_state[row["state"]]: row["n"] for row in rows}


def groupcode_joins_by_day(*, code: GroupCode, first_day: date, last_day: date) -> list[dict]:
    """Joins through the code per day and group: ``[{day, group_id, joins, still_in}]``.

    Days are in ``TIME_ZONE``; ``still_in`` counts those of the day's joiners who have not left.
    """
    members = GroupMember.objects.filter(
        group_id__in=code.chats.values("group_id"),
        state=code.state,
        joined_at__gte=_day_start(first_day),
        joined_at__lt=_day_start(last_day + timedelta(days=1)),
    )
    return list(
        members.annotate(day=TruncDate("joined_at"))
        .values("day", "group_id")
        .annotate(joins=Count("id"), still_in=Count("id", filter=Q(left_at__isnull=True)))
        .order_by("day", "group_id")
    )


def groupcode_members_by_group(*, code: GroupCode) -> list[dict]:
    """Each group of the code in order: its seat, its size, and who came through the code.

    ``[{seat, members, joined, still_in}]``: ``members`` is the group's size as WeCom last told
    us, ``joined`` everyone who ever joined it with the code's state, ``still_in`` those present.
    """
    seats = list(code.chats.select_related("group"))
    rows = (
        GroupMember.objects.filter(group_id__in=[s.group_id for s in seats], state=code.state)
        .values("group_id")
        .annotate(joined=Count("id"), still_in=Count("id", filter=Q(left_at__isnull=True)))
        .order_by()
    )
    by_group = {row["group_id"]: row for row in rows}
    return [
        {
            "seat": seat,
            "members": seat.group.member_count,
            "joined": by_group.get(seat.group_id, {}).get("joined", 0),
            "still_in": by_group.get(seat.group_id, {}).get("still_in", 0),
        }
        for seat in seats
    ]
