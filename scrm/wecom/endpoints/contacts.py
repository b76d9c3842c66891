"""Members, departments and external contacts (WECOM.md §2, §3)."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ArgumentError
from .base import EndpointsBase, Json, check_range, require


class ContactsApi(EndpointsBase):
    # --- members and departments (WECOM.md §2) -----------------------------------------------------

    def department_list(self, id: int | None = None) -> list[Json]:
        """``department/list``: departments ``{id, name, name_en, parentid, order, department_leader}``.

        Without ``id`` the whole tree visible to the app, else that department and its subtree.
        """
        return self._get("department/list", id=id).get("department", [])

    def user_get(self, userid: str) -> Json:
        """``user/get``: one member (``userid``, ``name``, ``department``, ``status`` …).

        An unknown or deleted member raises :class:`~.errors.UserNotFound` (60111).
        """
        require(userid, "userid", "user/get")
        data = self._get("user/get", userid=userid)
        data.pop("errcode", None)
        data.pop("errmsg", None)
        return data

    def user_list_id(self, cursor: str = "", limit: int = 10000) -> Json:
        """``user/list_id`` (contact-sync secret only): ``{"dept_user": [{userid, department}],
        "next_cursor"}``, one row per member and department; ``next_cursor`` is "" when done."""
        check_range(limit, 1, 10000, "limit", "user/list_id")
        return self._post("user/list_id", {"cursor": cursor, "limit": limit})

    # --- external contacts (WECOM.md §3) -----------------------------------------------------------

    def get_follow_user_list(self) -> list[str]:
        """``externalcontact/get_follow_user_list``: userids of members with customer contact."""
        return self._get("externalcontact/get_follow_user_list").get("follow_user", [])

    def externalcontact_list(self, userid: str) -> list[str]:
        """``externalcontact/list``: every external_userid of one member's customers (not paged)."""
        require(userid, "userid", "externalcontact/list")
        return self._get("externalcontact/list", userid=userid).get("external_userid", [])

    def externalcontact_get(self, external_userid: str, cursor: str = "") -> Json:
        """``externalcontact/get``: ``{"external_contact", "follow_user", "next_cursor"}``.

        ``follow_user`` is paged at 500; pass ``next_cursor`` back as ``cursor`` while it is set.
        """
        require(external_userid, "external_userid", "externalcontact/get")
        return self._get("externalcontact/get", external_userid=external_userid, cursor=cursor or None)

    def externalcontact_remark(
        self,
        userid: str,
        external_userid: str,
        *,
        remark: str | None = None,
        description: str | None = None,
        remark_company: str | None = None,
        remark_mobiles: Sequence[str] | None = None,
    ) -> None:
        """``externalcontact/remark``: the member's notes on one customer (WECOM.md §3.5).

        Only what is given changes; ``remark_mobiles=[]`` clears the phone numbers. Limits:
        remark ≤20, description ≤150, remark_company ≤20 characters.
        """
        api = "externalcontact/remark"
        require(userid, "userid", api)
        require(external_userid, "external_userid", api)
        body: Json = {"userid": userid, "external_userid": external_userid}
        for name, value, limit in (
            ("remark", remark, 20),
            ("description", description, 150),
            ("remark_company", remark_company, 20),
        ):
            if value is not None:
                if len(value) > limit:
                    raise ArgumentError(None, f"{name} is at most {limit} characters", api)
                body[name] = value
        if remark_mobiles is not None:
            body["remark_mobiles"] = list(remark_mobiles)
        self._post(api, body)

    def batch_get_by_user(self, userid_list: Sequence[str], cursor: str = "", limit: int = 100) -> Json:
        """``externalcontact/batch/get_by_user``: customers of up to 100 members, ``limit`` ≤ 100 a page.

        Returns ``{"external_contact_list": [{external_contact, follow_info}], "next_cursor"}``;
        ``next_cursor`` is "" after the last page.
        """
        api = "externalcontact/batch/get_by_user"
        userids = list(userid_list)
        if not userids:
            raise ArgumentError(None, "userid_list is required", api)
        if len(userids) > 100:
            raise ArgumentError(None, f"userid_list has {len(userids)} members, at most 100", api)
        check_range(limit, 1, 100, "limit", api)
        return self._post(api, {"userid_list": userids, "cursor": cursor, "limit": limit})
