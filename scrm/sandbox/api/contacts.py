"""Members, departments and external contacts (WECOM.md §2, §3)."""

from __future__ import annotations

import base64

from ..models import (
    SandboxDepartment,
    SandboxFollow,
    SandboxMember,
    SandboxTag,
)
from .base import (
    FOLLOW_PAGE,
    ApiError,
    Ctx,
    Json,
    contact_get,
    contact_json,
    cursor_decode,
    endpoint,
    follow_json,
    int_param,
    live_tags,
    member_get,
    page_of,
    str_list,
)

# --- members and departments ---------------------------------------------------------------------------


@endpoint("department/list", "GET")
def department_list(ctx: Ctx) -> Json:
    departments = list(SandboxDepartment.objects.filter(corp_id=ctx.corp_id).order_by("dept_id"))
    if "id" in ctx.params:
        root = int_param(ctx.params["id"], "id")
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
    member = member_get(ctx, ctx.params.get("userid", ""))
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
    limit = int_param(ctx.body.get("limit"), "limit", default=10000)
    if not 1 <= limit <= 10000:
        raise ApiError(40058, "limit must be 1-10000")
    offset = cursor_decode(ctx.body.get("cursor"))
    rows = [
        {"userid": userid, "department": dept}
        for userid, departments in SandboxMember.objects.filter(corp_id=ctx.corp_id)
        .order_by("userid")
        .values_list("userid", "departments")
        for dept in departments
    ]
    page, next_cursor = page_of(rows, offset, limit)
    return {"next_cursor": next_cursor, "dept_user": page}


# --- external contacts ----------------------------------------------------------------------------------


def _remark_text(value: object, name: str, limit: int) -> str:
    if not isinstance(value, str) or len(value) > limit:
        raise ApiError(40058, f"{name} must be a string of at most {limit} characters")
    return value


@endpoint("externalcontact/remark", "POST", contact=True)
def externalcontact_remark(ctx: Ctx) -> Json:
    """The member's notes on one customer (WECOM.md §3.5): only the fields sent change."""
    member = member_get(ctx, ctx.body.get("userid", ""))
    contact = contact_get(ctx, ctx.body.get("external_userid", ""))
    follow = SandboxFollow.objects.filter(member=member, contact=contact).first()
    if follow is None:
        raise ApiError(84061)
    changed = []
    for name, field, limit in (
        ("remark", "remark", 20),
        ("description", "description", 150),
        ("remark_company", "remark_corp_name", 20),
    ):
        if name in ctx.body:
            setattr(follow, field, _remark_text(ctx.body[name], name, limit))
            changed.append(field)
    if "remark_mobiles" in ctx.body:
        follow.remark_mobiles = str_list(ctx.body["remark_mobiles"], "remark_mobiles")
        changed.append("remark_mobiles")
    if changed:
        follow.save(update_fields=changed)
    return {}


@endpoint("externalcontact/get_follow_user_list", "GET", contact=True)
def get_follow_user_list(ctx: Ctx) -> Json:
    members = SandboxMember.objects.filter(corp_id=ctx.corp_id, contact_enabled=True, status=1)
    return {"follow_user": list(members.order_by("userid").values_list("userid", flat=True))}


@endpoint("externalcontact/list", "GET", contact=True)
def externalcontact_list(ctx: Ctx) -> Json:
    member = member_get(ctx, ctx.params.get("userid", ""))
    if not member.contact_enabled:
        raise ApiError(84061, "member has no customer contact feature")
    ids = member.follows.order_by("id").values_list("contact__external_userid", flat=True)
    return {"external_userid": list(ids)}


@endpoint("externalcontact/get", "GET", contact=True)
def externalcontact_get(ctx: Ctx) -> Json:
    contact = contact_get(ctx, ctx.params.get("external_userid", ""))
    follows = list(contact.follows.select_related("member").order_by("id"))
    if not follows:
        raise ApiError(84061)
    tags = live_tags(ctx.corp_id)
    page, next_cursor = page_of(follows, cursor_decode(ctx.params.get("cursor")), FOLLOW_PAGE)
    follow_user = []
    for follow in page:
        item = follow_json(follow)
        item["tags"] = [
            {"group_name": tags[t].group.name, "tag_name": tags[t].name, "tag_id": t, "type": 1}
            for t in follow.tag_ids
            if t in tags
        ]
        follow_user.append(item)
    return {
        "external_contact": contact_json(contact),
        "follow_user": follow_user,
        "next_cursor": next_cursor,
    }


def _follow_cursor_decode(cursor: object) -> tuple[int, int]:
    """(member pk, contact pk) of the last row of the previous page; (0, 0) for the first page."""
    if not cursor:
        return 0, 0
    text = str(cursor)
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        prefix, member, contact = raw.split(":")
        if prefix != "sbf" or int(member) < 0 or int(contact) < 0:
            raise ValueError
        return int(member), int(contact)
    except ValueError:
        raise ApiError(40058, "invalid cursor") from None


def _follow_cursor_encode(member: int, contact: int) -> str:
    return base64.urlsafe_b64encode(f"sbf:{member}:{contact}".encode()).decode().rstrip("=")


@endpoint("externalcontact/batch/get_by_user", "POST", contact=True)
def batch_get_by_user(ctx: Ctx) -> Json:
    """Pages of (member, customer) pairs in the order of ``(member, contact)``, by keyset.

    The cursor names the last pair served, so a page costs an index range scan on the follow
    table's (member, contact) unique index wherever it lies in a million follows: one short query
    per member the page touches (usually one), one for the page's tags. An offset would make the
    last page of a big corp scan every row before it.
    """
    userids = str_list(ctx.body.get("userid_list"), "userid_list")
    if not userids:
        raise ApiError(41009)
    if len(userids) > 100:
        raise ApiError(40058, "userid_list exceeds 100")
    limit = int_param(ctx.body.get("limit"), "limit", default=50)
    limit = 50 if limit < 1 else min(limit, 100)  # WeCom clamps oversized limits to 100
    after_member, after_contact = _follow_cursor_decode(ctx.body.get("cursor"))
    members = {
        m.pk: m for m in SandboxMember.objects.filter(corp_id=ctx.corp_id, userid__in=userids).only("userid")
    }
    if not members:
        raise ApiError(60111)
    page: list[SandboxFollow] = []
    for member_pk in sorted(pk for pk in members if pk >= after_member):
        rows = SandboxFollow.objects.select_related("contact").filter(member_id=member_pk)
        if member_pk == after_member:
            rows = rows.filter(contact_id__gt=after_contact)
        page += rows.order_by("contact_id")[: limit + 1 - len(page)]
        if len(page) > limit:
            break
    more = len(page) > limit
    page = page[:limit]
    wanted = {t for follow in page for t in follow.tag_ids}
    live = set(
        SandboxTag.objects.filter(tag_id__in=wanted, deleted=False, group__corp_id=ctx.corp_id).values_list(
            "tag_id", flat=True
        )
        if wanted
        else ()
    )
    result = []
    for follow in page:
        follow.member = members[follow.member_id]  # already loaded: no query per row
        info = follow_json(follow)
        info["tag_id"] = [t for t in follow.tag_ids if t in live]
        result.append({"external_contact": contact_json(follow.contact), "follow_info": info})
    next_cursor = _follow_cursor_encode(page[-1].member_id, page[-1].contact_id) if more else ""
    return {"external_contact_list": result, "next_cursor": next_cursor}
