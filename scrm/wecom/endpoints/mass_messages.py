"""Mass messages to customers and groups, and their results (WECOM.md §8).

``add_msg_template`` sends nothing by itself: each sender gets a task in the WeCom client and must
confirm it. Results are read per message (``get_groupmsg_task``: who sent) and per sender
(``get_groupmsg_send_result``: status per customer or group, 3 meaning the receive cap was hit).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal

from ..errors import ArgumentError
from .base import EndpointsBase, Json, check_range, require

MAX_CUSTOMERS = 10_000
MAX_CHATS = 2_000
MAX_TAGS_PER_ENTRY = 100
MAX_ATTACHMENTS = 9
MAX_TEXT_BYTES = 4000
#: get_groupmsg_list_v2 accepts at most one month between start_time and end_time.
LIST_SPAN = 31 * 86400

ATTACHMENT_TYPES = ("image", "link", "miniprogram", "video", "file")
# Byte limits of attachment fields (WECOM.md §8.1, §18).
ATTACHMENT_FIELD_BYTES: dict[str, dict[str, int]] = {
    "image": {"pic_url": 2048},
    "link": {"title": 128, "picurl": 2048, "desc": 512, "url": 2048},
    "miniprogram": {"title": 64},
}
ATTACHMENT_REQUIRED: dict[str, tuple[str, ...]] = {
    "link": ("title", "url"),
    "miniprogram": ("title", "pic_media_id", "appid", "page"),
    "video": ("media_id",),
    "file": ("media_id",),
}


def each_page(fetch: Callable[..., Json], list_key: str, **kwargs: Any) -> Iterator[Json]:
    """Every item of a cursor-paged WeCom list: calls ``fetch(cursor=…, **kwargs)`` until
    ``next_cursor`` comes back empty."""
    cursor = ""
    while True:
        data = fetch(cursor=cursor, **kwargs)
        yield from data.get(list_key) or []
        cursor = data.get("next_cursor") or ""
        if not cursor:
            return


def check_content(text: str, attachments: Sequence[Json], api: str) -> None:
    """WeCom's rules for a message's text and attachments (mass and welcome messages)."""
    if len(text.encode()) > MAX_TEXT_BYTES:
        raise ArgumentError(None, "text is longer than 4000 bytes", api)
    if not text and not attachments:
        raise ArgumentError(None, "text or attachments are required", api)
    if len(attachments) > MAX_ATTACHMENTS:
        raise ArgumentError(None, f"{len(attachments)} attachments, at most {MAX_ATTACHMENTS}", api)
    for item in attachments:
        msgtype = item.get("msgtype") if isinstance(item, dict) else None
        if msgtype not in ATTACHMENT_TYPES or not isinstance(item.get(msgtype), dict):
            raise ArgumentError(None, f"attachment type must be one of {', '.join(ATTACHMENT_TYPES)}", api)
        body = item[msgtype]
        for name, limit in ATTACHMENT_FIELD_BYTES.get(msgtype, {}).items():
            if len(str(body.get(name) or "").encode()) > limit:
                raise ArgumentError(None, f"{msgtype}.{name} is longer than {limit} bytes", api)
        missing = [name for name in ATTACHMENT_REQUIRED.get(msgtype, ()) if not body.get(name)]
        if msgtype == "image" and not (body.get("media_id") or body.get("pic_url")):
            missing.append("media_id or pic_url")
        if missing:
            raise ArgumentError(None, f"{msgtype} attachment needs {', '.join(missing)}", api)


def check_span(start_time: int, end_time: int, span: int, api: str) -> None:
    """``end_time`` must follow ``start_time`` by at most ``span`` seconds."""
    if not isinstance(start_time, int) or not isinstance(end_time, int):
        raise ArgumentError(None, "start_time and end_time are unix times", api)
    if end_time < start_time or end_time - start_time > span:
        raise ArgumentError(None, f"end_time must follow start_time by at most {span // 86400} days", api)


class MassMessagesApi(EndpointsBase):
    # --- creating (WECOM.md §8.1) --------------------------------------------------------------------

    def add_msg_template(
        self,
        *,
        chat_type: Literal["single", "group"] = "single",
        sender: str = "",
        external_userids: Sequence[str] = (),
        chat_ids: Sequence[str] = (),
        tag_filter: Sequence[Sequence[str]] = (),
        allow_select: bool = False,
        text: str = "",
        attachments: Sequence[Json] = (),
    ) -> Json:
        """``externalcontact/add_msg_template``: ``{"msgid", "fail_list"}``.

        ``single`` goes to customers: ``external_userids`` (≤10 000), or every customer of
        ``sender`` when only the sender is given. ``group`` goes to the sender's groups
        (``chat_ids`` ≤2 000, or all of them); the sender is then required. ``tag_filter`` is a list
        of tag-id lists: any tag of one list, and every list (≤100 tags each). ``fail_list`` names
        customers that cannot be sent to. Nothing is sent until each sender confirms it.
        """
        api = "externalcontact/add_msg_template"
        if chat_type not in ("single", "group"):
            raise ArgumentError(None, "chat_type must be 'single' or 'group'", api)
        if chat_type == "group":
            require(sender, "sender (for group mass messages)", api)
        elif not sender and not external_userids:
            raise ArgumentError(None, "external_userids or sender is required", api)
        if len(external_userids) > MAX_CUSTOMERS:
            raise ArgumentError(
                None, f"{len(external_userids)} external_userids, at most {MAX_CUSTOMERS}", api
            )
        if len(chat_ids) > MAX_CHATS:
            raise ArgumentError(None, f"{len(chat_ids)} chat ids, at most {MAX_CHATS}", api)
        for tag_list in tag_filter:
            if not tag_list or len(tag_list) > MAX_TAGS_PER_ENTRY:
                raise ArgumentError(None, f"each tag_filter entry needs 1-{MAX_TAGS_PER_ENTRY} tags", api)
        check_content(text, attachments, api)
        body: Json = {"chat_type": chat_type, "allow_select": allow_select, "attachments": list(attachments)}
        if sender:
            body["sender"] = sender
        if external_userids:
            body["external_userid"] = list(external_userids)
        if chat_ids:
            body["chat_id_list"] = list(chat_ids)
        if tag_filter:
            body["tag_filter"] = {"group_list": [{"tag_list": list(tags)} for tags in tag_filter]}
        if text:
            body["text"] = {"content": text}
        data = self._post(api, body)
        return {"msgid": data["msgid"], "fail_list": data.get("fail_list") or []}

    def remind_groupmsg_send(self, msgid: str) -> None:
        """``externalcontact/remind_groupmsg_send``: notify the senders again (≤3 per 24 h)."""
        require(msgid, "msgid", "externalcontact/remind_groupmsg_send")
        self._post("externalcontact/remind_groupmsg_send", {"msgid": msgid})

    def cancel_groupmsg_send(self, msgid: str) -> None:
        """``externalcontact/cancel_groupmsg_send``: senders who have not sent it no longer can."""
        require(msgid, "msgid", "externalcontact/cancel_groupmsg_send")
        self._post("externalcontact/cancel_groupmsg_send", {"msgid": msgid})

    # --- results (WECOM.md §8.2) ---------------------------------------------------------------------

    def get_groupmsg_list_v2(
        self,
        *,
        start_time: int,
        end_time: int,
        chat_type: Literal["single", "group"] = "single",
        creator: str = "",
        filter_type: Literal[0, 1, 2] = 2,
        limit: int = 50,
        cursor: str = "",
    ) -> Json:
        """``externalcontact/get_groupmsg_list_v2``: ``{"group_msg_list", "next_cursor"}``.

        Messages created between ``start_time`` and ``end_time`` (unix, at most a month apart);
        ``filter_type`` 0 corp-created, 1 member-created, 2 both; ``limit`` ≤100.
        """
        api = "externalcontact/get_groupmsg_list_v2"
        check_span(start_time, end_time, LIST_SPAN, api)
        check_range(limit, 1, 100, "limit", api)
        if filter_type not in (0, 1, 2):
            raise ArgumentError(None, "filter_type must be 0, 1 or 2", api)
        body: Json = {
            "chat_type": chat_type,
            "start_time": start_time,
            "end_time": end_time,
            "filter_type": filter_type,
            "limit": limit,
            "cursor": cursor,
        }
        if creator:
            body["creator"] = creator
        return self._post(api, body)

    def groupmsg_list_all(self, **kwargs: Any) -> Iterator[Json]:
        """Every message of :meth:`get_groupmsg_list_v2` (same arguments but ``cursor``), page by page."""
        return each_page(self.get_groupmsg_list_v2, "group_msg_list", **kwargs)

    def get_groupmsg_task(self, msgid: str, *, limit: int = 500, cursor: str = "") -> Json:
        """``externalcontact/get_groupmsg_task``: ``{"task_list": [{userid, status, send_time}],
        "next_cursor"}``; ``status`` 0 not sent yet, non-zero sent."""
        api = "externalcontact/get_groupmsg_task"
        require(msgid, "msgid", api)
        check_range(limit, 1, 1000, "limit", api)
        return self._post(api, {"msgid": msgid, "limit": limit, "cursor": cursor})

    def groupmsg_task_all(self, msgid: str, *, limit: int = 1000) -> Iterator[Json]:
        """Every sender's task of a mass message."""
        return each_page(self.get_groupmsg_task, "task_list", msgid=msgid, limit=limit)

    def get_groupmsg_send_result(
        self, msgid: str, userid: str, *, limit: int = 500, cursor: str = ""
    ) -> Json:
        """``externalcontact/get_groupmsg_send_result``: one sender's ``send_list`` and ``next_cursor``.

        Each row has ``external_userid`` (or ``chat_id`` for groups), ``status`` (0 not sent,
        1 sent, 2 not a friend, 3 the receive cap was reached) and ``send_time``.
        """
        api = "externalcontact/get_groupmsg_send_result"
        require(msgid, "msgid", api)
        require(userid, "userid", api)
        check_range(limit, 1, 1000, "limit", api)
        return self._post(api, {"msgid": msgid, "userid": userid, "limit": limit, "cursor": cursor})

    def groupmsg_send_result_all(self, msgid: str, userid: str, *, limit: int = 1000) -> Iterator[Json]:
        """Every recipient row of one sender's task."""
        return each_page(self.get_groupmsg_send_result, "send_list", msgid=msgid, userid=userid, limit=limit)
