"""「联系我」 contact ways: add, get, list, update, delete, close a temporary chat (WECOM.md §5)."""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from ..clock import sandbox_time
from ..frequency import limits_get
from ..models import (
    SandboxContactWay,
    SandboxDepartment,
    SandboxFollow,
    SandboxJoinWay,
    SandboxMember,
)
from .base import (
    ApiError,
    Ctx,
    Json,
    contact_get,
    cursor_decode,
    cursor_encode,
    endpoint,
    int_param,
    member_get,
    str_list,
)
from .media import attachment_check

MAX_MEMBERS = 100
TEMP_EXPIRES_DEFAULT = 7 * 86400
TEMP_CHAT_EXPIRES_DEFAULT = 86400
TEMP_MAX = 14 * 86400
TEMP_PER_DAY = 100_000
LIST_WINDOW_DEFAULT = 90 * 86400
CONCLUSION_TYPES = ("text", "image", "link", "miniprogram")


# --- shared with join ways --------------------------------------------------------------------------


def api_quota_check(corp_id: str) -> None:
    """41045 when the corp's API-created contact ways and join ways reach the quota (shared)."""
    used = (
        SandboxContactWay.objects.filter(corp_id=corp_id, is_temp=False).count()
        + SandboxJoinWay.objects.filter(corp_id=corp_id).count()
    )
    if used >= limits_get().api_quota:
        raise ApiError(41045)


def text_limit(value: Any, name: str, limit: int) -> str:
    """``value`` as a string of at most ``limit`` characters, else 40058."""
    if value is None:
        return ""
    if not isinstance(value, str) or len(value) > limit:
        raise ApiError(40058, f"{name} must be a string of at most {limit} characters")
    return value


def bool_param(value: Any, name: str, default: bool) -> bool:
    if value is None:
        return default
    if isinstance(value, bool) or value in (0, 1):
        return bool(value)
    raise ApiError(40058, f"{name} must be a boolean")


def department_descendants(corp_id: str, roots: Iterable[int]) -> set[int]:
    """``roots`` and every department below them; 60123 for an unknown department."""
    parents = dict(SandboxDepartment.objects.filter(corp_id=corp_id).values_list("dept_id", "parentid"))
    wanted = set(roots)
    unknown = wanted - parents.keys()
    if unknown:
        raise ApiError(60123, f"department {min(unknown)}")
    children: dict[int, list[int]] = {}
    for dept, parent in parents.items():
        children.setdefault(parent, []).append(dept)
    result, stack = set(), list(wanted)
    while stack:
        dept = stack.pop()
        if dept not in result:
            result.add(dept)
            stack.extend(children.get(dept, ()))
    return result


def members_expand(corp_id: str, users: list[str], parties: list[int]) -> list[str]:
    """The userids a way reaches: ``users`` then the active members of ``parties`` and below."""
    result = list(dict.fromkeys(users))
    if parties:
        departments = department_descendants(corp_id, parties)
        seen = set(result)
        members = SandboxMember.objects.filter(corp_id=corp_id, status=1, contact_enabled=True).order_by("id")
        for userid, member_departments in members.values_list("userid", "departments"):
            if userid not in seen and departments.intersection(member_departments or ()):
                result.append(userid)
                seen.add(userid)
    return result


def _users_check(ctx: Ctx, users: list[str]) -> None:
    """Each user exists (60111), is activated (41054) and has customer contact (84074)."""
    found = {
        m.userid: m
        for m in SandboxMember.objects.filter(corp_id=ctx.corp_id, userid__in=users).only(
            "userid", "status", "contact_enabled"
        )
    }
    for userid in users:
        member = found.get(userid)
        if member is None:
            raise ApiError(60111, f"userid {userid}")
        if member.status == 4:
            raise ApiError(41054, f"userid {userid}")
        if member.status != 1 or not member.contact_enabled:
            raise ApiError(84074, f"userid {userid}")


def _parties(value: Any) -> list[int]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(p, int) and not isinstance(p, bool) for p in value):
        raise ApiError(40058, "party must be a list of department ids")
    return value


def _conclusions(ctx: Ctx, value: Any) -> dict:
    if not value:
        return {}
    if not isinstance(value, dict):
        raise ApiError(40058, "conclusions must be an object")
    for kind, content in value.items():
        if kind not in CONCLUSION_TYPES:
            raise ApiError(41065, f"conclusions.{kind}")
        if kind == "text":
            if not isinstance(content, dict) or len(str(content.get("content", "")).encode()) > 4000:
                raise ApiError(40058, "conclusions.text.content ≤4000 bytes")
        else:
            attachment_check(ctx.corp_id, kind, content)
    return value


def _seconds(value: Any, name: str, default: int) -> int:
    seconds = int_param(value, name, default=default)
    if not 1 <= seconds <= TEMP_MAX:
        raise ApiError(40058, f"{name} must be 1 to {TEMP_MAX} seconds")
    return seconds


def _style(value: Any, way_type: int) -> int | None:
    if value is None:
        return None
    style = int_param(value, "style")
    if not 1 <= style <= (3 if way_type == 1 else 2):
        raise ApiError(41042)
    return style


def _way_members_check(ctx: Ctx, way_type: int, users: list[str], parties: list[int]) -> None:
    if way_type == 1:
        if len(users) != 1 or parties:
            raise ApiError(40058, "a single-member way (type 1) takes exactly one user and no party")
    elif not users and not parties:
        raise ApiError(40058, "user or party is required")
    _users_check(ctx, users)
    if len(members_expand(ctx.corp_id, users, parties)) > MAX_MEMBERS:
        raise ApiError(41041)


def way_get(ctx: Ctx) -> SandboxContactWay:
    config_id = ctx.body.get("config_id")
    if not config_id:
        raise ApiError(41043)
    way = SandboxContactWay.objects.filter(corp_id=ctx.corp_id, config_id=str(config_id)).first()
    if way is None:
        raise ApiError(41044)
    return way


def qr_code_url(kind: str, config_id: str) -> str:
    return f"https://sandbox.invalid/qr/{kind}/{config_id}"


def _conclusions_json(conclusions: dict) -> dict:
    """What ``get_contact_way`` returns: an image conclusion comes back as ``pic_url``."""
    result = dict(conclusions)
    image = result.get("image")
    if isinstance(image, dict) and image.get("media_id"):
        result["image"] = {"pic_url": f"https://sandbox.invalid/media/{image['media_id'][:32]}"}
    return result


# --- endpoints ----------------------------------------------------------------------------------------


@endpoint("externalcontact/add_contact_way", "POST", contact=True)
def add_contact_way(ctx: Ctx) -> Json:
    body = ctx.body
    if body.get("type") is None:
        raise ApiError(41037)
    if body.get("scene") is None:
        raise ApiError(41038)
    way_type = int_param(body["type"], "type")
    if way_type not in (1, 2):
        raise ApiError(41039)
    scene = int_param(body["scene"], "scene")
    if scene not in (1, 2):
        raise ApiError(41040)
    style = _style(body.get("style"), way_type)
    remark = text_limit(body.get("remark"), "remark", 30)
    state = text_limit(body.get("state"), "state", 30)
    users = str_list(body.get("user"), "user")
    parties = _parties(body.get("party"))
    is_temp = bool_param(body.get("is_temp"), "is_temp", False)
    _way_members_check(ctx, way_type, users, parties)
    conclusions = _conclusions(ctx, body.get("conclusions"))
    now = sandbox_time()
    expires_in = chat_expires_in = None
    if is_temp:
        if way_type != 1:
            raise ApiError(40058, "a temporary way has a single member")
        expires_in = _seconds(body.get("expires_in"), "expires_in", TEMP_EXPIRES_DEFAULT)
        chat_expires_in = _seconds(body.get("chat_expires_in"), "chat_expires_in", TEMP_CHAT_EXPIRES_DEFAULT)
        if (
            SandboxContactWay.objects.filter(
                corp_id=ctx.corp_id, is_temp=True, create_time__gt=now - 86400
            ).count()
            >= TEMP_PER_DAY
        ):
            raise ApiError(41045, "temporary ways: 100000 per day")
    else:
        api_quota_check(ctx.corp_id)
    config_id = secrets.token_hex(16)
    way = SandboxContactWay.objects.create(
        corp_id=ctx.corp_id,
        config_id=config_id,
        type=way_type,
        scene=scene,
        style=style,
        remark=remark,
        skip_verify=bool_param(body.get("skip_verify"), "skip_verify", True),
        state=state,
        user=users,
        party=parties,
        is_temp=is_temp,
        expires_in=expires_in,
        chat_expires_in=chat_expires_in,
        unionid=text_limit(body.get("unionid"), "unionid", 64) if is_temp else "",
        is_exclusive=bool_param(body.get("is_exclusive"), "is_exclusive", False),
        conclusions=conclusions,
        qr_code=qr_code_url("contact_way", config_id) if scene == 2 else "",
        create_time=now,
    )
    data: Json = {"config_id": way.config_id}
    if way.qr_code:
        data["qr_code"] = way.qr_code
    return data


def contact_way_json(way: SandboxContactWay) -> Json:
    data: Json = {
        "config_id": way.config_id,
        "type": way.type,
        "scene": way.scene,
        "remark": way.remark,
        "skip_verify": way.skip_verify,
        "state": way.state,
        "user": way.user,
        "party": way.party,
        "is_temp": way.is_temp,
        "is_exclusive": way.is_exclusive,
    }
    if way.style is not None:
        data["style"] = way.style
    if way.qr_code:
        data["qr_code"] = way.qr_code
    if way.is_temp:
        data.update(
            expires_in=way.expires_in,
            chat_expires_in=way.chat_expires_in,
            unionid=way.unionid,
            conclusions=_conclusions_json(way.conclusions),
        )
    return data


@endpoint("externalcontact/get_contact_way", "POST", contact=True)
def get_contact_way(ctx: Ctx) -> Json:
    return {"contact_way": contact_way_json(way_get(ctx))}


@endpoint("externalcontact/list_contact_way", "POST", contact=True)
def list_contact_way(ctx: Ctx) -> Json:
    now = sandbox_time()
    end = int_param(ctx.body.get("end_time"), "end_time", default=now)
    start = int_param(ctx.body.get("start_time"), "start_time", default=end - LIST_WINDOW_DEFAULT)
    if start > end:
        raise ApiError(40058, "start_time is after end_time")
    limit = int_param(ctx.body.get("limit"), "limit", default=100)
    if not 1 <= limit <= 1000:
        raise ApiError(40058, "limit must be 1-1000")
    offset = cursor_decode(ctx.body.get("cursor"))
    ways = SandboxContactWay.objects.filter(
        corp_id=ctx.corp_id, create_time__gte=start, create_time__lte=end
    ).order_by("id")
    page = list(ways.values_list("config_id", flat=True)[offset : offset + limit + 1])
    return {
        "contact_way": [{"config_id": c} for c in page[:limit]],
        "next_cursor": cursor_encode(offset + limit) if len(page) > limit else "",
    }


@endpoint("externalcontact/update_contact_way", "POST", contact=True)
def update_contact_way(ctx: Ctx) -> Json:
    way = way_get(ctx)
    body = ctx.body
    if "remark" in body:
        way.remark = text_limit(body["remark"], "remark", 30)
    if "state" in body:
        way.state = text_limit(body["state"], "state", 30)
    if "skip_verify" in body:
        way.skip_verify = bool_param(body["skip_verify"], "skip_verify", True)
    if "style" in body:
        way.style = _style(body["style"], way.type)
    if "user" in body or "party" in body:
        # The lists replace the old ones (WECOM.md §5.2).
        users = str_list(body.get("user"), "user") if "user" in body else way.user
        parties = _parties(body.get("party")) if "party" in body else way.party
        _way_members_check(ctx, way.type, users, parties)
        way.user, way.party, way.next_member = users, parties, 0
    if way.is_temp:
        if "expires_in" in body:
            way.expires_in = _seconds(body["expires_in"], "expires_in", TEMP_EXPIRES_DEFAULT)
        if "chat_expires_in" in body:
            way.chat_expires_in = _seconds(
                body["chat_expires_in"], "chat_expires_in", TEMP_CHAT_EXPIRES_DEFAULT
            )
        if "unionid" in body:
            way.unionid = text_limit(body["unionid"], "unionid", 64)
    if "conclusions" in body:
        way.conclusions = _conclusions(ctx, body["conclusions"])
    way.save()
    return {}


@endpoint("externalcontact/del_contact_way", "POST", contact=True)
def del_contact_way(ctx: Ctx) -> Json:
    way_get(ctx).delete()
    return {}


@endpoint("externalcontact/close_temp_chat", "POST", contact=True)
def close_temp_chat(ctx: Ctx) -> Json:
    member = member_get(ctx, str(ctx.body.get("userid") or ""))
    contact = contact_get(ctx, str(ctx.body.get("external_userid") or ""))
    if not SandboxFollow.objects.filter(member=member, contact=contact).exists():
        raise ApiError(84061)
    return {}
