"""Customer moments (WECOM.md §9).

``add_moment_task`` answers a ``jobid`` at once; its result reads 1 (started), 2 (running) and
then 3 (done, with the ``moment_id``) on successive calls. Each executor's task stays unpublished
until the member publishes it (player action ``moment_publish``), which fixes who sees it.
"""

from __future__ import annotations

import secrets

from django.db import transaction
from django.db.models import F, Q

from ..clock import sandbox_time
from ..models import (
    SandboxDepartment,
    SandboxMember,
    SandboxMoment,
    SandboxMomentCustomer,
    SandboxMomentTask,
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
    str_list,
)
from .media import UPLOAD_RULES, _store, _upload_checked

ERRMSG.update(
    {
        41059: "missing moment id",
        41060: "invalid moment id",
        41061: "user not related to this moment",
        41062: "user has not published this moment",
    }
)

MAX_TEXT_CHARS = 2000
MAX_TEXT_BYTES = 4000
MAX_IMAGES = 9
MAX_LINK_TITLE_BYTES = 64
MAX_SENDERS = 100_000
LIST_SPAN = 30 * 86400
JOB_LIFETIME = 86400
#: A creation job finishes on its own within seconds in WeCom, whether or not anyone polls it:
#: after this much simulated time the moment is listed (and its job reads done).
JOB_SELF_FINISH = 5


def _attachments_check(attachments: object) -> list[Json]:
    """Either up to 9 images, or 1 video, or 1 link (WECOM.md §9.1)."""
    if attachments is None:
        return []
    if not isinstance(attachments, list):
        raise ApiError(40058, "attachments must be a list")
    kinds = set()
    for item in attachments:
        msgtype = item.get("msgtype") if isinstance(item, dict) else None
        if msgtype not in ("image", "video", "link") or not isinstance(item.get(msgtype), dict):
            raise ApiError(40058, "invalid attachments msgtype")
        kinds.add(msgtype)
        body = item[msgtype]
        if msgtype == "link":
            if not body.get("url"):
                raise ApiError(40058, "link.url is required")
            if len(str(body.get("title") or "").encode()) > MAX_LINK_TITLE_BYTES:
                raise ApiError(40058, "link.title exceeds 64 bytes")
        elif not body.get("media_id"):
            raise ApiError(40058, f"{msgtype}.media_id is required")
    if len(kinds) > 1:
        raise ApiError(40058, "invalid attachments msgtype: images, a video or a link, not mixed")
    if kinds and len(attachments) > (MAX_IMAGES if kinds == {"image"} else 1):
        raise ApiError(40058, "invalid attachments size")
    return attachments


@endpoint("externalcontact/add_moment_task", "POST", contact=True)
def add_moment_task(ctx: Ctx) -> Json:
    text = ctx.body.get("text") or {}
    if not isinstance(text, dict):
        raise ApiError(40058, "text must be an object")
    content = str(text.get("content") or "")
    if len(content) > MAX_TEXT_CHARS or len(content.encode()) > MAX_TEXT_BYTES:
        raise ApiError(40058, "invalid text size")
    attachments = _attachments_check(ctx.body.get("attachments"))
    if not content and not attachments:
        raise ApiError(44004, "text and attachments are both empty")
    visible = ctx.body.get("visible_range") or {}
    if not isinstance(visible, dict):
        raise ApiError(40058, "visible_range must be an object")
    senders = visible.get("sender_list") or {}
    audience = visible.get("external_contact_list") or {}
    if not isinstance(senders, dict) or not isinstance(audience, dict):
        raise ApiError(40058, "sender_list and external_contact_list must be objects")
    user_list = str_list(senders.get("user_list"), "user_list")
    if len(user_list) > MAX_SENDERS:
        raise ApiError(40058, "user_list exceeds 100000")
    department_list = senders.get("department_list") or []
    if not isinstance(department_list, list) or not all(isinstance(d, int) for d in department_list):
        raise ApiError(40058, "department_list must be a list of department ids")
    tag_list = str_list(audience.get("tag_list"), "tag_list")

    executors, invalid_users, invalid_departments = _executors(ctx, user_list, department_list)
    known_tags = live_tags(ctx.corp_id)
    invalid_tags = [t for t in tag_list if t not in known_tags]
    now = sandbox_time()
    with transaction.atomic():
        moment = SandboxMoment.objects.create(
            corp_id=ctx.corp_id,
            moment_id="mom" + secrets.token_urlsafe(24),
            jobid="job" + secrets.token_urlsafe(30),
            job_status=0,
            job_result={
                "invalid_sender_list": {"user_list": invalid_users, "department_list": invalid_departments},
                "invalid_external_contact_list": {"tag_list": invalid_tags},
            },
            visible_type=0 if tag_list else 1,
            create_time=now,
            text=content,
            attachments=attachments,
            audience_tags=[t for t in tag_list if t in known_tags],
        )
        SandboxMomentTask.objects.bulk_create(
            (SandboxMomentTask(moment=moment, userid=u) for u in executors), batch_size=BATCH
        )
    return {"jobid": moment.jobid}


def _executors(
    ctx: Ctx, user_list: list[str], department_list: list[int]
) -> tuple[list[str], list[str], list[int]]:
    """Who must publish: the listed members and the members of the listed departments, or
    every active member with customer contact when neither is given."""
    members = SandboxMember.objects.filter(corp_id=ctx.corp_id, status=1, contact_enabled=True)
    if not user_list and not department_list:
        return list(members.order_by("id").values_list("userid", flat=True)), [], []
    rows = list(members.order_by("id").values_list("userid", "departments"))
    wanted_users = set(user_list)
    known_departments = set(
        SandboxDepartment.objects.filter(corp_id=ctx.corp_id, dept_id__in=department_list).values_list(
            "dept_id", flat=True
        )
    )
    # A department covers its whole subtree.
    covered = set(known_departments)
    if covered:
        children: dict[int, list[int]] = {}
        for dept_id, parent in SandboxDepartment.objects.filter(corp_id=ctx.corp_id).values_list(
            "dept_id", "parentid"
        ):
            children.setdefault(parent, []).append(dept_id)
        stack = list(covered)
        while stack:
            for child in children.get(stack.pop(), []):
                if child not in covered:
                    covered.add(child)
                    stack.append(child)
    executors = [u for u, departments in rows if u in wanted_users or covered.intersection(departments or ())]
    valid_users = {u for u, _ in rows}
    invalid_users = [u for u in dict.fromkeys(user_list) if u not in valid_users]
    invalid_departments = [d for d in dict.fromkeys(department_list) if d not in known_departments]
    return executors, invalid_users, invalid_departments


@endpoint("externalcontact/get_moment_task_result", "GET", contact=True)
def get_moment_task_result(ctx: Ctx) -> Json:
    jobid = ctx.params.get("jobid") or ""
    moment = SandboxMoment.objects.filter(corp_id=ctx.corp_id, jobid=jobid).first() if jobid else None
    if moment is None or sandbox_time() - moment.create_time > JOB_LIFETIME:
        raise ApiError(40058, "invalid jobid")
    # Each read moves the job on, so that a poller sees it start, run and finish.
    if moment.job_status < 3:
        SandboxMoment.objects.filter(pk=moment.pk, job_status=moment.job_status).update(
            job_status=F("job_status") + 1
        )
        moment.job_status += 1
    data: Json = {"status": moment.job_status, "type": "add_moment_task"}
    if moment.job_status == 3:
        data["result"] = {"errcode": 0, "errmsg": "ok", "moment_id": moment.moment_id, **moment.job_result}
    return data


def _moment_get(ctx: Ctx) -> SandboxMoment:
    moment_id = ctx.body.get("moment_id")
    if not moment_id:
        raise ApiError(41059)
    moment = SandboxMoment.objects.filter(corp_id=ctx.corp_id, moment_id=str(moment_id), job_status=3).first()
    if moment is None:
        raise ApiError(41060)
    return moment


@endpoint("externalcontact/get_moment_list", "POST", contact=True)
def get_moment_list(ctx: Ctx) -> Json:
    start = int_param(ctx.body.get("start_time"), "start_time")
    end = int_param(ctx.body.get("end_time"), "end_time")
    if end < start or end - start > LIST_SPAN:
        raise ApiError(40058, "end_time must follow start_time by at most 30 days")
    filter_type = int_param(ctx.body.get("filter_type"), "filter_type", default=2)
    if filter_type not in (0, 1, 2):
        raise ApiError(40058, "filter_type must be 0, 1 or 2")
    limit = limit_param(ctx, default=20, maximum=20, oversized_default=True)
    finished = Q(job_status=3) | Q(create_time__lte=sandbox_time() - JOB_SELF_FINISH)
    moments = SandboxMoment.objects.filter(
        finished, corp_id=ctx.corp_id, create_time__gte=start, create_time__lte=end
    )
    if filter_type in (0, 1):
        moments = moments.filter(create_type=filter_type)
    creator = ctx.body.get("creator")
    if creator:
        moments = moments.filter(creator=creator)
    after = cursor_decode(ctx.body.get("cursor"))
    page = list(moments.filter(id__gt=after).order_by("id")[: limit + 1])
    more = len(page) > limit
    page = page[:limit]
    unfinished = [m.pk for m in page if m.job_status < 3]
    if unfinished:
        SandboxMoment.objects.filter(pk__in=unfinished).update(job_status=3)
    return {
        "moment_list": [_moment_json(m) for m in page],
        "next_cursor": cursor_encode(page[-1].id) if more else "",
    }


def _moment_json(moment: SandboxMoment) -> Json:
    data: Json = {
        "moment_id": moment.moment_id,
        "creator": moment.creator,
        "create_time": moment.create_time,
        "create_type": moment.create_type,
        "visible_type": moment.visible_type,
        "text": {"content": moment.text},
    }
    images = [a["image"] for a in moment.attachments if a.get("msgtype") == "image"]
    if images:
        data["image"] = [{"media_id": i["media_id"]} for i in images]
    for a in moment.attachments:
        if a.get("msgtype") == "video":
            data["video"] = {"media_id": a["video"]["media_id"], "thumb_media_id": ""}
        elif a.get("msgtype") == "link":
            data["link"] = {"title": a["link"].get("title", ""), "url": a["link"]["url"]}
    return data


@endpoint("externalcontact/get_moment_task", "POST", contact=True)
def get_moment_task(ctx: Ctx) -> Json:
    moment = _moment_get(ctx)
    if moment.create_type != 0:
        raise ApiError(41060, "only corp-created moments have tasks")
    limit = limit_param(ctx, default=500, maximum=1000)
    after = cursor_decode(ctx.body.get("cursor"))
    page = list(
        moment.tasks.filter(id__gt=after).order_by("id").values("id", "userid", "publish_status")[: limit + 1]
    )
    more = len(page) > limit
    page = page[:limit]
    return {
        "task_list": [{"userid": t["userid"], "publish_status": t["publish_status"]} for t in page],
        "next_cursor": cursor_encode(page[-1]["id"]) if more else "",
    }


def _published_task(ctx: Ctx, moment: SandboxMoment) -> SandboxMomentTask:
    userid = ctx.body.get("userid")
    if not userid:
        raise ApiError(41009)
    task = moment.tasks.filter(userid=userid).first()
    if task is None:
        raise ApiError(41061)
    if not task.publish_status:
        raise ApiError(41062)
    return task


def _customers_page(ctx: Ctx, moment: SandboxMoment, userid: str, limit: int) -> tuple[list[Json], str]:
    after = cursor_decode(ctx.body.get("cursor"))
    page = list(
        SandboxMomentCustomer.objects.filter(moment=moment, userid=userid, id__gt=after)
        .order_by("id")
        .values("id", "external_userid")[: limit + 1]
    )
    more = len(page) > limit
    page = page[:limit]
    return page, cursor_encode(page[-1]["id"]) if more else ""


@endpoint("externalcontact/get_moment_customer_list", "POST", contact=True)
def get_moment_customer_list(ctx: Ctx) -> Json:
    moment = _moment_get(ctx)
    task = _published_task(ctx, moment)
    page, next_cursor = _customers_page(ctx, moment, task.userid, limit_param(ctx, default=500, maximum=1000))
    return {
        "customer_list": [{"userid": task.userid, "external_userid": c["external_userid"]} for c in page],
        "next_cursor": next_cursor,
    }


@endpoint("externalcontact/get_moment_send_result", "POST", contact=True)
def get_moment_send_result(ctx: Ctx) -> Json:
    moment = _moment_get(ctx)
    task = _published_task(ctx, moment)
    page, next_cursor = _customers_page(
        ctx, moment, task.userid, limit_param(ctx, default=3000, maximum=5000)
    )
    return {
        "customer_list": [{"external_userid": c["external_userid"]} for c in page],
        "next_cursor": next_cursor,
    }


@endpoint("externalcontact/get_moment_comments", "POST", contact=True)
def get_moment_comments(ctx: Ctx) -> Json:
    moment = _moment_get(ctx)
    task = _published_task(ctx, moment)
    return {"comment_list": task.comments, "like_list": task.likes}


@endpoint("externalcontact/cancel_moment_task", "POST", contact=True)
def cancel_moment_task(ctx: Ctx) -> Json:
    moment = _moment_get(ctx)
    if moment.create_type != 0:
        raise ApiError(41060, "only corp-created moments can be canceled")
    SandboxMoment.objects.filter(pk=moment.pk).update(canceled=True)
    return {}


@endpoint("media/upload_attachment", "POST")
def media_upload_attachment(ctx: Ctx) -> Json:
    """Media for moments (``attachment_type=1``) or the product album (2), WECOM.md §9.1."""
    kind = ctx.params.get("media_type", "")
    if kind not in ("image", "video", "file"):
        raise ApiError(40004, "media_type must be image, video or file")
    if ctx.params.get("attachment_type") not in ("1", "2"):
        raise ApiError(40058, "attachment_type must be 1 (moments) or 2 (product album)")
    _upload_checked(ctx, kind, *UPLOAD_RULES[kind])
    media = _store(ctx, kind=kind, media_id=f"4{secrets.token_urlsafe(48)}")
    return {"type": kind, "media_id": media.media_id, "created_at": str(media.created_at)}
