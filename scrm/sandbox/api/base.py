"""The sandbox's API machinery: WeCom's error answers, the endpoint registry, shared helpers."""

from __future__ import annotations

import base64
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.core.files.uploadedfile import UploadedFile

from ..models import (
    SandboxApp,
    SandboxExternalContact,
    SandboxFollow,
    SandboxMember,
    SandboxTag,
)

Json = dict[str, Any]

TOKEN_LIFETIME = 7200
FOLLOW_PAGE = 500

# errmsg stems as WeCom writes them (WECOM.md §0); the suffix mimics WeCom's "more info" tail.
ERRMSG = {
    -1: "system busy",
    0: "ok",
    40001: "invalid credential",
    40003: "invalid userid",
    40013: "invalid corpid",
    40014: "invalid access_token",
    40058: "invalid parameter",
    40068: "invalid tagid",
    40071: "UserTag Name Already Exist",
    40096: "invalid external userid",
    40126: "corp tag count exceed limit",
    41001: "access_token missing",
    41004: "corpsecret missing",
    41009: "missing userid",
    41049: "missing welcome_code",
    41050: "welcome_code invalid or expired",
    41051: "customer and user has started chatting",
    42001: "access_token expired",
    43001: "require GET method",
    43002: "require POST method",
    44004: "empty content",
    45009: "api freq out of limit",
    45033: "api concurrent out of limit",
    47001: "data format error",
    48002: "api forbidden",
    60011: "no privilege to access/modify contact/party/agent",
    60111: "userid not found",
    60123: "invalid party id",
    81017: "too many userid to filter",
    84061: "not external contact",
    90501: "not customer group",
    40056: "invalid agentid",
    # acquisition: contact ways, join ways, welcome messages and templates, media
    40004: "invalid media type",
    40005: "invalid file type",
    40006: "invalid file size",
    40007: "invalid media_id",
    40009: "invalid image size",
    41005: "media data missing",
    41037: "missing contact way type",
    41038: "missing contact way scene",
    41039: "invalid contact way type",
    41040: "invalid contact way scene",
    41041: "exceed max user count of contact way",
    41042: "invalid contact way style",
    41043: "missing config_id",
    41044: "invalid config_id",
    41045: "exceed max contact way count",
    41054: "user not active",
    41055: "exceed max group welcome template count",
    41064: "attachment size exceed limit",
    41065: "invalid attachment type",
    84074: "no external contact privilege",
    90503: "group chat is full",
}


class ApiError(Exception):
    """Raised by handlers; becomes ``{"errcode": code, "errmsg": ...}``."""

    def __init__(self, errcode: int, detail: str = "") -> None:
        super().__init__(errcode, detail)
        self.errcode = errcode
        self.detail = detail


def errmsg(errcode: int, detail: str = "") -> str:
    stem = ERRMSG.get(errcode, "error")
    if errcode == 0:
        return stem
    hint = f", hint: [{detail}]" if detail else ""
    return f"{stem}{hint}, more info at https://open.work.weixin.qq.com/devtool/query?e={errcode}"


@dataclass
class Ctx:
    """What a handler knows about the call: the app behind the token, query and JSON body."""

    app: SandboxApp
    params: dict[str, str]
    body: Json
    files: dict[str, UploadedFile] = field(default_factory=dict)  # multipart uploads (media/*)

    @property
    def corp_id(self) -> str:
        return self.app.corp_id


Handler = Callable[[Ctx], Json]


@dataclass(frozen=True)
class Endpoint:
    method: str
    handler: Handler
    contact: bool = False  # a customer-contact API (externalcontact/*)


ENDPOINTS: dict[str, Endpoint] = {}


def endpoint(path: str, method: str, *, contact: bool = False) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        ENDPOINTS[path] = Endpoint(method, handler, contact)
        return handler

    return register


# --- helpers ----------------------------------------------------------------------------------------


def cursor_encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sb:{offset}".encode()).decode().rstrip("=")


def cursor_decode(cursor: Any) -> int:
    if not cursor:
        return 0
    try:
        raw = base64.urlsafe_b64decode(str(cursor) + "=" * (-len(str(cursor)) % 4)).decode()
        prefix, offset = raw.split(":")
        if prefix != "sb" or int(offset) < 0:
            raise ValueError
        return int(offset)
    except ValueError:
        raise ApiError(40058, "invalid cursor") from None


def page_of(items: list[Any], offset: int, limit: int) -> tuple[list[Any], str]:
    page = items[offset : offset + limit]
    more = offset + limit < len(items)
    return page, cursor_encode(offset + limit) if more else ""


def int_param(value: Any, name: str, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise ApiError(40058, f"{name} is required")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(40058, f"{name} must be an integer") from None


def limit_param(ctx: Ctx, *, default: int, maximum: int, oversized_default: bool = False) -> int:
    """The body's ``limit``: the default when missing or not positive; above ``maximum``, the
    maximum, or the default for the endpoints WeCom documents that way (``oversized_default``)."""
    limit = int_param(ctx.body.get("limit"), "limit", default=default)
    if limit <= 0:
        return default
    if limit > maximum:
        return default if oversized_default else maximum
    return limit


def str_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(40058, f"{name} must be a list of strings")
    return value


def member_get(ctx: Ctx, userid: str) -> SandboxMember:
    if not userid:
        raise ApiError(41009)
    member = SandboxMember.objects.filter(corp_id=ctx.corp_id, userid=userid).first()
    if member is None:
        raise ApiError(60111, f"userid {userid}")
    return member


def contact_get(ctx: Ctx, external_userid: str) -> SandboxExternalContact:
    contact = SandboxExternalContact.objects.filter(
        corp_id=ctx.corp_id, external_userid=external_userid
    ).first()
    if not external_userid or contact is None:
        raise ApiError(40096)
    return contact


def contact_json(contact: SandboxExternalContact) -> Json:
    data: Json = {
        "external_userid": contact.external_userid,
        "name": contact.name,
        "avatar": contact.avatar,
        "type": contact.type,
        "gender": contact.gender,
    }
    if contact.type == 1:
        if contact.unionid:
            data["unionid"] = contact.unionid
    else:
        data.update(
            position=contact.position, corp_name=contact.corp_name, corp_full_name=contact.corp_full_name
        )
    return data


def follow_json(follow: SandboxFollow) -> Json:
    return {
        "userid": follow.member.userid,
        "remark": follow.remark,
        "description": follow.description,
        "createtime": follow.createtime,
        "remark_corp_name": follow.remark_corp_name,
        "remark_mobiles": follow.remark_mobiles,
        "oper_userid": follow.oper_userid,
        "add_way": follow.add_way,
        "state": follow.state,
    }


def live_tags(corp_id: str) -> dict[str, SandboxTag]:
    tags = SandboxTag.objects.select_related("group").filter(group__corp_id=corp_id, deleted=False)
    return {t.tag_id: t for t in tags}
