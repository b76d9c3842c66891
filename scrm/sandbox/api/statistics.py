"""Statistics: members' behaviour and customer groups, by day (WECOM.md §11).

Figures come from what the sandbox knows: ``new_contact_cnt`` from follows' ``createtime``,
``negative_feedback_cnt`` from recorded deletions by the customer, group counts from each group's
``create_time`` and its members' ``join_time``; chat and message counts from the activity the
player generates (:class:`~..models.SandboxChatActivity`, :class:`~..models.SandboxGroupActivity`).
Days are China days (UTC+8), as WeCom counts them; timestamps are floored to 00:00 China time.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, F

from ..clock import sandbox_time
from ..models import (
    SandboxChatActivity,
    SandboxFollow,
    SandboxFollowDeletion,
    SandboxGroupActivity,
    SandboxGroupChat,
    SandboxMember,
)
from .base import ApiError, Ctx, Json, endpoint, int_param, str_list
from .contact_ways import members_expand

DAY = 86400
CHINA_OFFSET = 8 * 3600
MAX_SPAN_DAYS = 30
HISTORY_DAYS = 180
MAX_IDS = 100
MAX_VISIBLE_MEMBERS = 1000
GROUP_ORDER = {1: "new_chat_cnt", 2: "chat_total", 3: "new_member_cnt", 4: "member_total"}


def day_start(timestamp: int) -> int:
    """The Unix time of 00:00 China time on the day of ``timestamp``."""
    return (timestamp + CHINA_OFFSET) // DAY * DAY - CHINA_OFFSET


def day_date(timestamp: int) -> date:
    return date(1970, 1, 1) + timedelta(days=(timestamp + CHINA_OFFSET) // DAY)


def date_start(day: date) -> int:
    return (day - date(1970, 1, 1)).days * DAY - CHINA_OFFSET


def _range(begin: Any, end: Any, *, begin_name: str, end_name: str, latest: int) -> list[int]:
    """The day starts from ``begin`` to ``end`` inclusive, checked against WeCom's rules."""
    first = day_start(int_param(begin, begin_name))
    last = day_start(int_param(end, end_name, default=first))
    today = day_start(sandbox_time())
    if last < first:
        raise ApiError(40058, f"{end_name} is before {begin_name}")
    if (last - first) // DAY + 1 > MAX_SPAN_DAYS:
        raise ApiError(40058, f"the span is at most {MAX_SPAN_DAYS} days")
    if first < today - HISTORY_DAYS * DAY:
        raise ApiError(40058, f"only the last {HISTORY_DAYS} days are kept")
    if last > latest:
        raise ApiError(40058, f"{end_name} is too recent")
    return list(range(first, last + DAY, DAY))


def _ids(value: Any, name: str) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(40058, f"{name} must be a list")
    if len(value) > MAX_IDS:
        raise ApiError(81017, f"{name} holds at most {MAX_IDS} ids")
    return value


# --- members' behaviour -------------------------------------------------------------------------------


@endpoint("externalcontact/get_user_behavior_data", "POST", contact=True)
def get_user_behavior_data(ctx: Ctx) -> Json:
    users = str_list(_ids(ctx.body.get("userid"), "userid"), "userid")
    parties = _ids(ctx.body.get("partyid"), "partyid")
    if not all(isinstance(p, int) and not isinstance(p, bool) for p in parties):
        raise ApiError(40058, "partyid must be a list of department ids")
    if not users and not parties:
        raise ApiError(40058, "userid or partyid is required")
    days = _range(
        ctx.body.get("start_time"),
        ctx.body.get("end_time"),
        begin_name="start_time",
        end_name="end_time",
        latest=day_start(sandbox_time()),
    )
    known = set(
        SandboxMember.objects.filter(corp_id=ctx.corp_id, userid__in=users).values_list("userid", flat=True)
    )
    unknown = [u for u in users if u not in known]
    if unknown:
        raise ApiError(60111, f"userid {unknown[0]}")
    userids = members_expand(ctx.corp_id, users, parties)
    first, end = days[0], days[-1] + DAY

    new_contacts = dict(
        SandboxFollow.objects.filter(
            member__corp_id=ctx.corp_id, member__userid__in=userids, createtime__gte=first, createtime__lt=end
        )
        .annotate(day=(F("createtime") + CHINA_OFFSET) / DAY)
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    negative = dict(
        SandboxFollowDeletion.objects.filter(
            corp_id=ctx.corp_id,
            userid__in=userids,
            by_customer=True,
            deleted_at__gte=first,
            deleted_at__lt=end,
        )
        .annotate(day=(F("deleted_at") + CHINA_OFFSET) / DAY)
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    activity: dict[date, list[SandboxChatActivity]] = defaultdict(list)
    for row in SandboxChatActivity.objects.filter(
        corp_id=ctx.corp_id, userid__in=userids, day__gte=day_date(first), day__lte=day_date(days[-1])
    ):
        activity[row.day].append(row)

    behavior = []
    for start in days:
        day_number = (start + CHINA_OFFSET) // DAY
        rows = activity.get(day_date(start), [])
        chat_cnt = sum(r.chat_cnt for r in rows)
        item: Json = {
            "stat_time": start,
            "new_apply_cnt": sum(r.new_apply_cnt for r in rows),
            "new_contact_cnt": int(new_contacts.get(day_number, 0)),
            "chat_cnt": chat_cnt,
            "message_cnt": sum(r.message_cnt for r in rows),
            "negative_feedback_cnt": int(negative.get(day_number, 0)),
        }
        if chat_cnt:
            # Only present when there were chats; several members → weighted by their chats.
            replied = [r for r in rows if r.chat_cnt and r.reply_percentage is not None]
            timed = [r for r in rows if r.chat_cnt and r.avg_reply_time is not None]
            if replied:
                weight = sum(r.chat_cnt for r in replied)
                item["reply_percentage"] = round(
                    sum(r.reply_percentage * r.chat_cnt for r in replied) / weight, 2
                )
            if timed:
                weight = sum(r.chat_cnt for r in timed)
                item["avg_reply_time"] = round(sum(r.avg_reply_time * r.chat_cnt for r in timed) / weight)
        behavior.append(item)
    return {"behavior_data": behavior}


# --- customer groups ----------------------------------------------------------------------------------


def _owners(ctx: Ctx) -> list[str] | None:
    """The owner filter, or None for every owner (81017 when that is over 1000 members)."""
    owner_filter = ctx.body.get("owner_filter") or {}
    if not isinstance(owner_filter, dict):
        raise ApiError(40058, "owner_filter must be an object")
    owners = str_list(_ids(owner_filter.get("userid_list"), "owner_filter.userid_list"), "userid_list")
    if owners:
        return owners
    if SandboxMember.objects.filter(corp_id=ctx.corp_id).count() > MAX_VISIBLE_MEMBERS:
        raise ApiError(81017)
    return None


GROUP_FIELDS = (
    "new_chat_cnt",
    "chat_total",
    "chat_has_msg",
    "new_member_cnt",
    "member_total",
    "member_has_msg",
    "msg_total",
    "migrate_trainee_chat_cnt",  # education corps only: always 0 here
)


def _empty() -> dict[str, int]:
    return dict.fromkeys(GROUP_FIELDS, 0)


def _group_days(ctx: Ctx, days: list[int], owners: list[str] | None) -> dict[tuple[str, int], dict[str, int]]:
    """``(owner, day start) → data`` for the owners' groups on each day."""
    chats = SandboxGroupChat.objects.filter(corp_id=ctx.corp_id, create_time__lt=days[-1] + DAY)
    if owners is not None:
        chats = chats.filter(owner__in=owners)
    rows = list(chats.values_list("chat_id", "owner", "create_time", "member_list"))
    messages: dict[tuple[str, date], tuple[int, int]] = {
        (chat_id, day): (msg_total, member_has_msg)
        for chat_id, day, msg_total, member_has_msg in SandboxGroupActivity.objects.filter(
            corp_id=ctx.corp_id,
            chat_id__in=[r[0] for r in rows],
            day__gte=day_date(days[0]),
            day__lte=day_date(days[-1]),
        ).values_list("chat_id", "day", "msg_total", "member_has_msg")
    }
    result: dict[tuple[str, int], dict[str, int]] = {}
    for chat_id, owner, create_time, member_list in rows:
        joins = [int(m.get("join_time") or create_time) for m in member_list or ()]
        for start in days:
            end = start + DAY
            if create_time >= end:
                continue
            data = result.setdefault(
                (owner, start),
                _empty(),
            )
            data["chat_total"] += 1
            data["new_chat_cnt"] += int(create_time >= start)
            data["member_total"] += sum(1 for t in joins if t < end)
            data["new_member_cnt"] += sum(1 for t in joins if start <= t < end)
            msg_total, member_has_msg = messages.get((chat_id, day_date(start)), (0, 0))
            data["msg_total"] += msg_total
            data["member_has_msg"] += member_has_msg
            data["chat_has_msg"] += int(msg_total > 0)
    return result


def _days(ctx: Ctx) -> list[int]:
    yesterday = day_start(sandbox_time()) - DAY
    return _range(
        ctx.body.get("day_begin_time"),
        ctx.body.get("day_end_time"),
        begin_name="day_begin_time",
        end_name="day_end_time",
        latest=yesterday,
    )


@endpoint("externalcontact/groupchat/statistic", "POST", contact=True)
def groupchat_statistic(ctx: Ctx) -> Json:
    """By owner over the range: new counts and messages summed, totals as of the last day."""
    days = _days(ctx)
    owners = _owners(ctx)
    order_by = int_param(ctx.body.get("order_by"), "order_by", default=1)
    if order_by not in GROUP_ORDER:
        raise ApiError(40058, "order_by must be 1-4")
    order_asc = int_param(ctx.body.get("order_asc"), "order_asc", default=0)
    offset = int_param(ctx.body.get("offset"), "offset", default=0)
    limit = int_param(ctx.body.get("limit"), "limit", default=500)
    if offset < 0 or not 1 <= limit <= 1000:
        raise ApiError(40058, "offset ≥ 0 and limit 1-1000")
    by_owner: dict[str, dict[str, int]] = {}
    for (owner, _start), data in sorted(_group_days(ctx, days, owners).items(), key=lambda kv: kv[0][1]):
        total = by_owner.setdefault(owner, dict.fromkeys(data, 0))
        for name, value in data.items():
            total[name] = value if name in ("chat_total", "member_total") else total[name] + value
    key = GROUP_ORDER[order_by]
    items = sorted(by_owner.items(), key=lambda kv: (kv[1][key], kv[0]), reverse=not order_asc)
    page = items[offset : offset + limit]
    return {
        "total": len(items),
        "next_offset": min(offset + limit, len(items)),
        "items": [{"owner": owner, "data": data} for owner, data in page],
    }


@endpoint("externalcontact/groupchat/statistic_group_by_day", "POST", contact=True)
def groupchat_statistic_by_day(ctx: Ctx) -> Json:
    days = _days(ctx)
    per_owner = _group_days(ctx, days, _owners(ctx))
    items = []
    for start in days:
        total = _empty()
        for (_owner, day), data in per_owner.items():
            if day == start:
                for name, value in data.items():
                    total[name] += value
        items.append({"stat_time": start, "data": total})
    return {"items": items}
