"""On-job and resigned transfers of customers and groups (WECOM.md §10).

A customer transfer only starts here: each customer waits (status 2) until the simulated clock
passes ``takeover_time`` 24 h later, or refuses (:mod:`scrm.sandbox.outreach`). Waiting
transfers that are due are settled before each transfer call, so results are never stale even
when nobody advanced the clock through :func:`~scrm.sandbox.clock.clock_advance`.

Group transfers take effect at once; like every change made through the API they emit no callback.
"""

from __future__ import annotations

import secrets
from datetime import datetime

from django.db import transaction
from django.db.models import Count

from ..clock import sandbox_time
from ..models import (
    SandboxExternalContact,
    SandboxFollow,
    SandboxGroupChat,
    SandboxGroupTransfer,
    SandboxMember,
    SandboxTransfer,
)
from ..outreach import TAKEOVER_DELAY, WECOM_TZ, transfers_settle
from .base import (
    ERRMSG,
    ApiError,
    Ctx,
    Json,
    cursor_decode,
    cursor_encode,
    endpoint,
    errmsg,
    int_param,
    member_get,
    str_list,
)

ERRMSG.update(
    {
        40097: "user is not resigned",
        40099: "external contact count reach limit",
        40128: "transfer customer too frequently",
        40129: "customer is transferring",
        40130: "handover and takeover are the same",
        40131: "handover user is not the follow user of the customer",
        41054: "user not activated",
        84074: "no external contact privilege",
        90500: "the owner of this chat is not resigned",
        90502: "the owner of this chat has resigned",
        90503: "chat members exceed limit, need confirm in client",
        90504: "owner is not changed",
        90507: "chat is transferring",
        90508: "chat has been transferred",
    }
)

MAX_PER_CALL = 100
ONJOB_MAX_TIMES = 2
PROTECTION = 90 * 86400
RESULT_PAGE = 1000
UNASSIGNED_PAGE = 1000
UNASSIGNED_WINDOW = 50_000
GROUPS_PER_DAY = 300
GROUP_WECHAT_MEMBER_CAP = 99
MEMBER_RESIGNED = 5


def _takeover_get(ctx: Ctx, userid: str) -> SandboxMember:
    """The member who takes over: active, with customer contact (WECOM.md §10.1)."""
    member = member_get(ctx, userid)
    if member.status == 4:
        raise ApiError(41054, f"{userid} has not activated WeCom")
    if member.status != 1:
        raise ApiError(40003, f"{userid} is not an active member")
    if not member.contact_enabled:
        raise ApiError(84074, f"{userid} has no customer contact")
    return member


# --- customers ----------------------------------------------------------------------------------------


def _transfer_start(ctx: Ctx, kind: str) -> Json:
    body = ctx.body
    handover_id = body.get("handover_userid") or ""
    takeover_id = body.get("takeover_userid") or ""
    if not handover_id or not takeover_id:
        raise ApiError(41009, "handover_userid and takeover_userid are required")
    external_userids = str_list(body.get("external_userid"), "external_userid")
    if not external_userids:
        raise ApiError(40058, "external_userid is required")
    if len(external_userids) > MAX_PER_CALL:
        raise ApiError(40058, "at most 100 external_userid per call")
    message = body.get("transfer_success_msg") or ""
    if not isinstance(message, str) or len(message) > 200:
        raise ApiError(40058, "transfer_success_msg is at most 200 characters")
    if handover_id == takeover_id:
        raise ApiError(40130)
    handover = member_get(ctx, handover_id)
    if kind == SandboxTransfer.Kind.RESIGNED and handover.status != MEMBER_RESIGNED:
        raise ApiError(40097)
    if kind == SandboxTransfer.Kind.ONJOB and handover.status == MEMBER_RESIGNED:
        raise ApiError(40003, f"{handover_id} has resigned: use resigned/transfer_customer")
    _takeover_get(ctx, takeover_id)
    transfers_settle(corp_id=ctx.corp_id)

    wanted = list(dict.fromkeys(external_userids))
    now = sandbox_time()
    with transaction.atomic():
        known = set(
            SandboxExternalContact.objects.filter(
                corp_id=ctx.corp_id, external_userid__in=wanted
            ).values_list("external_userid", flat=True)
        )
        followed = set(
            SandboxFollow.objects.filter(member=handover, contact__external_userid__in=wanted).values_list(
                "contact__external_userid", flat=True
            )
        )
        history = SandboxTransfer.objects.select_for_update().filter(
            corp_id=ctx.corp_id, external_userid__in=wanted
        )
        waiting = set(history.filter(status=2).values_list("external_userid", flat=True))
        done: dict[str, list[int]] = {}
        for external_userid, takeover_time in history.filter(kind=kind, status=1).values_list(
            "external_userid", "takeover_time"
        ):
            done.setdefault(external_userid, []).append(takeover_time)
        started = []
        errcodes = {}
        for external_userid in wanted:
            past = done.get(external_userid, [])
            if external_userid not in known:
                errcodes[external_userid] = 40096
            elif external_userid not in followed:
                errcodes[external_userid] = 40131
            elif external_userid in waiting:
                errcodes[external_userid] = 40129
            elif kind == SandboxTransfer.Kind.ONJOB and (
                len(past) >= ONJOB_MAX_TIMES or any(now - t < PROTECTION for t in past)
            ):
                errcodes[external_userid] = 40128
            else:
                errcodes[external_userid] = 0
                started.append(
                    SandboxTransfer(
                        corp_id=ctx.corp_id,
                        kind=kind,
                        handover_userid=handover_id,
                        takeover_userid=takeover_id,
                        external_userid=external_userid,
                        start_time=now,
                        takeover_time=now + TAKEOVER_DELAY,
                        transfer_success_msg=message,
                    )
                )
        SandboxTransfer.objects.bulk_create(started)
    return {"customer": [{"external_userid": e, "errcode": errcodes[e]} for e in external_userids]}


def _transfer_result(ctx: Ctx, kind: str) -> Json:
    handover_id = ctx.body.get("handover_userid") or ""
    takeover_id = ctx.body.get("takeover_userid") or ""
    if not handover_id or not takeover_id:
        raise ApiError(41009, "handover_userid and takeover_userid are required")
    transfers_settle(corp_id=ctx.corp_id)
    after = cursor_decode(ctx.body.get("cursor"))
    page = list(
        SandboxTransfer.objects.filter(
            corp_id=ctx.corp_id,
            kind=kind,
            handover_userid=handover_id,
            takeover_userid=takeover_id,
            id__gt=after,
        )
        .order_by("id")
        .values("id", "external_userid", "status", "takeover_time")[: RESULT_PAGE + 1]
    )
    more = len(page) > RESULT_PAGE
    page = page[:RESULT_PAGE]
    return {
        "customer": [
            {
                "external_userid": t["external_userid"],
                "status": t["status"],
                "takeover_time": t["takeover_time"],
            }
            for t in page
        ],
        "next_cursor": cursor_encode(page[-1]["id"]) if more else "",
    }


@endpoint("externalcontact/transfer_customer", "POST", contact=True)
def transfer_customer(ctx: Ctx) -> Json:
    return _transfer_start(ctx, SandboxTransfer.Kind.ONJOB)


@endpoint("externalcontact/transfer_result", "POST", contact=True)
def transfer_result(ctx: Ctx) -> Json:
    return _transfer_result(ctx, SandboxTransfer.Kind.ONJOB)


@endpoint("externalcontact/resigned/transfer_customer", "POST", contact=True)
def resigned_transfer_customer(ctx: Ctx) -> Json:
    return _transfer_start(ctx, SandboxTransfer.Kind.RESIGNED)


@endpoint("externalcontact/resigned/transfer_result", "POST", contact=True)
def resigned_transfer_result(ctx: Ctx) -> Json:
    return _transfer_result(ctx, SandboxTransfer.Kind.RESIGNED)


@endpoint("externalcontact/get_unassigned_list", "POST", contact=True)
def get_unassigned_list(ctx: Ctx) -> Json:
    """Customers of resigned members not (yet) handed over, in follow order."""
    page_size = int_param(ctx.body.get("page_size"), "page_size", default=UNASSIGNED_PAGE)
    if not 1 <= page_size <= UNASSIGNED_PAGE:
        page_size = UNASSIGNED_PAGE
    transfers_settle(corp_id=ctx.corp_id)
    follows = SandboxFollow.objects.filter(
        member__corp_id=ctx.corp_id, member__status=MEMBER_RESIGNED
    ).exclude(
        contact__external_userid__in=SandboxTransfer.objects.filter(corp_id=ctx.corp_id, status=2).values(
            "external_userid"
        )
    )
    cursor = ctx.body.get("cursor")
    if cursor:
        follows = follows.filter(id__gt=cursor_decode(cursor))
        offset = 0
    else:
        page_id = int_param(ctx.body.get("page_id"), "page_id", default=0)
        if page_id < 0 or page_id * page_size >= UNASSIGNED_WINDOW:
            raise ApiError(40058, "page_id * page_size must stay under 50000; use the cursor")
        offset = page_id * page_size
    rows = list(
        follows.order_by("id").values(
            "id", "member__userid", "contact__external_userid", "member__dimission_time"
        )[offset : offset + page_size + 1]
    )
    more = len(rows) > page_size
    rows = rows[:page_size]
    return {
        "info": [
            {
                "handover_userid": r["member__userid"],
                "external_userid": r["contact__external_userid"],
                "dimission_time": r["member__dimission_time"] or 0,
            }
            for r in rows
        ],
        "is_last": not more,
        "next_cursor": cursor_encode(rows[-1]["id"]) if more else "",
    }


# --- groups -------------------------------------------------------------------------------------------


def _day_start(now: int) -> int:
    local = datetime.fromtimestamp(now, WECOM_TZ)
    return int(local.replace(hour=0, minute=0, second=0, microsecond=0).timestamp())


def _group_transfer(ctx: Ctx, kind: str) -> Json:
    chat_ids = str_list(ctx.body.get("chat_id_list"), "chat_id_list")
    if not 1 <= len(chat_ids) <= MAX_PER_CALL:
        raise ApiError(40058, "chat_id_list must hold 1-100 chat ids")
    new_owner_id = ctx.body.get("new_owner") or ""
    if not new_owner_id:
        raise ApiError(41009, "new_owner is required")
    new_owner = _takeover_get(ctx, new_owner_id)
    now = sandbox_time()
    today = _day_start(now)
    failed: list[Json] = []
    with transaction.atomic():
        chats = {
            c.chat_id: c
            for c in SandboxGroupChat.objects.select_for_update().filter(
                corp_id=ctx.corp_id, chat_id__in=chat_ids
            )
        }
        owners = {c.owner for c in chats.values()}
        owner_status = dict(
            SandboxMember.objects.filter(corp_id=ctx.corp_id, userid__in=owners).values_list(
                "userid", "status"
            )
        )
        history = SandboxGroupTransfer.objects.filter(corp_id=ctx.corp_id)
        given_today = dict(
            history.filter(old_owner__in=owners, create_time__gte=today)
            .values_list("old_owner")
            .annotate(n=Count("id"))
        )
        recent = dict(
            history.filter(chat_id__in=chats, kind=kind, create_time__gt=now - 90 * 86400)
            .values_list("chat_id")
            .annotate(n=Count("id"))
        )
        done: list[SandboxGroupTransfer] = []
        for chat_id in dict.fromkeys(chat_ids):
            chat = chats.get(chat_id)
            errcode = _group_errcode(kind, chat, new_owner.userid, owner_status, given_today, recent)
            if errcode:
                failed.append({"chat_id": chat_id, "errcode": errcode, "errmsg": errmsg(errcode)})
                continue
            assert chat is not None
            done.append(
                SandboxGroupTransfer(
                    corp_id=ctx.corp_id,
                    kind=kind,
                    chat_id=chat_id,
                    old_owner=chat.owner,
                    new_owner=new_owner.userid,
                    create_time=now,
                )
            )
            given_today[chat.owner] = given_today.get(chat.owner, 0) + 1
            _owner_change(chat, new_owner, now, resigned=kind == SandboxTransfer.Kind.RESIGNED)
        SandboxGroupTransfer.objects.bulk_create(done)
    return {"failed_chat_list": failed}


def _group_errcode(
    kind: str,
    chat: SandboxGroupChat | None,
    new_owner: str,
    owner_status: dict[str, int],
    given_today: dict[str, int],
    recent: dict[str, int],
) -> int:
    if chat is None:
        return 90501
    if chat.status == 2:
        return 90507
    resigned = owner_status.get(chat.owner) == MEMBER_RESIGNED
    if kind == SandboxTransfer.Kind.RESIGNED:
        if chat.status == 3 and not resigned:
            return 90508
        if chat.owner == new_owner:
            return 90504
        if not resigned:
            return 90500
    else:
        if chat.owner == new_owner:
            return 90504
        if resigned:
            return 90502
        if recent.get(chat.chat_id, 0) >= ONJOB_MAX_TIMES:
            # WeCom documents "2 per 90 days" for groups without its own code; it is the
            # customers' rule, so the sandbox answers the customers' code.
            return 40128
    if given_today.get(chat.owner, 0) >= GROUPS_PER_DAY:
        return 45009
    wechat_members = sum(1 for m in chat.member_list if m.get("type") == 2)
    if wechat_members > GROUP_WECHAT_MEMBER_CAP:
        return 90503
    return 0


def _owner_change(chat: SandboxGroupChat, new_owner: SandboxMember, now: int, *, resigned: bool) -> None:
    """Make ``new_owner`` the owner, adding them to the group when they are not in it."""
    if not any(m.get("userid") == new_owner.userid for m in chat.member_list):
        chat.member_list = [
            *chat.member_list,
            {
                "userid": new_owner.userid,
                "type": 1,
                "join_time": now,
                "join_scene": 1,
                "name": new_owner.name,
            },
        ]
        chat.member_version = secrets.token_hex(16)
    chat.owner = new_owner.userid
    chat.status = 3 if resigned else 0
    chat.save(update_fields=["owner", "status", "member_list", "member_version"])


@endpoint("externalcontact/groupchat/transfer", "POST", contact=True)
def groupchat_transfer(ctx: Ctx) -> Json:
    return _group_transfer(ctx, SandboxTransfer.Kind.RESIGNED)


@endpoint("externalcontact/groupchat/onjob_transfer", "POST", contact=True)
def groupchat_onjob_transfer(ctx: Ctx) -> Json:
    return _group_transfer(ctx, SandboxTransfer.Kind.ONJOB)
