"""Group join ways (加入群聊 / 群活码): add, get, update, delete (WECOM.md §6.3)."""

from __future__ import annotations

import secrets
from typing import Any

from ..clock import sandbox_time
from ..models import SandboxGroupChat, SandboxJoinWay
from .base import ApiError, Ctx, Json, endpoint, int_param, str_list
from .contact_ways import api_quota_check, bool_param, qr_code_url, text_limit

MAX_CHATS = 5


def _fields(ctx: Ctx) -> dict[str, Any]:
    """The whole configuration from the body: ``update_join_way`` overwrites every field too."""
    body = ctx.body
    if body.get("scene") is None:
        raise ApiError(40058, "scene is required")
    scene = int_param(body["scene"], "scene")
    if scene not in (1, 2):
        raise ApiError(40058, "scene must be 1 (mini-program plugin) or 2 (QR code)")
    remark = body.get("remark") or ""
    if not isinstance(remark, str):
        raise ApiError(40058, "remark must be a string")
    chat_ids = list(dict.fromkeys(str_list(body.get("chat_id_list"), "chat_id_list")))
    if not chat_ids:
        raise ApiError(40058, "chat_id_list is required")
    if len(chat_ids) > MAX_CHATS:
        raise ApiError(40058, f"chat_id_list holds at most {MAX_CHATS} groups")
    known = set(
        SandboxGroupChat.objects.filter(corp_id=ctx.corp_id, chat_id__in=chat_ids).values_list(
            "chat_id", flat=True
        )
    )
    missing = [c for c in chat_ids if c not in known]
    if missing:
        raise ApiError(90501, f"chat_id {missing[0]}")
    room_base_id = int_param(body.get("room_base_id"), "room_base_id", default=1)
    if room_base_id < 0:
        raise ApiError(40058, "room_base_id must not be negative")
    return {
        "scene": scene,
        "remark": remark[:30],  # WeCom cuts the remark at 30 characters
        "auto_create_room": bool_param(body.get("auto_create_room"), "auto_create_room", True),
        "room_base_name": text_limit(body.get("room_base_name"), "room_base_name", 40),
        "room_base_id": room_base_id,
        "chat_id_list": chat_ids,
        "state": text_limit(body.get("state"), "state", 30),
        "mark_source": bool_param(body.get("mark_source"), "mark_source", False),
    }


def join_way_get(ctx: Ctx) -> SandboxJoinWay:
    config_id = ctx.body.get("config_id")
    if not config_id:
        raise ApiError(41043)
    way = SandboxJoinWay.objects.filter(corp_id=ctx.corp_id, config_id=str(config_id)).first()
    if way is None:
        raise ApiError(41044)
    return way


@endpoint("externalcontact/groupchat/add_join_way", "POST", contact=True)
def add_join_way(ctx: Ctx) -> Json:
    fields = _fields(ctx)
    api_quota_check(ctx.corp_id)
    config_id = secrets.token_hex(16)
    SandboxJoinWay.objects.create(
        corp_id=ctx.corp_id,
        config_id=config_id,
        qr_code=qr_code_url("join_way", config_id) if fields["scene"] == 2 else "",
        create_time=sandbox_time(),
        **fields,
    )
    return {"config_id": config_id}


@endpoint("externalcontact/groupchat/get_join_way", "POST", contact=True)
def get_join_way(ctx: Ctx) -> Json:
    way = join_way_get(ctx)
    data: Json = {
        "config_id": way.config_id,
        "scene": way.scene,
        "remark": way.remark,
        "auto_create_room": int(way.auto_create_room),
        "room_base_name": way.room_base_name,
        "room_base_id": way.room_base_id,
        "chat_id_list": way.chat_id_list,
        "state": way.state,
    }
    if way.qr_code:
        data["qr_code"] = way.qr_code
    return {"join_way": data}


@endpoint("externalcontact/groupchat/update_join_way", "POST", contact=True)
def update_join_way(ctx: Ctx) -> Json:
    way = join_way_get(ctx)
    for name, value in _fields(ctx).items():
        setattr(way, name, value)
    if way.scene == 2 and not way.qr_code:
        way.qr_code = qr_code_url("join_way", way.config_id)
    elif way.scene != 2:
        way.qr_code = ""
    way.save()
    return {}


@endpoint("externalcontact/groupchat/del_join_way", "POST", contact=True)
def del_join_way(ctx: Ctx) -> Json:
    join_way_get(ctx).delete()
    return {}
