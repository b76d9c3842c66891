"""Statistics: members' customer-contact behaviour and customer groups (WECOM.md §11).

WeCom counts by day (China time), keeps 180 days and answers at most 30 days per call; the
methods check that span before calling, so a longer period must be asked for in slices.
"""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ArgumentError
from .base import EndpointsBase, Json, check_range

DAY = 86400
MAX_SPAN_DAYS = 30
MAX_IDS = 100


def _check_span(start: int, end: int, api: str) -> None:
    if not isinstance(start, int) or not isinstance(end, int) or start <= 0 or end <= 0:
        raise ArgumentError(None, "the period is two Unix timestamps", api)
    if end < start:
        raise ArgumentError(None, "the period ends before it starts", api)
    # WeCom floors both ends to 00:00 China time and counts the days inclusively.
    days = (end + 8 * 3600) // DAY - (start + 8 * 3600) // DAY + 1
    if days > MAX_SPAN_DAYS:
        raise ArgumentError(None, f"the period spans at most {MAX_SPAN_DAYS} days, not {days}", api)


def _check_ids(ids: Sequence[object], name: str, api: str) -> None:
    if len(ids) > MAX_IDS:
        raise ArgumentError(None, f"{name} holds at most {MAX_IDS} ids", api)


class StatisticsApi(EndpointsBase):
    # --- statistics (WECOM.md §11) -----------------------------------------------------------------

    def get_user_behavior_data(
        self,
        *,
        start_time: int,
        end_time: int,
        userid: Sequence[str] = (),
        partyid: Sequence[int] = (),
    ) -> list[Json]:
        """``externalcontact/get_user_behavior_data``: one item per day, the members (and the
        departments' members) aggregated: ``{stat_time, new_apply_cnt, new_contact_cnt, chat_cnt,
        message_cnt, reply_percentage?, avg_reply_time?, negative_feedback_cnt}``.

        Both ends are included; at most 30 days, within the last 180.
        """
        api = "externalcontact/get_user_behavior_data"
        if not userid and not partyid:
            raise ArgumentError(None, "userid or partyid is required", api)
        _check_ids(userid, "userid", api)
        _check_ids(partyid, "partyid", api)
        _check_span(start_time, end_time, api)
        body: Json = {"start_time": start_time, "end_time": end_time}
        if userid:
            body["userid"] = list(userid)
        if partyid:
            body["partyid"] = list(partyid)
        return self._post(api, body).get("behavior_data", [])

    def groupchat_statistic(
        self,
        *,
        day_begin_time: int,
        day_end_time: int | None = None,
        owners: Sequence[str] = (),
        order_by: int = 1,
        order_asc: bool = False,
        offset: int = 0,
        limit: int = 500,
    ) -> Json:
        """``externalcontact/groupchat/statistic``: group figures per owner, ``{total, next_offset,
        items: [{owner, data: {new_chat_cnt, chat_total, chat_has_msg, new_member_cnt,
        member_total, member_has_msg, msg_total}}]}``; ``order_by`` 1 new groups, 2 groups, 3 new
        members, 4 members. Without ``owners`` WeCom refuses corps of over 1000 members (81017)."""
        api = "externalcontact/groupchat/statistic"
        _check_span(day_begin_time, day_end_time or day_begin_time, api)
        _check_ids(owners, "owners", api)
        check_range(order_by, 1, 4, "order_by", api)
        check_range(limit, 1, 1000, "limit", api)
        if offset < 0:
            raise ArgumentError(None, "offset must not be negative", api)
        body: Json = {
            "day_begin_time": day_begin_time,
            "order_by": order_by,
            "order_asc": int(order_asc),
            "offset": offset,
            "limit": limit,
        }
        if day_end_time is not None:
            body["day_end_time"] = day_end_time
        if owners:
            body["owner_filter"] = {"userid_list": list(owners)}
        data = self._post(api, body)
        return {
            "total": data.get("total", 0),
            "next_offset": data.get("next_offset", 0),
            "items": data.get("items", []),
        }

    def groupchat_statistic_by_day(
        self, *, day_begin_time: int, day_end_time: int | None = None, owners: Sequence[str] = ()
    ) -> list[Json]:
        """``externalcontact/groupchat/statistic_group_by_day``: the owners' groups added up per
        day, ``[{stat_time, data: {…}}]``."""
        api = "externalcontact/groupchat/statistic_group_by_day"
        _check_span(day_begin_time, day_end_time or day_begin_time, api)
        _check_ids(owners, "owners", api)
        body: Json = {"day_begin_time": day_begin_time}
        if day_end_time is not None:
            body["day_end_time"] = day_end_time
        if owners:
            body["owner_filter"] = {"userid_list": list(owners)}
        return self._post(api, body).get("items", [])
