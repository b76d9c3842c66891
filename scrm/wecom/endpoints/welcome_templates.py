"""Group welcome templates (入群欢迎语素材, WECOM.md §7.2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import ArgumentError
from .base import EndpointsBase, Json, require
from .media import check_attachment

TEMPLATE_ATTACHMENTS = ("image", "link", "miniprogram", "file", "video")
TEXT_MAX_BYTES = 4000


def _template_body(
    api: str, text: str | None, attachments: Mapping[str, Mapping[str, Any]], *, required: bool
) -> Json:
    body: Json = {}
    if text is not None:
        if len(text.encode()) > TEXT_MAX_BYTES:
            raise ArgumentError(None, f"text is at most {TEXT_MAX_BYTES} bytes", api)
        body["text"] = {"content": text}
    for kind, content in attachments.items():
        if kind not in TEMPLATE_ATTACHMENTS:
            raise ArgumentError(None, f"attachments are {', '.join(TEMPLATE_ATTACHMENTS)}, not {kind}", api)
        check_attachment(kind, content, api)
        body[kind] = dict(content)
    if required and not text and not attachments:
        raise ArgumentError(None, "text or an attachment is required", api)
    return body


class WelcomeTemplatesApi(EndpointsBase):
    # --- group welcome templates (WECOM.md §7.2) ---------------------------------------------------

    def group_welcome_template_add(
        self,
        *,
        text: str | None = None,
        image: Mapping[str, Any] | None = None,
        link: Mapping[str, Any] | None = None,
        miniprogram: Mapping[str, Any] | None = None,
        file: Mapping[str, Any] | None = None,
        video: Mapping[str, Any] | None = None,
        notify: bool = True,
        agentid: int | None = None,
    ) -> str:
        """``externalcontact/group_welcome_template/add``: returns the ``template_id``.

        ``text`` may contain ``%NICKNAME%`` (the joiner's nickname). Attachments are the bodies
        of their kind, e.g. ``image={"media_id": …}`` or ``link={"title", "url", …}``. At most 100
        templates per corp (:class:`~scrm.wecom.errors.QuotaExceeded`). ``notify=False`` does not
        tell the members.
        """
        api = "externalcontact/group_welcome_template/add"
        attachments = {
            k: v
            for k, v in (
                ("image", image),
                ("link", link),
                ("miniprogram", miniprogram),
                ("file", file),
                ("video", video),
            )
            if v is not None
        }
        body = _template_body(api, text, attachments, required=True)
        body["notify"] = int(notify)
        if agentid is not None:
            body["agentid"] = agentid
        return self._post(api, body)["template_id"]

    def group_welcome_template_edit(
        self,
        template_id: str,
        *,
        text: str | None = None,
        image: Mapping[str, Any] | None = None,
        link: Mapping[str, Any] | None = None,
        miniprogram: Mapping[str, Any] | None = None,
        file: Mapping[str, Any] | None = None,
        video: Mapping[str, Any] | None = None,
        agentid: int | None = None,
    ) -> None:
        """``externalcontact/group_welcome_template/edit``: change the parts given. Only the app
        that created a template may edit it."""
        api = "externalcontact/group_welcome_template/edit"
        require(template_id, "template_id", api)
        attachments = {
            k: v
            for k, v in (
                ("image", image),
                ("link", link),
                ("miniprogram", miniprogram),
                ("file", file),
                ("video", video),
            )
            if v is not None
        }
        body = _template_body(api, text, attachments, required=False)
        if not body:
            raise ArgumentError(None, "nothing to change", api)
        body["template_id"] = template_id
        if agentid is not None:
            body["agentid"] = agentid
        self._post(api, body)

    def group_welcome_template_get(self, template_id: str) -> Json:
        """``externalcontact/group_welcome_template/get``: ``{"text": {"content"}, "image"?,
        "link"?, "miniprogram"?, "file"?, "video"?}``."""
        api = "externalcontact/group_welcome_template/get"
        require(template_id, "template_id", api)
        data = self._post(api, {"template_id": template_id})
        return {k: v for k, v in data.items() if k not in ("errcode", "errmsg")}

    def group_welcome_template_del(self, template_id: str, *, agentid: int | None = None) -> None:
        """``externalcontact/group_welcome_template/del``: only the creating app may delete it."""
        api = "externalcontact/group_welcome_template/del"
        require(template_id, "template_id", api)
        body: Json = {"template_id": template_id}
        if agentid is not None:
            body["agentid"] = agentid
        self._post(api, body)
