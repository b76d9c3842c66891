"""Customer groups: list and get (WECOM.md §6.1, §6.2)."""

from __future__ import annotations

from ..models import (
    SandboxGroupChat,
    SandboxMember,
)
from .base import (
    ApiError,
    Ctx,
    Json,
    cursor_decode,
    cursor_encode,
    endpoint,
    int_param,
    str_list,
)

# --- customer groups -------------------------------------------------------------------------------------


@endpoint("externalcontact/groupchat/list", "POST", contact=True)
def groupchat_list(ctx: Ctx) -> Json:
    limit = int_param(ctx.body.get("limit"), "limit")
    if not 1 <= limit <= 1000:
        raise ApiError(40058, "limit must be 1-1000")
    chats = SandboxGroupChat.objects.filter(corp_id=ctx.corp_id).order_by("id")
    owner_filter = ctx.body.get("owner_filter") or {}
    owners = str_list(
        owner_filter.get("userid_list") if isinstance(owner_filter, dict) else None, "userid_list"
    )
    if len(owners) > 100:
        raise ApiError(40058, "owner_filter.userid_list exceeds 100")
    if owners:
        chats = chats.filter(owner__in=owners)
    elif SandboxMember.objects.filter(corp_id=ctx.corp_id).count() > 1000:
        raise ApiError(81017)
    status_filter = int_param(ctx.body.get("status_filter"), "status_filter", default=0)
    if status_filter:
        chats = chats.filter(status=status_filter)
    # Keyset on the primary key: the cursor is the last chat served, so a late page costs no more
    # than the first one.
    after = cursor_decode(ctx.body.get("cursor"))
    page = list(chats.filter(id__gt=after).values("id", "chat_id", "status")[: limit + 1])
    next_cursor = cursor_encode(page[limit - 1]["id"]) if len(page) > limit else ""
    return {
        "group_chat_list": [{"chat_id": c["chat_id"], "status": c["status"]} for c in page[:limit]],
        "next_cursor": next_cursor,
    }


@endpoint("externalcontact/groupchat/get", "POST", contact=True)
def groupchat_get(ctx: Ctx) -> Json:
    chat = SandboxGroupChat.objects.filter(corp_id=ctx.corp_id, chat_id=ctx.body.get("chat_id") or "").first()
    if chat is None:
        raise ApiError(90501)
    need_name = int_param(ctx.body.get("need_name"), "need_name", default=0)
    members = [m if need_name else {k: v for k, v in m.items() if k != "name"} for m in chat.member_list]
    return {
        "group_chat": {
            "chat_id": chat.chat_id,
            "name": chat.name,
            "owner": chat.owner,
            "create_time": chat.create_time,
            "notice": chat.notice,
            "member_list": members,
            "admin_list": chat.admin_list,
            "member_version": chat.member_version,
        }
    }
