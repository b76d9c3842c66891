"""Enterprise mass messages to customers and groups, and their results (WECOM.md §8).

``add_msg_template`` sends nothing: it leaves a "not sent" task with each sender, who confirms it
in the client (the player action ``mass_message_send``); only then do recipients get statuses.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from typing import Any

from django.db import transaction

from ..clock import sandbox_time
from ..models import (
    SandboxFollow,
    SandboxGroupChat,
    SandboxMassMessage,
    SandboxMassRecipient,
    SandboxMassTask,
)
from ..outreach import BATCH
from .base import (
    ERRMSG,
    ApiError,
    Ctx,
    Json,
    cursor_decode,
    cursor_encode,
    endpoint,
    int_param,
    limit_param,
    live_tags,
    member_get,
    str_list,
)

ERRMSG.update(
    {
        41046: "missing msgid",
        41047: "invalid msgid",
        41048: "no customer to send",
        41063: "msg is sending, please try again later",
        41064: "attachment size exceed limit",
        41065: "invalid attachment type",
    }
)

MAX_CUSTOMERS = 10_000
MAX_CHATS = 2_000
MAX_TAGS_PER_ENTRY = 100
MAX_ATTACHMENTS = 9
MAX_TEXT_BYTES = 4000
MAX_REMINDERS_PER_DAY = 3
LIST_SPAN = 31 * 86400

# Byte limits of attachment fields (WECOM.md §8.1, §18).
ATTACHMENT_FIELDS: dict[str, dict[str, int]] = {
    "image": {"media_id": 256, "pic_url": 2048},
    "link": {"title": 128, "picurl": 2048, "desc": 512, "url": 2048},
    "miniprogram": {"title": 64, "pic_media_id": 256, "appid": 64, "page": 256},
    "video": {"media_id": 256},
    "file": {"media_id": 256},
}
ATTACHMENT_REQUIRED: dict[str, tuple[str, ...]] = {
    "link": ("title", "url"),
    "miniprogram": ("title", "pic_media_id", "appid", "page"),
    "video": ("media_id",),
    "file": ("media_id",),
}


def _nbytes(value: Any) -> int:
    return len(str(value).encode())


def content_check(text: Any, attachments: Any) -> tuple[Json | None, list[Json]]:
    """WeCom's checks on a message's ``text`` and ``attachments`` (shared with welcome messages)."""
    if text is not None and not isinstance(text, dict):
        raise ApiError(40058, "text must be an object")
    content = (text or {}).get("content") or ""
    if _nbytes(content) > MAX_TEXT_BYTES:
        raise ApiError(40058, "text.content exceeds 4000 bytes")
    if attachments is None:
        attachments = []
    if not isinstance(attachments, list):
        raise ApiError(40058, "attachments must be a list")
    if not content and not attachments:
        raise ApiError(44004, "text and attachments are both empty")
    if len(attachments) > MAX_ATTACHMENTS:
        raise ApiError(40058, "invalid attachments size: at most 9")
    for item in attachments:
        msgtype = item.get("msgtype") if isinstance(item, dict) else None
        if msgtype not in ATTACHMENT_FIELDS or not isinstance(item.get(msgtype), dict):
            raise ApiError(41065, f"msgtype {msgtype!r}")
        body = item[msgtype]
        for name, limit in ATTACHMENT_FIELDS[msgtype].items():
            if _nbytes(body.get(name) or "") > limit:
                raise ApiError(41064, f"{msgtype}.{name} exceeds {limit} bytes")
        required = ATTACHMENT_REQUIRED.get(msgtype, ())
        missing = [name for name in required if not body.get(name)]
        if msgtype == "image" and not (body.get("media_id") or body.get("pic_url")):
            missing.append("media_id or pic_url")
        if missing:
            raise ApiError(40058, f"{msgtype} needs {', '.join(missing)}")
    return ({"content": content} if content else None), attachments


def _tag_filter(ctx: Ctx) -> list[set[str]]:
    """``tag_filter.group_list`` as sets of tag ids: OR inside a set, AND across sets."""
    raw = ctx.body.get("tag_filter")
    if not raw:
        return []
    groups = raw.get("group_list") if isinstance(raw, dict) else None
    if not isinstance(groups, list):
        raise ApiError(40058, "tag_filter.group_list must be a list")
    known = live_tags(ctx.corp_id)
    result = []
    for entry in groups:
        tags = str_list(entry.get("tag_list") if isinstance(entry, dict) else None, "tag_list")
        if len(tags) > MAX_TAGS_PER_ENTRY:
            raise ApiError(40058, "tag_list exceeds 100 tags")
        if any(t not in known for t in tags):
            raise ApiError(40068)
        if tags:
            result.append(set(tags))
    return result


@endpoint("externalcontact/add_msg_template", "POST", contact=True)
def add_msg_template(ctx: Ctx) -> Json:
    body = ctx.body
    chat_type = body.get("chat_type") or "single"
    if chat_type not in ("single", "group"):
        raise ApiError(40058, "chat_type must be single or group")
    external_userids = str_list(body.get("external_userid"), "external_userid")
    chat_ids = str_list(body.get("chat_id_list"), "chat_id_list")
    if len(external_userids) > MAX_CUSTOMERS:
        raise ApiError(40058, "external_userid exceeds 10000")
    if len(chat_ids) > MAX_CHATS:
        raise ApiError(40058, "chat_id_list exceeds 2000")
    sender_id = body.get("sender") or ""
    if not isinstance(sender_id, str):
        raise ApiError(40058, "sender must be a userid")
    text, attachments = content_check(body.get("text"), body.get("attachments"))
    tag_sets = _tag_filter(ctx)
    sender = member_get(ctx, sender_id) if sender_id else None
    if chat_type == "group":
        if sender is None:
            raise ApiError(41009, "sender is required for group mass messages")
        recipients, fail_list = _group_recipients(ctx, sender.userid, chat_ids)
    else:
        if sender is None and not external_userids:
            raise ApiError(40058, "external_userid and sender cannot both be empty")
        recipients, fail_list = _customer_recipients(ctx, sender_id, external_userids, tag_sets)
    if not recipients:
        raise ApiError(41048)
    now = sandbox_time()
    with transaction.atomic():
        message = SandboxMassMessage.objects.create(
            corp_id=ctx.corp_id,
            msgid="msg" + secrets.token_urlsafe(24),
            chat_type=chat_type,
            create_time=now,
            text=text,
            attachments=attachments,
            allow_select=bool(body.get("allow_select")),
        )
        senders = sorted({userid for userid, _ in recipients})
        SandboxMassTask.objects.bulk_create(SandboxMassTask(message=message, userid=u) for u in senders)
        SandboxMassRecipient.objects.bulk_create(
            (
                SandboxMassRecipient(message=message, corp_id=ctx.corp_id, userid=userid, target=target)
                for userid, target in recipients
            ),
            batch_size=BATCH,
        )
    return {"fail_list": fail_list, "msgid": message.msgid}


def _customer_recipients(
    ctx: Ctx, sender: str, external_userids: list[str], tag_sets: list[set[str]]
) -> tuple[list[tuple[str, str]], list[str]]:
    """``(sender userid, external_userid)`` pairs and the ids that cannot be sent to.

    Each customer goes to one member only: the given sender, else the member who added them
    most recently (WeCom's "most recent interaction", as close as the sandbox knows it).
    """
    follows = SandboxFollow.objects.filter(member__corp_id=ctx.corp_id, member__status=1)
    if sender:
        follows = follows.filter(member__userid=sender)
    if external_userids:
        follows = follows.filter(contact__external_userid__in=set(external_userids))
    chosen: dict[str, tuple[int, str]] = {}
    rows = follows.order_by("id").values_list(
        "contact__external_userid", "member__userid", "createtime", "tag_ids"
    )
    for external_userid, userid, createtime, tag_ids in rows.iterator(chunk_size=BATCH):
        if tag_sets and not all(group.intersection(tag_ids or ()) for group in tag_sets):
            continue
        if external_userid not in chosen or createtime >= chosen[external_userid][0]:
            chosen[external_userid] = (createtime, userid)
    fail_list = [e for e in dict.fromkeys(external_userids) if e not in chosen]
    order: Iterable[str] = dict.fromkeys(external_userids) if external_userids else chosen
    return [(chosen[e][1], e) for e in order if e in chosen], fail_list


def _group_recipients(ctx: Ctx, sender: str, chat_ids: list[str]) -> tuple[list[tuple[str, str]], list[str]]:
    """The sender's groups (all of them, or those of ``chat_id_list`` they own)."""
    chats = SandboxGroupChat.objects.filter(corp_id=ctx.corp_id, owner=sender)
    if chat_ids:
        chats = chats.filter(chat_id__in=set(chat_ids))
    owned = list(chats.order_by("id").values_list("chat_id", flat=True))
    return [(sender, c) for c in owned], []


def _message_get(ctx: Ctx) -> SandboxMassMessage:
    msgid = ctx.body.get("msgid")
    if not msgid:
        raise ApiError(41046)
    message = SandboxMassMessage.objects.filter(corp_id=ctx.corp_id, msgid=str(msgid)).first()
    if message is None:
        raise ApiError(41047)
    return message


@endpoint("externalcontact/get_groupmsg_list_v2", "POST", contact=True)
def get_groupmsg_list_v2(ctx: Ctx) -> Json:
    start = int_param(ctx.body.get("start_time"), "start_time")
    end = int_param(ctx.body.get("end_time"), "end_time")
    if end < start or end - start > LIST_SPAN:
        raise ApiError(40058, "end_time must follow start_time by at most one month")
    chat_type = ctx.body.get("chat_type") or "single"
    if chat_type not in ("single", "group"):
        raise ApiError(40058, "chat_type must be single or group")
    filter_type = int_param(ctx.body.get("filter_type"), "filter_type", default=2)
    if filter_type not in (0, 1, 2):
        raise ApiError(40058, "filter_type must be 0, 1 or 2")
    limit = limit_param(ctx, default=50, maximum=100, oversized_default=True)
    messages = SandboxMassMessage.objects.filter(
        corp_id=ctx.corp_id, chat_type=chat_type, create_time__gte=start, create_time__lte=end
    )
    if filter_type in (0, 1):
        messages = messages.filter(create_type=filter_type)
    creator = ctx.body.get("creator")
    if creator:
        messages = messages.filter(creator=creator)
    after = cursor_decode(ctx.body.get("cursor"))
    page = list(messages.filter(id__gt=after).order_by("id")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    items = []
    for m in page:
        item: Json = {"msgid": m.msgid, "create_time": str(m.create_time), "create_type": m.create_type}
        if m.creator:
            item["creator"] = m.creator
        if m.text:
            item["text"] = m.text
        item["attachments"] = m.attachments
        items.append(item)
    return {"group_msg_list": items, "next_cursor": cursor_encode(page[-1].id) if more else ""}


@endpoint("externalcontact/get_groupmsg_task", "POST", contact=True)
def get_groupmsg_task(ctx: Ctx) -> Json:
    message = _message_get(ctx)
    limit = limit_param(ctx, default=500, maximum=1000)
    after = cursor_decode(ctx.body.get("cursor"))
    page = list(message.tasks.filter(id__gt=after).order_by("id")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    tasks = []
    for t in page:
        row: Json = {"userid": t.userid, "status": t.status}
        if t.status:
            row["send_time"] = t.send_time
        tasks.append(row)
    return {"task_list": tasks, "next_cursor": cursor_encode(page[-1].id) if more else ""}


@endpoint("externalcontact/get_groupmsg_send_result", "POST", contact=True)
def get_groupmsg_send_result(ctx: Ctx) -> Json:
    message = _message_get(ctx)
    userid = ctx.body.get("userid")
    if not userid:
        raise ApiError(41009)
    limit = limit_param(ctx, default=500, maximum=1000)
    after = cursor_decode(ctx.body.get("cursor"))
    page = list(
        message.recipients.filter(userid=userid, id__gt=after)
        .order_by("id")
        .values("id", "target", "status", "send_time")[: limit + 1]
    )
    more = len(page) > limit
    page = page[:limit]
    key = "chat_id" if message.chat_type == "group" else "external_userid"
    rows = []
    for r in page:
        row: Json = {key: r["target"], "userid": userid, "status": r["status"]}
        if r["status"]:
            row["send_time"] = r["send_time"]
        rows.append(row)
    return {"send_list": rows, "next_cursor": cursor_encode(page[-1]["id"]) if more else ""}


@endpoint("externalcontact/remind_groupmsg_send", "POST", contact=True)
def remind_groupmsg_send(ctx: Ctx) -> Json:
    with transaction.atomic():
        message = _message_get(ctx)
        message = SandboxMassMessage.objects.select_for_update().get(pk=message.pk)
        now = sandbox_time()
        recent = [t for t in message.reminders if t > now - 86400]
        if len(recent) >= MAX_REMINDERS_PER_DAY:
            # WeCom documents the cap, not its errcode; a frequency error is the natural answer.
            raise ApiError(45009, "at most 3 reminders per mass message within 24 hours")
        message.reminders = [*recent, now]
        message.save(update_fields=["reminders"])
    return {}


@endpoint("externalcontact/cancel_groupmsg_send", "POST", contact=True)
def cancel_groupmsg_send(ctx: Ctx) -> Json:
    message = _message_get(ctx)
    SandboxMassMessage.objects.filter(pk=message.pk).update(canceled=True)
    return {}
