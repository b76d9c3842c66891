"""Customer groups: list and details (WECOM.md §6.1, §6.2)."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ArgumentError
from .base import EndpointsBase, Json, check_range, require


class GroupsApi(EndpointsBase):
    # --- customer groups (WECOM.md §6) -------------------------------------------------------------

    def groupchat_list(
        self,
        *,
        limit: int,
        cursor: str = "",
        status_filter: int = 0,
        owner_userids: Sequence[str] | None = None,
    ) -> Json:
        """``externalcontact/groupchat/list``: ``{"group_chat_list": [{chat_id, status}], "next_cursor"}``.

        ``limit`` (1-1000) is required; ``owner_userids`` (≤100) filters by owner.
        """
        api = "externalcontact/groupchat/list"
        check_range(limit, 1, 1000, "limit", api)
        body: Json = {"status_filter": status_filter, "cursor": cursor, "limit": limit}
        if owner_userids:
            if len(owner_userids) > 100:
                raise ArgumentError(None, "owner_filter has more than 100 userids", api)
            body["owner_filter"] = {"userid_list": list(owner_userids)}
        return self._post(api, body)

    def groupchat_get(self, chat_id: str, need_name: bool = False) -> Json:
        """``externalcontact/groupchat/get``: the ``group_chat`` with its members and admins."""
        require(chat_id, "chat_id", "externalcontact/groupchat/get")
        body = {"chat_id": chat_id, "need_name": int(need_name)}
        return self._post("externalcontact/groupchat/get", body)["group_chat"]
