"""On-job and resigned transfers of customers and groups (WECOM.md §10).

A customer transfer call only starts the handover: per customer, errcode 0 means "started"; the
takeover member gets the customer 24 h later unless the customer refuses. ``transfer_result``
reports status 1 taken over, 2 waiting, 3 refused, 4 takeover at its customer limit.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from ..errors import ArgumentError
from .base import EndpointsBase, Json, check_range, require
from .mass_messages import each_page

MAX_PER_CALL = 100
MAX_SUCCESS_MSG = 200
UNASSIGNED_PAGE = 1000
UNASSIGNED_WINDOW = 50_000


def _check_transfer(
    handover_userid: str, takeover_userid: str, external_userids: Sequence[str], message: str, api: str
) -> None:
    require(handover_userid, "handover_userid", api)
    require(takeover_userid, "takeover_userid", api)
    if handover_userid == takeover_userid:
        raise ArgumentError(None, "handover and takeover must be different members", api)
    if isinstance(external_userids, str):
        raise ArgumentError(None, "external_userids must be a list of ids", api)
    if not 1 <= len(external_userids) <= MAX_PER_CALL:
        raise ArgumentError(
            None, f"1-{MAX_PER_CALL} external_userids per call, not {len(external_userids)}", api
        )
    if len(message) > MAX_SUCCESS_MSG:
        raise ArgumentError(None, f"transfer_success_msg is longer than {MAX_SUCCESS_MSG} characters", api)


def _check_chats(chat_ids: Sequence[str], new_owner: str, api: str) -> None:
    if isinstance(chat_ids, str):
        raise ArgumentError(None, "chat_ids must be a list of ids", api)
    if not 1 <= len(chat_ids) <= MAX_PER_CALL:
        raise ArgumentError(None, f"1-{MAX_PER_CALL} chat ids per call, not {len(chat_ids)}", api)
    require(new_owner, "new_owner", api)


class TransfersApi(EndpointsBase):
    # --- on-job customers (WECOM.md §10.1) -----------------------------------------------------------

    def transfer_customer(
        self,
        *,
        handover_userid: str,
        takeover_userid: str,
        external_userids: Sequence[str],
        transfer_success_msg: str = "",
    ) -> list[Json]:
        """``externalcontact/transfer_customer``: ``[{external_userid, errcode}]`` per customer.

        Up to 100 customers of a member still employed. errcode 0 means the handover started;
        40128 transferred too often (twice, or within 90 days of the last), 40129 already in
        progress, 40131 not a customer of the handover member.
        """
        api = "externalcontact/transfer_customer"
        _check_transfer(handover_userid, takeover_userid, external_userids, transfer_success_msg, api)
        body: Json = {
            "handover_userid": handover_userid,
            "takeover_userid": takeover_userid,
            "external_userid": list(external_userids),
        }
        if transfer_success_msg:
            body["transfer_success_msg"] = transfer_success_msg
        return self._post(api, body).get("customer") or []

    def transfer_result(self, *, handover_userid: str, takeover_userid: str, cursor: str = "") -> Json:
        """``externalcontact/transfer_result``: ``{"customer": [{external_userid, status,
        takeover_time}], "next_cursor"}`` for one handover/takeover pair (pages of 1000)."""
        api = "externalcontact/transfer_result"
        require(handover_userid, "handover_userid", api)
        require(takeover_userid, "takeover_userid", api)
        body = {"handover_userid": handover_userid, "takeover_userid": takeover_userid, "cursor": cursor}
        return self._post(api, body)

    def transfer_result_all(self, *, handover_userid: str, takeover_userid: str) -> Iterator[Json]:
        """Every customer row of :meth:`transfer_result`, page by page."""
        return each_page(
            self.transfer_result, "customer", handover_userid=handover_userid, takeover_userid=takeover_userid
        )

    # --- resigned members' customers (WECOM.md §10.2) --------------------------------------------------

    def get_unassigned_list(
        self, *, cursor: str = "", page_size: int = UNASSIGNED_PAGE, page_id: int = 0
    ) -> Json:
        """``externalcontact/get_unassigned_list``: customers of resigned members awaiting a new
        follower, ``{"info": [{handover_userid, external_userid, dimission_time}], "is_last",
        "next_cursor"}``. Prefer ``cursor``; ``page_id * page_size`` must stay under 50 000."""
        api = "externalcontact/get_unassigned_list"
        check_range(page_size, 1, UNASSIGNED_PAGE, "page_size", api)
        if not isinstance(page_id, int) or page_id < 0 or page_id * page_size >= UNASSIGNED_WINDOW:
            raise ArgumentError(None, "page_id * page_size must stay under 50000; use the cursor", api)
        body: Json = {"page_size": page_size}
        if cursor:
            body["cursor"] = cursor
        else:
            body["page_id"] = page_id
        return self._post(api, body)

    def unassigned_all(self, *, page_size: int = UNASSIGNED_PAGE) -> Iterator[Json]:
        """Every unassigned customer, following the cursor."""
        return each_page(self.get_unassigned_list, "info", page_size=page_size)

    def resigned_transfer_customer(
        self, *, handover_userid: str, takeover_userid: str, external_userids: Sequence[str]
    ) -> list[Json]:
        """``externalcontact/resigned/transfer_customer``: ``[{external_userid, errcode}]``.

        The handover member must have resigned (else 40097 for the whole call); up to 100 customers.
        """
        api = "externalcontact/resigned/transfer_customer"
        _check_transfer(handover_userid, takeover_userid, external_userids, "", api)
        body = {
            "handover_userid": handover_userid,
            "takeover_userid": takeover_userid,
            "external_userid": list(external_userids),
        }
        return self._post(api, body).get("customer") or []

    def resigned_transfer_result(
        self, *, handover_userid: str, takeover_userid: str, cursor: str = ""
    ) -> Json:
        """``externalcontact/resigned/transfer_result``: same shape as :meth:`transfer_result`."""
        api = "externalcontact/resigned/transfer_result"
        require(handover_userid, "handover_userid", api)
        require(takeover_userid, "takeover_userid", api)
        body = {"handover_userid": handover_userid, "takeover_userid": takeover_userid, "cursor": cursor}
        return self._post(api, body)

    def resigned_transfer_result_all(self, *, handover_userid: str, takeover_userid: str) -> Iterator[Json]:
        """Every customer row of :meth:`resigned_transfer_result`, page by page."""
        return each_page(
            self.resigned_transfer_result,
            "customer",
            handover_userid=handover_userid,
            takeover_userid=takeover_userid,
        )

    # --- groups (WECOM.md §10.3) ---------------------------------------------------------------------

    def groupchat_transfer(self, *, chat_ids: Sequence[str], new_owner: str) -> list[Json]:
        """``externalcontact/groupchat/transfer``: give groups of a resigned owner to ``new_owner``.

        Returns only the failures, ``[{chat_id, errcode, errmsg}]`` (90500 owner not resigned…).
        """
        api = "externalcontact/groupchat/transfer"
        _check_chats(chat_ids, new_owner, api)
        return (
            self._post(api, {"chat_id_list": list(chat_ids), "new_owner": new_owner}).get("failed_chat_list")
            or []
        )

    def groupchat_onjob_transfer(self, *, chat_ids: Sequence[str], new_owner: str) -> list[Json]:
        """``externalcontact/groupchat/onjob_transfer``: give groups of an employed owner to
        ``new_owner``; returns the failures (90502 owner resigned, 90504 owner unchanged…)."""
        api = "externalcontact/groupchat/onjob_transfer"
        _check_chats(chat_ids, new_owner, api)
        return (
            self._post(api, {"chat_id_list": list(chat_ids), "new_owner": new_owner}).get("failed_chat_list")
            or []
        )
