"""Sandbox player actions: acquisition — a WeChat user scans a contact way's or a join way's QR
code, and a day of chat activity happens (what the statistics endpoints then report).

Each move changes the sandbox's tables as WeCom would and emits WeCom's callback in the same
transaction: ``add_external_contact`` with the way's ``State`` and a fresh ``WelcomeCode`` for a
contact way; ``create`` (for a room opened automatically) then ``update``/``add_member`` with
``JoinScene`` 3 for a join way.
"""

from __future__ import annotations

import random
import secrets
from datetime import date
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..api.base import ApiError
from ..api.contact_ways import members_expand
from ..api.statistics import day_date
from ..callbacks import callback_emit
from ..clock import sandbox_time
from ..frequency import frequency_reset, limits_get, limits_set
from ..models import (
    SandboxChatActivity,
    SandboxContactWay,
    SandboxExternalContact,
    SandboxFollow,
    SandboxGroupActivity,
    SandboxGroupChat,
    SandboxJoinWay,
    SandboxMember,
)
from ..player import Field, Json, PlayerError, action
from ..welcome import welcome_code_issue
from .people import (
    WECHAT_USER_FIELDS,
    _external_entry,
    _int,
    _new_wechat_user,
    _staff_entry,
    group_member_add,
)

ACQUISITION = gettext_lazy("Acquisition")

ADD_WAY_QR = 1  # WECOM.md §3.7: scanned a QR code
JOIN_SCENE_QR = 3  # groupchat/get join_scene and callback JoinScene: scanned the group QR code
JOIN_INVITED = 1
MAX_JOIN_WAY_CHATS = 5


def _text(data: Json, name: str, *, limit: int = 64) -> str:
    value = str(data.get(name) or "").strip()
    if len(value) > limit:
        raise PlayerError(
            _("%(field)s is longer than %(limit)s characters.") % {"field": name, "limit": limit}
        )
    return value


def _wechat_user(corp_id: str, data: Json) -> SandboxExternalContact:
    """The existing customer named by ``external_userid``, or a new WeChat user."""
    external_userid = _text(data, "external_userid")
    if not external_userid:
        return _new_wechat_user(corp_id, _text(data, "name"))
    contact = SandboxExternalContact.objects.filter(corp_id=corp_id, external_userid=external_userid).first()
    if contact is None:
        raise PlayerError(
            _("No customer %(id)s in corp %(corp)s.") % {"id": external_userid, "corp": corp_id}
        )
    return contact


# --- contact ways -----------------------------------------------------------------------------------


def _way_members(way: SandboxContactWay) -> list[SandboxMember]:
    """The members a scan may reach now, in the way's order (users, then departments' members)."""
    try:
        userids = members_expand(way.corp_id, way.user, way.party)
    except ApiError:
        userids = list(way.user)  # a department deleted since: its members are gone from the way
    members = {
        m.userid: m
        for m in SandboxMember.objects.filter(
            corp_id=way.corp_id, userid__in=userids, status=1, contact_enabled=True
        )
    }
    return [members[u] for u in userids if u in members]


@action(
    "scan_contact_way",
    gettext_lazy("A WeChat user scans a contact way (live code)"),
    group=ACQUISITION,
    fields=[
        Field("config_id", gettext_lazy("Contact way (config_id)")),
        *WECHAT_USER_FIELDS,
    ],
    help=gettext_lazy(
        "The way picks the member (rotating among a multi-member way's members) and sends "
        "add_external_contact with the way's state and a welcome code valid for 20 s. On an "
        "exclusive way, a customer already served by one of its members goes back to them: "
        "no new friend, no callback."
    ),
)
@transaction.atomic
def scan_contact_way(corp_id: str, data: Json) -> Json:
    config_id = _text(data, "config_id")
    way = SandboxContactWay.objects.select_for_update().filter(corp_id=corp_id, config_id=config_id).first()
    if way is None:
        raise PlayerError(_("No contact way %(id)s in corp %(corp)s.") % {"id": config_id, "corp": corp_id})
    now = sandbox_time()
    if way.is_temp and (way.used or way.create_time + (way.expires_in or 0) < now):
        raise PlayerError(_("This temporary QR code has expired or was already used."))
    members = _way_members(way)
    if not members:
        raise PlayerError(_("No member of this contact way can take customers now."))
    contact = _wechat_user(corp_id, data)
    following = set(
        SandboxFollow.objects.filter(contact=contact, member__in=members).values_list("member_id", flat=True)
    )
    if way.is_exclusive and following:
        # Exclusive way: a customer already served by one of its members goes back to that member.
        # They are friends already, so WeCom adds no one and sends no callback; the chat opens.
        served = next(m for m in members if m.pk in following)
        return {
            "userid": served.userid,
            "external_userid": contact.external_userid,
            "name": contact.name,
            "state": way.state,
            "exclusive": True,
            "already_contact": True,
            "callback": None,
        }
    # Rotate: start after the member the previous scan reached, skip members already friends.
    start = way.next_member % len(members)
    order = members[start:] + members[:start]
    chosen = next((m for m in order if m.pk not in following), None)
    if chosen is None:
        raise PlayerError(
            _("%(id)s is already a contact of every member of this way.") % {"id": contact.external_userid}
        )
    way.next_member = (members.index(chosen) + 1) % len(members)
    way.used = way.used or way.is_temp
    way.save(update_fields=["next_member", "used"])
    SandboxFollow.objects.create(
        member=chosen,
        contact=contact,
        createtime=now,
        add_way=ADD_WAY_QR,
        state=way.state,
        oper_userid=contact.external_userid,  # the customer asked
    )
    code = welcome_code_issue(corp_id=corp_id, userid=chosen.userid, external_userid=contact.external_userid)
    fields: dict[str, Any] = {"UserID": chosen.userid, "ExternalUserID": contact.external_userid}
    if way.state:
        fields["State"] = way.state
    fields["WelcomeCode"] = code
    row = callback_emit(
        corp_id=corp_id, event="change_external_contact", change_type="add_external_contact", fields=fields
    )
    return {
        "userid": chosen.userid,
        "external_userid": contact.external_userid,
        "name": contact.name,
        "state": way.state,
        "welcome_code": code,
        "callback": row.pk,
    }


# --- join ways --------------------------------------------------------------------------------------


def _room_open(way: SandboxJoinWay, chats: list[SandboxGroupChat], now: int) -> tuple[SandboxGroupChat, int]:
    """Open the next automatic room of ``way`` (owned by its first group's owner): emits ``create``."""
    owner = SandboxMember.objects.filter(corp_id=way.corp_id, userid=chats[0].owner).first()
    if owner is None:
        raise PlayerError(_("The join way's groups have no owner to open a new group."))
    chat = SandboxGroupChat.objects.create(
        corp_id=way.corp_id,
        chat_id="wr" + secrets.token_hex(15),
        name=f"{way.room_base_name}{way.room_base_id + way.rooms_created}",
        owner=owner.userid,
        create_time=now,
        member_list=[_staff_entry(owner, join_scene=JOIN_INVITED, invitor="", now=now)],
        admin_list=[],
        member_version=secrets.token_hex(16),
    )
    row = callback_emit(
        corp_id=way.corp_id,
        event="change_external_chat",
        change_type="create",
        fields={"ChatId": chat.chat_id},
    )
    way.rooms_created += 1
    # The new room joins the code's groups; the code keeps at most 5, dropping full ones first.
    way.chat_id_list = [*way.chat_id_list, chat.chat_id][-MAX_JOIN_WAY_CHATS:]
    way.save(update_fields=["rooms_created", "chat_id_list"])
    return chat, row.pk


@action(
    "scan_join_way",
    gettext_lazy("A WeChat user joins a group through a group code"),
    group=ACQUISITION,
    fields=[
        Field("config_id", gettext_lazy("Join way (config_id)")),
        *WECHAT_USER_FIELDS,
    ],
    help=gettext_lazy(
        "Joins the first group of the code below the scan-join cap (200 people), or a group "
        "opened automatically when all are at it; sends change_external_chat create for a new "
        "group, then update add_member with JoinScene 3."
    ),
)
@transaction.atomic
def scan_join_way(corp_id: str, data: Json) -> Json:
    config_id = _text(data, "config_id")
    way = SandboxJoinWay.objects.select_for_update().filter(corp_id=corp_id, config_id=config_id).first()
    if way is None:
        raise PlayerError(_("No join way %(id)s in corp %(corp)s.") % {"id": config_id, "corp": corp_id})
    by_id = {
        c.chat_id: c
        for c in SandboxGroupChat.objects.select_for_update().filter(
            corp_id=corp_id, chat_id__in=way.chat_id_list
        )
    }
    chats = [by_id[c] for c in way.chat_id_list if c in by_id]
    if not chats:
        raise PlayerError(_("The join way's groups no longer exist."))
    contact = _wechat_user(corp_id, data)
    for chat in chats:
        if any(m.get("userid") == contact.external_userid for m in chat.member_list):
            raise PlayerError(
                _("%(id)s is already in group %(chat)s.")
                % {"id": contact.external_userid, "chat": chat.chat_id}
            )
    # A WeChat user joins by QR only while the group is below the scan-join cap (200 in WeCom),
    # whatever room the group still has up to its full size.
    limits = limits_get()
    cap = min(limits.group_member_cap, limits.scan_join_cap)
    now = sandbox_time()
    chat = next((c for c in chats if len(c.member_list) < cap), None)
    callbacks = []
    if chat is None:
        if not way.auto_create_room:
            raise PlayerError(
                _("Every group of this code is full for scan joins (%(cap)s people).") % {"cap": cap}
            )
        chat, create_row = _room_open(way, chats, now)
        callbacks.append(create_row)
    entry = _external_entry(contact, join_scene=JOIN_SCENE_QR, invitor="", now=now)
    if way.state:
        entry["state"] = way.state
    callbacks.append(group_member_add(chat=chat, entry=entry, callback_join_scene=JOIN_SCENE_QR))
    return {
        "chat_id": chat.chat_id,
        "external_userid": contact.external_userid,
        "member_version": chat.member_version,
        "callbacks": callbacks,
    }


# --- activity for the statistics ----------------------------------------------------------------------


def _day(data: Json) -> date:
    raw = _text(data, "day", limit=10)
    if not raw:
        return day_date(sandbox_time())
    try:
        return date.fromisoformat(raw)
    except ValueError:
        raise PlayerError(_("day must be a date like 2025-01-31.")) from None


@action(
    "chat_activity",
    gettext_lazy("A staff member chats with customers for a day"),
    group=ACQUISITION,
    fields=[
        Field("userid", gettext_lazy("Staff member (userid)")),
        Field(
            "day", gettext_lazy("Day (YYYY-MM-DD)"), required=False, help=gettext_lazy("Defaults to today.")
        ),
        Field("chat_cnt", gettext_lazy("One-to-one chats"), kind="int", required=False),
        Field("message_cnt", gettext_lazy("Messages sent"), kind="int", required=False),
        Field("new_apply_cnt", gettext_lazy("Friend requests sent"), kind="int", required=False),
        Field("reply_percentage", gettext_lazy("Reply rate (%)"), kind="int", required=False),
        Field("avg_reply_time", gettext_lazy("Average reply time (minutes)"), kind="int", required=False),
        Field(
            "group_messages",
            gettext_lazy("Messages in the member's groups"),
            kind="int",
            required=False,
            help=gettext_lazy("Spread over the groups the member owns."),
        ),
    ],
    help=gettext_lazy(
        "Figures left empty are made up; get_user_behavior_data and the group statistics report them."
    ),
)
@transaction.atomic
def chat_activity(corp_id: str, data: Json) -> Json:
    userid = _text(data, "userid")
    if not SandboxMember.objects.filter(corp_id=corp_id, userid=userid).exists():
        raise PlayerError(
            _("No staff member %(userid)s in corp %(corp)s.") % {"userid": userid, "corp": corp_id}
        )
    day = _day(data)
    chat_cnt = _int(data, "chat_cnt", random.randint(0, 30))
    figures = {
        "chat_cnt": chat_cnt,
        "message_cnt": _int(data, "message_cnt", chat_cnt * random.randint(1, 6)),
        "new_apply_cnt": _int(data, "new_apply_cnt", random.randint(0, 5)),
        "reply_percentage": float(_int(data, "reply_percentage", random.randint(50, 100), high=100))
        if chat_cnt
        else None,
        "avg_reply_time": _int(data, "avg_reply_time", random.randint(1, 60)) if chat_cnt else None,
    }
    SandboxChatActivity.objects.update_or_create(corp_id=corp_id, userid=userid, day=day, defaults=figures)
    group_messages = _int(data, "group_messages", random.randint(0, 50))
    chats = list(
        SandboxGroupChat.objects.filter(corp_id=corp_id, owner=userid)
        .order_by("id")
        .values_list("chat_id", "member_list")
    )
    groups = []
    if chats:
        share, extra = divmod(group_messages, len(chats))
        for index, (chat_id, member_list) in enumerate(chats):
            messages = share + (1 if index < extra else 0)
            speakers = min(len(member_list or ()), messages)
            SandboxGroupActivity.objects.update_or_create(
                corp_id=corp_id,
                chat_id=chat_id,
                day=day,
                defaults={"msg_total": messages, "member_has_msg": speakers},
            )
            groups.append({"chat_id": chat_id, "msg_total": messages, "member_has_msg": speakers})
    return {"userid": userid, "day": day.isoformat(), **figures, "groups": groups}


# --- WeCom's limits -----------------------------------------------------------------------------------


@action(
    "sandbox_limits",
    gettext_lazy("WeCom's limits: API quota, group size, frequency"),
    group=ACQUISITION,
    fields=[
        Field("api_quota", gettext_lazy("Contact ways + join ways quota"), kind="int", required=False),
        Field(
            "group_member_cap",
            gettext_lazy("People per group before a join way moves on"),
            kind="int",
            required=False,
        ),
        Field(
            "scan_join_cap",
            gettext_lazy("People per group below which a WeChat user may join by QR"),
            kind="int",
            required=False,
        ),
        Field(
            "frequency_path",
            gettext_lazy("Limit calls to this API"),
            required=False,
            help=gettext_lazy("A path such as externalcontact/get, or * for every API."),
        ),
        Field("per_minute", gettext_lazy("Calls per minute"), kind="int", required=False),
        Field("per_hour", gettext_lazy("Calls per hour"), kind="int", required=False),
        Field(
            "frequency_off",
            gettext_lazy("Switch the frequency limits off"),
            kind="bool",
            required=False,
            default=False,
        ),
    ],
    help=gettext_lazy("Over a frequency limit WeCom answers 45009 for 60 s (minute) or 60 min (hour)."),
)
@transaction.atomic
def sandbox_limits(corp_id: str, data: Json) -> Json:
    """Change the emulator's limits; they hold for every emulated corp (one sandbox, one WeCom)."""
    limits = limits_get()
    changes: dict[str, Any] = {}
    if data.get("api_quota") not in (None, ""):
        changes["api_quota"] = _int(data, "api_quota", limits.api_quota, high=10_000_000)
    if data.get("group_member_cap") not in (None, ""):
        changes["group_member_cap"] = _int(
            data, "group_member_cap", limits.group_member_cap, low=1, high=2000
        )
    if data.get("scan_join_cap") not in (None, ""):
        changes["scan_join_cap"] = _int(data, "scan_join_cap", limits.scan_join_cap, low=1, high=2000)
    frequency = dict(limits.frequency_limits or {})
    if data.get("frequency_off"):
        frequency = {}
        frequency_reset()
    path = _text(data, "frequency_path", limit=128)
    if path:
        rule = {
            window: _int(data, field, 0, low=1)
            for window, field in (("minute", "per_minute"), ("hour", "per_hour"))
            if data.get(field) not in (None, "")
        }
        if not rule:
            raise PlayerError(_("Give calls per minute, per hour or both for %(path)s.") % {"path": path})
        frequency[path] = rule
    changes["frequency_limits"] = frequency
    limits = limits_set(**changes)
    return {
        "api_quota": limits.api_quota,
        "group_member_cap": limits.group_member_cap,
        "scan_join_cap": limits.scan_join_cap,
        "frequency_limits": limits.frequency_limits,
    }
