"""Corp tags and ``mark_tag`` (WECOM.md §4)."""

from __future__ import annotations

import secrets
import time
from typing import Any

from django.db import transaction

from ..models import (
    SandboxFollow,
    SandboxTag,
    SandboxTagGroup,
)
from .base import (
    ApiError,
    Ctx,
    Json,
    contact_get,
    endpoint,
    int_param,
    live_tags,
    member_get,
    str_list,
)

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
    tag_ids = str_list(ctx.body.get("tag_id"), "tag_id")
    group_ids = str_list(ctx.body.get("group_id"), "group_id")
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
        names.setdefault(_check_tag_name(item.get("name")), int_param(item.get("order"), "order", default=0))
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
                order=int_param(ctx.body.get("order"), "order", default=0),
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
        target.order = int_param(order, "order")
    target.save()
    return {}


@endpoint("externalcontact/del_corp_tag", "POST", contact=True)
@transaction.atomic
def del_corp_tag(ctx: Ctx) -> Json:
    tag_ids = str_list(ctx.body.get("tag_id"), "tag_id")
    group_ids = str_list(ctx.body.get("group_id"), "group_id")
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
    member = member_get(ctx, ctx.body.get("userid", ""))
    contact = contact_get(ctx, ctx.body.get("external_userid", ""))
    add = str_list(ctx.body.get("add_tag"), "add_tag")
    remove = str_list(ctx.body.get("remove_tag"), "remove_tag")
    if not add and not remove:
        raise ApiError(40058, "add_tag or remove_tag is required")
    follow = SandboxFollow.objects.select_for_update().filter(member=member, contact=contact).first()
    if follow is None:
        raise ApiError(84061)
    live = live_tags(ctx.corp_id)
    if any(t not in live for t in add + remove):
        raise ApiError(40068)
    tag_ids = [t for t in follow.tag_ids if t not in remove]
    tag_ids += [t for t in dict.fromkeys(add) if t not in tag_ids]
    if len(tag_ids) > 3000:
        raise ApiError(40058, "more than 3000 tags on one customer")
    follow.tag_ids = tag_ids
    follow.save(update_fields=["tag_ids"])
    return {}
