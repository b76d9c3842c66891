"""Welcome messages (WECOM.md §7.1) and app messages to staff (``message/send``)."""

from __future__ import annotations

from collections.abc import Sequence

from ..errors import ArgumentError
from .base import EndpointsBase, Json, require
from .media import check_attachments


class MessagesApi(EndpointsBase):
    # --- messages (WECOM.md §7) --------------------------------------------------------------------

    def send_welcome_msg(
        self, welcome_code: str, *, text: str | None = None, attachments: Sequence[Json] = ()
    ) -> None:
        """``externalcontact/send_welcome_msg``: within 20 s of the add event, once per code.

        ``welcome_code`` comes from the ``add_external_contact`` callback (absent when an admin set
        a console welcome message). ``attachments`` are ``{"msgtype": t, t: {…}}`` with ``t`` one
        of image (``media_id`` or an ``uploadimg`` ``pic_url``), link, miniprogram, video, file;
        at most 9, text at most 4000 bytes. A code is spent only by a successful call.

        41051 raises :class:`~.errors.WelcomeAlreadySent` (another app won, or already sent:
        treat as delivered), 41050 :class:`~.errors.WelcomeCodeInvalid` (expired after 20 s or
        unknown: log, never retry).
        """
        api = "externalcontact/send_welcome_msg"
        require(welcome_code, "welcome_code", api)
        if not text and not attachments:
            raise ArgumentError(None, "text or attachments is required", api)
        if text is not None and len(text.encode()) > 4000:
            raise ArgumentError(None, "text is longer than 4000 bytes", api)
        check_attachments(attachments, api, limit=9)
        body: Json = {"welcome_code": welcome_code}
        if text is not None:
            body["text"] = {"content": text}
        if attachments:
            body["attachments"] = list(attachments)
        self._post(api, body)

    def message_send(
        self,
        *,
        agentid: int,
        msgtype: str,
        content: Json,
        touser: Sequence[str] = (),
        toparty: Sequence[int] = (),
        totag: Sequence[int] = (),
    ) -> Json:
        """``message/send``: an app message, with the app's (agent's) secret.

        ``content`` is the body of ``msgtype`` (e.g. ``{"content": "hi"}`` for text). Returns
        ``{"invaliduser", "invalidparty", "invalidtag", "msgid"}``.
        """
        api = "message/send"
        if not (touser or toparty or totag):
            raise ArgumentError(None, "touser, toparty or totag is required", api)
        if len(touser) > 1000 or len(toparty) > 100:
            raise ArgumentError(None, "at most 1000 users and 100 departments", api)
        body: Json = {"agentid": agentid, "msgtype": msgtype, msgtype: dict(content)}
        if touser:
            body["touser"] = "|".join(touser)
        if toparty:
            body["toparty"] = "|".join(str(p) for p in toparty)
        if totag:
            body["totag"] = "|".join(str(t) for t in totag)
        data = self._post(api, body)
        data.pop("errcode", None)
        data.pop("errmsg", None)
        return data
