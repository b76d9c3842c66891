"""WeCom's server API, emulated under ``/sandbox/cgi-bin/…``.

Like WeCom, every answer is HTTP 200 JSON with ``errcode`` and ``errmsg`` (WECOM.md §0, §19).
One view receives every call: it records it, applies the injected faults, checks the token and
the app's rights, then runs the endpoint's handler from :data:`ENDPOINTS`.
"""

from __future__ import annotations

import base64
import json
import random
import secrets
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import F
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from .models import (
    SandboxAccessToken,
    SandboxApp,
    SandboxCall,
    SandboxDepartment,
    SandboxExternalContact,
    SandboxFaults,
    SandboxFollow,
    SandboxGroupChat,
    SandboxMember,
    SandboxTag,
    SandboxTagGroup,
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


# --- the one view -----------------------------------------------------------------------------------

# SQLite has one writer at a time, and the test suite's shared in-memory database even fails with
# "table is locked" instead of waiting; on SQLite the sandbox therefore answers one call at a time.
_sqlite_lock = threading.Lock()


def _serialized() -> AbstractContextManager[object]:
    return _sqlite_lock if connection.vendor == "sqlite" else nullcontext()


@csrf_exempt
def api(request: HttpRequest, path: str) -> JsonResponse:
    """Answer one WeCom API call, recording it in :class:`SandboxCall`."""
    with _serialized():
        return _answer(request, path)


def _answer(request: HttpRequest, path: str) -> JsonResponse:
    params = {k: v for k, v in request.GET.items() if k not in ("access_token", "corpsecret")}
    body: Json | None = None
    call = SandboxCall(
        method=request.method or "GET", path=path, params=params, corp_id=params.get("corpid", "")
    )
    try:
        if request.method == "POST":
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                raise ApiError(47001) from None
            if not isinstance(body, dict):
                raise ApiError(47001)
            call.body = body
        faulted = _apply_faults(path, request.GET.get("access_token", ""))
        if faulted:
            call.fault = True
            raise ApiError(faulted, "injected fault")
        if path == "gettoken":
            data = _gettoken(request)
        else:
            spec = ENDPOINTS.get(path)
            if spec is None:
                raise ApiError(48002, f"{path} is not emulated")
            app = _authenticate(request.GET.get("access_token", ""))
            call.corp_id = app.corp_id
            if spec.method != request.method:
                raise ApiError(43002 if spec.method == "POST" else 43001)
            if spec.contact and not app.customer_contact:
                raise ApiError(48002, "app is not allowed to call customer contact APIs")
            data = spec.handler(Ctx(app=app, params=params, body=body or {}))
        payload = {"errcode": 0, "errmsg": "ok", **data}
    except ApiError as exc:
        payload = {"errcode": exc.errcode, "errmsg": errmsg(exc.errcode, exc.detail)}
    call.errcode = payload["errcode"]
    call.save()
    return JsonResponse(payload, json_dumps_params={"ensure_ascii": False})


def _apply_faults(path: str, token: str) -> int:
    """The injected errcode for this call, or 0. Latency is applied here too."""
    faults = SandboxFaults.objects.filter(pk=1).first()
    if faults is None:
        return 0
    if faults.latency_ms:
        time.sleep(faults.latency_ms / 1000)
    if faults.fail_paths and path not in faults.fail_paths:
        return 0
    code = 0
    if faults.fail_next and SandboxFaults.objects.filter(pk=1, fail_next__gt=0).update(
        fail_next=F("fail_next") - 1
    ):
        code = faults.fail_errcode
    elif faults.error_rate and faults.error_codes and random.random() < faults.error_rate:
        code = random.choice(faults.error_codes)
    if code == 42001 and token:
        SandboxAccessToken.objects.filter(token=token).update(expires_at=timezone.now())
    elif code == 40014 and token:
        SandboxAccessToken.objects.filter(token=token).update(invalidated=True)
    return code


def _gettoken(request: HttpRequest) -> Json:
    corp_id = request.GET.get("corpid", "")
    secret = request.GET.get("corpsecret", "")
    if not corp_id or not SandboxApp.objects.filter(corp_id=corp_id).exists():
        raise ApiError(40013)
    if not secret:
        raise ApiError(41004)
    app = SandboxApp.objects.filter(corp_id=corp_id, secret=secret).first()
    if app is None:
        raise ApiError(40001)
    now = timezone.now()
    with transaction.atomic():
        # Like WeCom (older doc): the same token until it expires or is invalidated.
        current = (
            SandboxAccessToken.objects.select_for_update()
            .filter(app=app, invalidated=False, expires_at__gt=now)
            .order_by("-expires_at")
            .first()
        )
        if current is None:
            current = SandboxAccessToken.objects.create(
                app=app, token=secrets.token_urlsafe(48), expires_at=now + timedelta(seconds=TOKEN_LIFETIME)
            )
    expires_in = max(int((current.expires_at - now).total_seconds()), 1)
    return {"access_token": current.token, "expires_in": expires_in}


def _authenticate(token: str) -> SandboxApp:
    if not token:
        raise ApiError(41001)
    row = SandboxAccessToken.objects.select_related("app").filter(token=token).first()
    if row is None or row.invalidated:
        raise ApiError(40014)
    if row.expires_at <= timezone.now():
        raise ApiError(42001)
    return row.app


# --- helpers ----------------------------------------------------------------------------------------


def _cursor_encode(offset: int) -> str:
    return base64.urlsafe_b64encode(f"sb:{offset}".encode()).decode().rstrip("=")


def _cursor_decode(cursor: Any) -> int:
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


def _page(items: list[Any], offset: int, limit: int) -> tuple[list[Any], str]:
    page = items[offset : offset + limit]
    more = offset + limit < len(items)
    return page, _cursor_encode(offset + limit) if more else ""


def _int(value: Any, name: str, default: int | None = None) -> int:
    if value is None or value == "":
        if default is None:
            raise ApiError(40058, f"{name} is required")
        return default
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ApiError(40058, f"{name} must be an integer") from None


def _str_list(value: Any, name: str) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiError(40058, f"{name} must be a list of strings")
    return value


def _member(ctx: Ctx, userid: str) -> SandboxMember:
    if not userid:
        raise ApiError(41009)
    member = SandboxMember.objects.filter(corp_id=ctx.corp_id, userid=userid).first()
    if member is None:
        raise ApiError(60111, f"userid {userid}")
    return member


def _contact(ctx: Ctx, external_userid: str) -> SandboxExternalContact:
    contact = SandboxExternalContact.objects.filter(
        corp_id=ctx.corp_id, external_userid=external_userid
    ).first()
    if not external_userid or contact is None:
        raise ApiError(40096)
    return contact


def _contact_json(contact: SandboxExternalContact) -> Json:
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


def _follow_json(follow: SandboxFollow) -> Json:
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


def _live_tags(corp_id: str) -> dict[str, SandboxTag]:
    tags = SandboxTag.objects.select_related("group").filter(group__corp_id=corp_id, deleted=False)
    return {t.tag_id: t for t in tags}


# --- members and departments ---------------------------------------------------------------------------


@endpoint("department/list", "GET")
def department_list(ctx: Ctx) -> Json:
    departments = list(SandboxDepartment.objects.filter(corp_id=ctx.corp_id).order_by("dept_id"))
    if "id" in ctx.params:
        root = _int(ctx.params["id"], "id")
        children: dict[int, list[SandboxDepartment]] = {}
        for d in departments:
            children.setdefault(d.parentid, []).append(d)
        wanted = [d for d in departments if d.dept_id == root]
        if not wanted:
            raise ApiError(60123)
        i = 0
        while i < len(wanted):
            wanted.extend(children.get(wanted[i].dept_id, []))
            i += 1
        departments = wanted
    return {
        "department": [
            {
                "id": d.dept_id,
                "name": d.name,
                "name_en": d.name_en,
                "parentid": d.parentid,
                "order": d.order,
                "department_leader": [],
            }
            for d in departments
        ]
    }


@endpoint("user/get", "GET")
def user_get(ctx: Ctx) -> Json:
    member = _member(ctx, ctx.params.get("userid", ""))
    return {
        "userid": member.userid,
        "name": member.name,
        "department": member.departments,
        "order": [0] * len(member.departments),
        "main_department": member.main_department,
        "position": member.position,
        "gender": member.gender,
        "is_leader_in_dept": [0] * len(member.departments),
        "direct_leader": [],
        "status": member.status,
    }


@endpoint("user/list_id", "POST")
def user_list_id(ctx: Ctx) -> Json:
    if not ctx.app.contact_sync:
        raise ApiError(48002, "user/list_id needs the contact-sync secret")
    limit = _int(ctx.body.get("limit"), "limit", default=10000)
    if not 1 <= limit <= 10000:
        raise ApiError(40058, "limit must be 1-10000")
    offset = _cursor_decode(ctx.body.get("cursor"))
    rows = [
        {"userid": userid, "department": dept}
        for userid, departments in SandboxMember.objects.filter(corp_id=ctx.corp_id)
        .order_by("userid")
        .values_list("userid", "departments")
        for dept in departments
    ]
    page, next_cursor = _page(rows, offset, limit)
    return {"next_cursor": next_cursor, "dept_user": page}


# --- external contacts ----------------------------------------------------------------------------------


@endpoint("externalcontact/get_follow_user_list", "GET", contact=True)
def get_follow_user_list(ctx: Ctx) -> Json:
    members = SandboxMember.objects.filter(corp_id=ctx.corp_id, contact_enabled=True, status=1)
    return {"follow_user": list(members.order_by("userid").values_list("userid", flat=True))}


@endpoint("externalcontact/list", "GET", contact=True)
def externalcontact_list(ctx: Ctx) -> Json:
    member = _member(ctx, ctx.params.get("userid", ""))
    if not member.contact_enabled:
        raise ApiError(84061, "member has no customer contact feature")
    ids = member.follows.order_by("id").values_list("contact__external_userid", flat=True)
    return {"external_userid": list(ids)}


@endpoint("externalcontact/get", "GET", contact=True)
def externalcontact_get(ctx: Ctx) -> Json:
    contact = _contact(ctx, ctx.params.get("external_userid", ""))
    follows = list(contact.follows.select_related("member").order_by("id"))
    if not follows:
        raise ApiError(84061)
    tags = _live_tags(ctx.corp_id)
    page, next_cursor = _page(follows, _cursor_decode(ctx.params.get("cursor")), FOLLOW_PAGE)
    follow_user = []
    for follow in page:
        item = _follow_json(follow)
        item["tags"] = [
            {"group_name": tags[t].group.name, "tag_name": tags[t].name, "tag_id": t, "type": 1}
            for t in follow.tag_ids
            if t in tags
        ]
        follow_user.append(item)
    return {
        "external_contact": _contact_json(contact),
        "follow_user": follow_user,
        "next_cursor": next_cursor,
    }


@endpoint("externalcontact/batch/get_by_user", "POST", contact=True)
def batch_get_by_user(ctx: Ctx) -> Json:
    userids = _str_list(ctx.body.get("userid_list"), "userid_list")
    if not userids:
        raise ApiError(41009)
    if len(userids) > 100:
        raise ApiError(40058, "userid_list exceeds 100")
    limit = _int(ctx.body.get("limit"), "limit", default=50)
    limit = 50 if limit < 1 else min(limit, 100)  # WeCom clamps oversized limits to 100
    members = SandboxMember.objects.filter(corp_id=ctx.corp_id, userid__in=userids)
    if not members.exists():
        raise ApiError(60111)
    follows = (
        SandboxFollow.objects.select_related("member", "contact").filter(member__in=members).order_by("id")
    )
    offset = _cursor_decode(ctx.body.get("cursor"))
    page = list(follows[offset : offset + limit + 1])
    next_cursor = _cursor_encode(offset + limit) if len(page) > limit else ""
    tags = _live_tags(ctx.corp_id)
    result = []
    for follow in page[:limit]:
        info = _follow_json(follow)
        info["tag_id"] = [t for t in follow.tag_ids if t in tags]
        result.append({"external_contact": _contact_json(follow.contact), "follow_info": info})
    return {"external_contact_list": result, "next_cursor": next_cursor}


# --- corp tags -------------------------------------------------------------------------------------------


def _tag_group_json(group: SandboxTagGroup, tags: list[SandboxTag], *, with_deleted: bool) -> Json:
    data: Json = {
        "group_id": group.group_id,
        "group_name": group.name,
        "create_time": group.create_time,
        "order": group.order,
        "tag": [
            {"id": t.tag_id, "name": t.name, "create_time": t.create_time, "order": t.order}
            | ({"deleted": t.deleted} if with_deleted else {})
            for t in sorted(tags, key=lambda t: (-t.order, t.id))
        ],
    }
    if with_deleted:
        data["deleted"] = group.deleted
    return data


def _new_tag_id() -> str:
    return "et" + secrets.token_hex(15)


def _check_tag_name(name: Any) -> str:
    if not isinstance(name, str) or not name or len(name) > 30:
        raise ApiError(40058, "tag name must be 1-30 characters")
    return name


@endpoint("externalcontact/get_corp_tag_list", "POST", contact=True)
def get_corp_tag_list(ctx: Ctx) -> Json:
    tag_ids = _str_list(ctx.body.get("tag_id"), "tag_id")
    group_ids = _str_list(ctx.body.get("group_id"), "group_id")
    groups = SandboxTagGroup.objects.filter(corp_id=ctx.corp_id).prefetch_related("tags")
    by_id = bool(tag_ids or group_ids)
    if group_ids:  # with both given, tag_id is ignored
        groups = groups.filter(group_id__in=group_ids)
    elif tag_ids:
        groups = groups.filter(tags__tag_id__in=tag_ids).distinct()
    else:
        groups = groups.filter(deleted=False)
    result = []
    for group in groups.order_by("-order", "id"):
        tags = list(group.tags.all())
        if tag_ids and not group_ids:
            tags = [t for t in tags if t.tag_id in tag_ids]
        elif not by_id:
            tags = [t for t in tags if not t.deleted]
        result.append(_tag_group_json(group, tags, with_deleted=by_id))
    return {"tag_group": result}


@endpoint("externalcontact/add_corp_tag", "POST", contact=True)
@transaction.atomic
def add_corp_tag(ctx: Ctx) -> Json:
    raw_tags = ctx.body.get("tag")
    if not isinstance(raw_tags, list) or not raw_tags:
        raise ApiError(40058, "tag is required")
    names: dict[str, int] = {}
    for item in raw_tags:
        if not isinstance(item, dict):
            raise ApiError(40058, "tag items must be objects")
        names.setdefault(_check_tag_name(item.get("name")), _int(item.get("order"), "order", default=0))
    now = int(time.time())
    group_id = ctx.body.get("group_id")
    if group_id:
        group = SandboxTagGroup.objects.filter(corp_id=ctx.corp_id, group_id=group_id, deleted=False).first()
        if group is None:
            raise ApiError(40068, "group_id")
    else:
        group_name = _check_tag_name(ctx.body.get("group_name"))
        group = SandboxTagGroup.objects.filter(corp_id=ctx.corp_id, name=group_name, deleted=False).first()
        if group is None:
            group = SandboxTagGroup.objects.create(
                corp_id=ctx.corp_id,
                group_id=_new_tag_id(),
                name=group_name,
                order=_int(ctx.body.get("order"), "order", default=0),
                create_time=now,
            )
    existing = set(group.tags.filter(deleted=False).values_list("name", flat=True))
    if existing & names.keys():
        raise ApiError(40071)
    live = SandboxTag.objects.filter(group__corp_id=ctx.corp_id, deleted=False).count()
    if live + len(names) > 3000:
        raise ApiError(40126)
    created = SandboxTag.objects.bulk_create(
        SandboxTag(group=group, tag_id=_new_tag_id(), name=name, order=order, create_time=now)
        for name, order in names.items()
    )
    return {"tag_group": _tag_group_json(group, created, with_deleted=False)}


@endpoint("externalcontact/edit_corp_tag", "POST", contact=True)
@transaction.atomic
def edit_corp_tag(ctx: Ctx) -> Json:
    obj_id = ctx.body.get("id")
    if not obj_id:
        raise ApiError(40058, "id is required")
    name = ctx.body.get("name")
    order = ctx.body.get("order")
    group = SandboxTagGroup.objects.filter(corp_id=ctx.corp_id, group_id=obj_id, deleted=False).first()
    tag = None
    if group is None:
        tag = SandboxTag.objects.filter(group__corp_id=ctx.corp_id, tag_id=obj_id, deleted=False).first()
        if tag is None:
            raise ApiError(40068)
    target = group or tag
    assert target is not None
    if name is not None:
        name = _check_tag_name(name)
        if group is not None:
            siblings = SandboxTagGroup.objects.filter(corp_id=ctx.corp_id, deleted=False).exclude(pk=group.pk)
        else:
            siblings = SandboxTag.objects.filter(group=tag.group, deleted=False).exclude(pk=tag.pk)
        if siblings.filter(name=name).exists():
            raise ApiError(40071)
        target.name = name
    if order is not None:
        target.order = _int(order, "order")
    target.save()
    return {}


@endpoint("externalcontact/del_corp_tag", "POST", contact=True)
@transaction.atomic
def del_corp_tag(ctx: Ctx) -> Json:
    tag_ids = _str_list(ctx.body.get("tag_id"), "tag_id")
    group_ids = _str_list(ctx.body.get("group_id"), "group_id")
    if not tag_ids and not group_ids:
        raise ApiError(40058, "tag_id or group_id is required")
    tags = SandboxTag.objects.filter(group__corp_id=ctx.corp_id, deleted=False)
    if tag_ids and tags.filter(tag_id__in=tag_ids).count() != len(set(tag_ids)):
        raise ApiError(40068)
    groups = SandboxTagGroup.objects.filter(corp_id=ctx.corp_id, deleted=False)
    if group_ids and groups.filter(group_id__in=group_ids).count() != len(set(group_ids)):
        raise ApiError(40068, "group_id")
    tags.filter(tag_id__in=tag_ids).update(deleted=True)
    tags.filter(group__group_id__in=group_ids).update(deleted=True)
    groups.filter(group_id__in=group_ids).update(deleted=True)
    # A group whose last tag is gone is gone too.
    groups.exclude(tags__deleted=False).update(deleted=True)
    return {}


@endpoint("externalcontact/mark_tag", "POST", contact=True)
@transaction.atomic
def mark_tag(ctx: Ctx) -> Json:
    member = _member(ctx, ctx.body.get("userid", ""))
    contact = _contact(ctx, ctx.body.get("external_userid", ""))
    add = _str_list(ctx.body.get("add_tag"), "add_tag")
    remove = _str_list(ctx.body.get("remove_tag"), "remove_tag")
    if not add and not remove:
        raise ApiError(40058, "add_tag or remove_tag is required")
    follow = SandboxFollow.objects.select_for_update().filter(member=member, contact=contact).first()
    if follow is None:
        raise ApiError(84061)
    live = _live_tags(ctx.corp_id)
    if any(t not in live for t in add + remove):
        raise ApiError(40068)
    tag_ids = [t for t in follow.tag_ids if t not in remove]
    tag_ids += [t for t in dict.fromkeys(add) if t not in tag_ids]
    if len(tag_ids) > 3000:
        raise ApiError(40058, "more than 3000 tags on one customer")
    follow.tag_ids = tag_ids
    follow.save(update_fields=["tag_ids"])
    return {}


# --- customer groups -------------------------------------------------------------------------------------


@endpoint("externalcontact/groupchat/list", "POST", contact=True)
def groupchat_list(ctx: Ctx) -> Json:
    limit = _int(ctx.body.get("limit"), "limit")
    if not 1 <= limit <= 1000:
        raise ApiError(40058, "limit must be 1-1000")
    chats = SandboxGroupChat.objects.filter(corp_id=ctx.corp_id).order_by("id")
    owner_filter = ctx.body.get("owner_filter") or {}
    owners = _str_list(
        owner_filter.get("userid_list") if isinstance(owner_filter, dict) else None, "userid_list"
    )
    if len(owners) > 100:
        raise ApiError(40058, "owner_filter.userid_list exceeds 100")
    if owners:
        chats = chats.filter(owner__in=owners)
    elif SandboxMember.objects.filter(corp_id=ctx.corp_id).count() > 1000:
        raise ApiError(81017)
    status_filter = _int(ctx.body.get("status_filter"), "status_filter", default=0)
    if status_filter:
        chats = chats.filter(status=status_filter)
    offset = _cursor_decode(ctx.body.get("cursor"))
    page = list(chats.values("chat_id", "status")[offset : offset + limit + 1])
    next_cursor = _cursor_encode(offset + limit) if len(page) > limit else ""
    return {"group_chat_list": page[:limit], "next_cursor": next_cursor}


@endpoint("externalcontact/groupchat/get", "POST", contact=True)
def groupchat_get(ctx: Ctx) -> Json:
    chat = SandboxGroupChat.objects.filter(corp_id=ctx.corp_id, chat_id=ctx.body.get("chat_id") or "").first()
    if chat is None:
        raise ApiError(90501)
    need_name = _int(ctx.body.get("need_name"), "need_name", default=0)
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
    if ctx.app.agentid is None or _int(ctx.body.get("agentid"), "agentid") != ctx.app.agentid:
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
