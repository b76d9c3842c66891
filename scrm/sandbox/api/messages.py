"""Welcome messages and app messages (WECOM.md §7.1, ``message/send``)."""

from __future__ import annotations

import secrets

from ..models import SandboxMember
from ..welcome import welcome_code_use
from .base import (
    ApiError,
    Ctx,
    Json,
    endpoint,
    int_param,
)
from .media import attachments_check

WELCOME_TEXT_MAX_BYTES = 4000

# --- messages --------------------------------------------------------------------------------------------


@endpoint("externalcontact/send_welcome_msg", "POST", contact=True)
def send_welcome_msg(ctx: Ctx) -> Json:
    """Checked in WeCom's order: the code is present, the content is valid, then the code is
    consumed (a refused message does not use it up); the first successful call wins."""
    code = ctx.body.get("welcome_code")
    if not code or not isinstance(code, str):
        raise ApiError(41049)
    text = ctx.body.get("text")
    attachments = ctx.body.get("attachments") or []
    if text is not None and not isinstance(text, dict):
        raise ApiError(40058, "text must be an object with content")
    content = str((text or {}).get("content") or "")
    if not content and not attachments:
        raise ApiError(44004)
    if len(content.encode()) > WELCOME_TEXT_MAX_BYTES:
        raise ApiError(40058, f"text.content is at most {WELCOME_TEXT_MAX_BYTES} bytes")
    attachments_check(ctx.corp_id, attachments, limit=9)
    errcode = welcome_code_use(corp_id=ctx.corp_id, code=code)
    if errcode:
        raise ApiError(errcode)
    return {}


@endpoint("message/send", "POST")
def message_send(ctx: Ctx) -> Json:
    if ctx.app.agentid is None or int_param(ctx.body.get("agentid"), "agentid") != ctx.app.agentid:
        raise ApiError(40056)
    msgtype = ctx.body.get("msgtype")
    if not msgtype or not isinstance(ctx.body.get(msgtype), dict):
        raise ApiError(40058, "msgtype and its content are required")
    users = [u for u in str(ctx.body.get("touser") or "").split("|") if u]
    if not users and not ctx.body.get("toparty") and not ctx.body.get("totag"):
        raise ApiError(40058, "touser, toparty or totag is required")
    known = set(
        SandboxMember.objects.filter(corp_id=ctx.corp_id, userid__in=users).values_list("userid", flat=True)
    )
    invalid = [u for u in users if u not in known]
    return {
        "invaliduser": "|".join(invalid),
        "invalidparty": "",
        "invalidtag": "",
        "unlicenseduser": "",
        "msgid": secrets.token_urlsafe(24),
        "response_code": secrets.token_urlsafe(24),
    }
