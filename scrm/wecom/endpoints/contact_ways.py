"""「联系我」 contact ways: staff live codes (WECOM.md §5)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import ArgumentError
from .base import EndpointsBase, Json, check_range, require
from .media import check_attachment

#: Most members one way may reach, departments expanded (WeCom answers 41041 beyond).
CONTACT_WAY_MAX_MEMBERS = 100
TEMP_MAX_SECONDS = 14 * 86400


def _check_text(value: str | None, name: str, limit: int, api: str) -> None:
    if value is not None and len(value) > limit:
        raise ArgumentError(None, f"{name} is at most {limit} characters", api)


def _check_conclusions(conclusions: Mapping[str, Any] | None, api: str) -> None:
    for kind, content in (conclusions or {}).items():
        if kind == "text":
            if not isinstance(content, Mapping) or len(str(content.get("content", "")).encode()) > 4000:
                raise ArgumentError(None, "conclusions.text.content is at most 4000 bytes", api)
        elif kind in ("image", "link", "miniprogram"):
            check_attachment(kind, content, api)
        else:
            raise ArgumentError(None, f"conclusions may hold text, image, link, miniprogram, not {kind}", api)


def _temp_fields(
    body: Json, expires_in: int | None, chat_expires_in: int | None, unionid: str | None, api: str
) -> None:
    if expires_in is not None:
        check_range(expires_in, 1, TEMP_MAX_SECONDS, "expires_in", api)
        body["expires_in"] = expires_in
    if chat_expires_in is not None:
        check_range(chat_expires_in, 1, TEMP_MAX_SECONDS, "chat_expires_in", api)
        body["chat_expires_in"] = chat_expires_in
    if unionid is not None:
        body["unionid"] = unionid


class ContactWaysApi(EndpointsBase):
    # --- contact ways (WECOM.md §5) ----------------------------------------------------------------

    def add_contact_way(
        self,
        *,
        type: int,
        scene: int,
        user: Sequence[str] = (),
        party: Sequence[int] = (),
        style: int | None = None,
        remark: str | None = None,
        skip_verify: bool = True,
        state: str | None = None,
        is_temp: bool = False,
        expires_in: int | None = None,
        chat_expires_in: int | None = None,
        unionid: str | None = None,
        is_exclusive: bool | None = None,
        conclusions: Mapping[str, Any] | None = None,
    ) -> Json:
        """``externalcontact/add_contact_way``: a live code for one member (``type`` 1) or several
        (``type`` 2, users and departments), as a mini-program button (``scene`` 1) or QR (2).

        Returns ``{"config_id", "qr_code"?}``: store the ``config_id``, WeCom cannot give it back.
        ``state`` (≤30 characters) comes back in the add-contact callback and ``follow_user``.
        API ways count against the corp's 500 000 quota shared with join ways
        (:class:`~scrm.wecom.errors.QuotaExceeded`); temporary ways (``is_temp``) do not.
        """
        api = "externalcontact/add_contact_way"
        if type not in (1, 2):
            raise ArgumentError(None, "type is 1 (single member) or 2 (several members)", api)
        if scene not in (1, 2):
            raise ArgumentError(None, "scene is 1 (mini-program button) or 2 (QR code)", api)
        if type == 1 and (len(user) != 1 or party):
            raise ArgumentError(None, "a single-member way takes exactly one user and no party", api)
        if type == 2 and not user and not party:
            raise ArgumentError(None, "user or party is required", api)
        if len(user) > CONTACT_WAY_MAX_MEMBERS:
            raise ArgumentError(None, f"at most {CONTACT_WAY_MAX_MEMBERS} members per way", api)
        if style is not None:
            check_range(style, 1, 3 if type == 1 else 2, "style", api)
        _check_text(remark, "remark", 30, api)
        _check_text(state, "state", 30, api)
        if is_temp and type != 1:
            raise ArgumentError(None, "a temporary way has a single member", api)
        _check_conclusions(conclusions, api)
        body: Json = {"type": type, "scene": scene, "skip_verify": skip_verify}
        if user:
            body["user"] = list(user)
        if party:
            body["party"] = list(party)
        for name, value in (("style", style), ("remark", remark), ("state", state)):
            if value is not None:
                body[name] = value
        if is_exclusive is not None:
            body["is_exclusive"] = is_exclusive
        if is_temp:
            body["is_temp"] = True
            _temp_fields(body, expires_in, chat_expires_in, unionid, api)
        if conclusions:
            body["conclusions"] = dict(conclusions)
        data = self._post(api, body)
        result: Json = {"config_id": data["config_id"]}
        if data.get("qr_code"):
            result["qr_code"] = data["qr_code"]
        return result

    def get_contact_way(self, config_id: str) -> Json:
        """``externalcontact/get_contact_way``: the way's configuration ``{config_id, type, scene,
        style, remark, skip_verify, state, qr_code, user, party, is_temp, …}``."""
        api = "externalcontact/get_contact_way"
        require(config_id, "config_id", api)
        return self._post(api, {"config_id": config_id})["contact_way"]

    def list_contact_way(
        self,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        cursor: str = "",
        limit: int = 100,
    ) -> tuple[list[str], str]:
        """``externalcontact/list_contact_way``: one page of config ids of the ways created between
        ``start_time`` and ``end_time`` (default: the last 90 days) and the next cursor ("" at the
        end)."""
        api = "externalcontact/list_contact_way"
        check_range(limit, 1, 1000, "limit", api)
        if start_time is not None and end_time is not None and start_time > end_time:
            raise ArgumentError(None, "start_time is after end_time", api)
        body: Json = {"limit": limit}
        if start_time is not None:
            body["start_time"] = start_time
        if end_time is not None:
            body["end_time"] = end_time
        if cursor:
            body["cursor"] = cursor
        data = self._post(api, body)
        return [w["config_id"] for w in data.get("contact_way", [])], data.get("next_cursor", "")

    def update_contact_way(
        self,
        config_id: str,
        *,
        remark: str | None = None,
        skip_verify: bool | None = None,
        style: int | None = None,
        state: str | None = None,
        user: Sequence[str] | None = None,
        party: Sequence[int] | None = None,
        expires_in: int | None = None,
        chat_expires_in: int | None = None,
        unionid: str | None = None,
        conclusions: Mapping[str, Any] | None = None,
    ) -> None:
        """``externalcontact/update_contact_way``: change what is given; ``user`` and ``party``
        replace the old lists, so pass both complete when changing who the way reaches."""
        api = "externalcontact/update_contact_way"
        require(config_id, "config_id", api)
        _check_text(remark, "remark", 30, api)
        _check_text(state, "state", 30, api)
        if style is not None:
            check_range(style, 1, 3, "style", api)
        if user is not None and len(user) > CONTACT_WAY_MAX_MEMBERS:
            raise ArgumentError(None, f"at most {CONTACT_WAY_MAX_MEMBERS} members per way", api)
        _check_conclusions(conclusions, api)
        body: Json = {"config_id": config_id}
        for name, value in (
            ("remark", remark),
            ("skip_verify", skip_verify),
            ("style", style),
            ("state", state),
        ):
            if value is not None:
                body[name] = value
        if user is not None:
            body["user"] = list(user)
        if party is not None:
            body["party"] = list(party)
        _temp_fields(body, expires_in, chat_expires_in, unionid, api)
        if conclusions is not None:
            body["conclusions"] = dict(conclusions)
        self._post(api, body)

    def del_contact_way(self, config_id: str) -> None:
        """``externalcontact/del_contact_way``: delete a way; its QR stops working."""
        api = "externalcontact/del_contact_way"
        require(config_id, "config_id", api)
        self._post(api, {"config_id": config_id})

    def close_temp_chat(self, userid: str, external_userid: str) -> None:
        """``externalcontact/close_temp_chat``: end a temporary session (the conclusion is sent)."""
        api = "externalcontact/close_temp_chat"
        require(userid, "userid", api)
        require(external_userid, "external_userid", api)
        self._post(api, {"userid": userid, "external_userid": external_userid})
