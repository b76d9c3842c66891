"""Customer moments (WECOM.md §9).

``add_moment_task`` is asynchronous: it answers a ``jobid``; ``get_moment_task_result`` reports
status 1 (started), 2 (running) and 3 (done, with the ``moment_id``). Executors then publish it in
the WeCom client, one by one.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, Literal

from ..errors import ArgumentError
from .base import EndpointsBase, Json, check_range, require
from .mass_messages import check_span, each_page

MAX_TEXT_CHARS = 2000
MAX_TEXT_BYTES = 4000
MAX_IMAGES = 9
MAX_LINK_TITLE_BYTES = 64
MAX_SENDERS = 100_000
#: get_moment_list accepts at most 30 days between start_time and end_time.
LIST_SPAN = 30 * 86400


def check_moment_attachments(attachments: Sequence[Json], api: str) -> None:
    """Up to 9 images, or 1 video, or 1 link – never mixed (WECOM.md §9.1)."""
    kinds = set()
    for item in attachments:
        msgtype = item.get("msgtype") if isinstance(item, dict) else None
        if msgtype not in ("image", "video", "link") or not isinstance(item.get(msgtype), dict):
            raise ArgumentError(None, "moment attachments are image, video or link", api)
        kinds.add(msgtype)
        body = item[msgtype]
        if msgtype == "link":
            require(body.get("url"), "link.url", api)
            if len(str(body.get("title") or "").encode()) > MAX_LINK_TITLE_BYTES:
                raise ArgumentError(None, "link.title is longer than 64 bytes", api)
        else:
            require(body.get("media_id"), f"{msgtype}.media_id", api)
    if len(kinds) > 1:
        raise ArgumentError(None, "images, a video or a link: attachment kinds cannot be mixed", api)
    if kinds and len(attachments) > (MAX_IMAGES if kinds == {"image"} else 1):
        raise ArgumentError(None, "at most 9 images, or 1 video, or 1 link", api)


class MomentsApi(EndpointsBase):
    # --- creating and cancelling (WECOM.md §9.1, §9.2) ------------------------------------------------

    def add_moment_task(
        self,
        *,
        text: str = "",
        attachments: Sequence[Json] = (),
        sender_userids: Sequence[str] = (),
        sender_departments: Sequence[int] = (),
        tag_ids: Sequence[str] = (),
    ) -> str:
        """``externalcontact/add_moment_task``: the ``jobid`` (valid 24 h) of the creation job.

        Executors are ``sender_userids`` (≤100 000) and the members of ``sender_departments``,
        or every member in the app's range when both are empty; ``tag_ids`` (corp tags) limit
        which customers see it.
        """
        api = "externalcontact/add_moment_task"
        if len(text) > MAX_TEXT_CHARS or len(text.encode()) > MAX_TEXT_BYTES:
            raise ArgumentError(None, "text is longer than 2000 characters (4000 bytes)", api)
        if not text and not attachments:
            raise ArgumentError(None, "text or attachments are required", api)
        check_moment_attachments(attachments, api)
        if len(sender_userids) > MAX_SENDERS:
            raise ArgumentError(None, f"{len(sender_userids)} senders, at most {MAX_SENDERS}", api)
        body: Json = {}
        if text:
            body["text"] = {"content": text}
        if attachments:
            body["attachments"] = list(attachments)
        visible: Json = {}
        if sender_userids or sender_departments:
            visible["sender_list"] = {
                "user_list": list(sender_userids),
                "department_list": list(sender_departments),
            }
        if tag_ids:
            visible["external_contact_list"] = {"tag_list": list(tag_ids)}
        if visible:
            body["visible_range"] = visible
        return self._post(api, body)["jobid"]

    def get_moment_task_result(self, jobid: str) -> Json:
        """``externalcontact/get_moment_task_result``: ``{"status", "type", "result"}``; once
        ``status`` is 3, ``result`` holds the ``moment_id`` and the invalid senders and tags."""
        require(jobid, "jobid", "externalcontact/get_moment_task_result")
        data = self._get("externalcontact/get_moment_task_result", jobid=jobid)
        return {k: v for k, v in data.items() if k not in ("errcode", "errmsg")}

    def cancel_moment_task(self, moment_id: str) -> None:
        """``externalcontact/cancel_moment_task``: stop a corp moment not yet published by everyone."""
        require(moment_id, "moment_id", "externalcontact/cancel_moment_task")
        self._post("externalcontact/cancel_moment_task", {"moment_id": moment_id})

    # --- reading (WECOM.md §9.2) ---------------------------------------------------------------------

    def get_moment_list(
        self,
        *,
        start_time: int,
        end_time: int,
        creator: str = "",
        filter_type: Literal[0, 1, 2] = 2,
        limit: int = 20,
        cursor: str = "",
    ) -> Json:
        """``externalcontact/get_moment_list``: ``{"moment_list", "next_cursor"}``; moments created
        between ``start_time`` and ``end_time`` (at most 30 days apart), ``limit`` ≤20."""
        api = "externalcontact/get_moment_list"
        check_span(start_time, end_time, LIST_SPAN, api)
        check_range(limit, 1, 20, "limit", api)
        if filter_type not in (0, 1, 2):
            raise ArgumentError(None, "filter_type must be 0, 1 or 2", api)
        body: Json = {
            "start_time": start_time,
            "end_time": end_time,
            "filter_type": filter_type,
            "limit": limit,
            "cursor": cursor,
        }
        if creator:
            body["creator"] = creator
        return self._post(api, body)

    def moment_list_all(self, **kwargs: Any) -> Iterator[Json]:
        """Every moment of :meth:`get_moment_list` (same arguments but ``cursor``)."""
        return each_page(self.get_moment_list, "moment_list", **kwargs)

    def get_moment_task(self, moment_id: str, *, limit: int = 500, cursor: str = "") -> Json:
        """``externalcontact/get_moment_task``: ``{"task_list": [{userid, publish_status}],
        "next_cursor"}`` of a corp-created moment; ``publish_status`` 1 once published."""
        api = "externalcontact/get_moment_task"
        require(moment_id, "moment_id", api)
        check_range(limit, 1, 1000, "limit", api)
        return self._post(api, {"moment_id": moment_id, "limit": limit, "cursor": cursor})

    def moment_task_all(self, moment_id: str, *, limit: int = 1000) -> Iterator[Json]:
        """Every executor's task of a moment."""
        return each_page(self.get_moment_task, "task_list", moment_id=moment_id, limit=limit)

    def get_moment_customer_list(
        self, moment_id: str, userid: str, *, limit: int = 500, cursor: str = ""
    ) -> Json:
        """``externalcontact/get_moment_customer_list``: the customers who can see ``userid``'s
        published moment, ``{"customer_list": [{userid, external_userid}], "next_cursor"}``."""
        api = "externalcontact/get_moment_customer_list"
        require(moment_id, "moment_id", api)
        require(userid, "userid", api)
        check_range(limit, 1, 1000, "limit", api)
        return self._post(api, {"moment_id": moment_id, "userid": userid, "limit": limit, "cursor": cursor})

    def moment_customers_all(self, moment_id: str, userid: str, *, limit: int = 1000) -> Iterator[Json]:
        """Every customer who can see ``userid``'s published moment."""
        return each_page(
            self.get_moment_customer_list, "customer_list", moment_id=moment_id, userid=userid, limit=limit
        )

    def get_moment_send_result(
        self, moment_id: str, userid: str, *, limit: int = 3000, cursor: str = ""
    ) -> Json:
        """``externalcontact/get_moment_send_result``: the customers ``userid``'s moment was
        delivered to, ``{"customer_list": [{external_userid}], "next_cursor"}`` (``limit`` ≤5000)."""
        api = "externalcontact/get_moment_send_result"
        require(moment_id, "moment_id", api)
        require(userid, "userid", api)
        check_range(limit, 1, 5000, "limit", api)
        return self._post(api, {"moment_id": moment_id, "userid": userid, "limit": limit, "cursor": cursor})

    def moment_send_result_all(self, moment_id: str, userid: str, *, limit: int = 5000) -> Iterator[Json]:
        """Every customer ``userid``'s moment was delivered to."""
        return each_page(
            self.get_moment_send_result, "customer_list", moment_id=moment_id, userid=userid, limit=limit
        )

    def get_moment_comments(self, moment_id: str, userid: str) -> Json:
        """``externalcontact/get_moment_comments``: ``{"comment_list", "like_list"}`` on
        ``userid``'s published moment, each ``{external_userid | userid, create_time}``."""
        api = "externalcontact/get_moment_comments"
        require(moment_id, "moment_id", api)
        require(userid, "userid", api)
        data = self._post(api, {"moment_id": moment_id, "userid": userid})
        return {"comment_list": data.get("comment_list") or [], "like_list": data.get("like_list") or []}
