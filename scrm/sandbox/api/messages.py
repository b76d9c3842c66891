"""Welcome messages and app messages (WECOM.md §7.1, ``message/send``)."""

from __future__ import annotations

import secrets

from ..models import (
    SandboxCall,
    SandboxMember,
)
from .base import (
    ApiError,
    Ctx,
    Json,
    endpoint,
    int_param,
)

# --- messages --------------------------------------------------------------------------------------------


@endpoint("externalcontact/send_welcome_msg", "POST", contact=True)
def send_welcome_msg(ctx: Ctx) -> Json:
    code = ctx.body.get("welcome_code")
    if not code:
        raise ApiError(41049)
    text = ctx.body.get("text") or {}
    attachments = ctx.body.get("attachments") or []
    if not (isinstance(text, dict) and text.get("content")) and not attachments:
        raise ApiError(44004)
    if len(attachments) > 9 or len(str(text.get("content", "")).encode()) > 4000:
        raise ApiError(40058, "at most 9 attachments and 4000 bytes of text")
    # Single use: a code already used successfully answers 41051, as when another app won.
    used = SandboxCall.objects.filter(
        path="externalcontact/send_welcome_msg", errcode=0, body__welcome_code=code, corp_id=ctx.corp_id
    )
    if used.exists():
        raise ApiError(41051)
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
