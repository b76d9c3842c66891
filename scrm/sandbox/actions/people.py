"""Sandbox player actions: people — WeChat users, staff in the WeCom client, the address book.

Each action changes the sandbox's tables as WeCom would after that move, in one transaction with
the callback WeCom would then send (WECOM.md §12.2–12.4). Group-code joins belong to acquisition
(``scan_join_way``); they share :func:`group_member_add` with the invitation join here.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..callbacks import callback_emit
from ..clock import clock_advance, sandbox_time
from ..models import (
    SandboxDepartment,
    SandboxExternalContact,
    SandboxFollow,
    SandboxGroupChat,
    SandboxMember,
    SandboxTag,
    SandboxTagGroup,
)
from ..player import Field, Json, PlayerError, action

PEOPLE = gettext_lazy("Customers and staff")
GROUPS = gettext_lazy("Customer groups")
ADDRESS_BOOK = gettext_lazy("Address book and tags")
CLOCK = gettext_lazy("Clock")

#: WECOM.md §6.4: customer groups hold up to 500 people (unconfirmed; 200 in some setups).
GROUP_SIZE_LIMIT = 500
#: WECOM.md §18: corp tags per corp, names, remark and description lengths.
CORP_TAG_LIMIT = 3000
TAG_NAME_MAX = 30
REMARK_MAX = 20
DESCRIPTION_MAX = 150
STATE_MAX = 30
#: A year: enough for any state machine; a typo of extra zeros is refused.
ADVANCE_MAX_SECONDS = 366 * 24 * 3600

# Member status in the address book (WECOM.md §2): 1 active, 5 quit.
MEMBER_ACTIVE = 1
MEMBER_QUIT = 5
# member_list ``type``; callback JoinScene / QuitScene (WECOM.md §6.2, §12.3).
MEMBER_STAFF = 1
MEMBER_EXTERNAL = 2
JOIN_INVITED = 1
JOIN_INVITE_LINK = 2
CALLBACK_JOIN_BY_MEMBER = 0
QUIT_SELF = 0
QUIT_REMOVED = 1


# --- lookups: every miss is a PlayerError, i.e. a 400 with a message ---------------------------------


def _text(data: Json, name: str, *, limit: int | None = None) -> str:
    value = str(data.get(name) or "").strip()
    if limit is not None and len(value) > limit:
        raise PlayerError(
            _("%(field)s is longer than %(limit)s characters.") % {"field": name, "limit": limit}
        )
    return value


def _int(data: Json, name: str, default: int, *, low: int = 0, high: int = 1_000_000) -> int:
    raw = data.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise PlayerError(_("%(field)s must be a whole number.") % {"field": name}) from None
    if not low <= value <= high:
        raise PlayerError(
            _("%(field)s must be between %(low)s and %(high)s.") % {"field": name, "low": low, "high": high}
        )
    return value


def _member(corp_id: str, userid: str, *, active: bool = True) -> SandboxMember:
    if not userid:
        raise PlayerError(_("A staff member's userid is required."))
    member = SandboxMember.objects.select_for_update().filter(corp_id=corp_id, userid=userid).first()
    if member is None:
        raise PlayerError(
            _("No staff member %(userid)s in corp %(corp)s.") % {"userid": userid, "corp": corp_id}
        )
    if active and member.status != MEMBER_ACTIVE:
        raise PlayerError(_("Staff member %(userid)s is not active.") % {"userid": userid})
    return member


def _contact(corp_id: str, external_userid: str) -> SandboxExternalContact:
    if not external_userid:
        raise PlayerError(_("An external_userid is required."))
    contact = SandboxExternalContact.objects.filter(corp_id=corp_id, external_userid=external_userid).first()
    if contact is None:
        raise PlayerError(
            _("No customer %(id)s in corp %(corp)s.") % {"id": external_userid, "corp": corp_id}
        )
    return contact


def _follow(member: SandboxMember, contact: SandboxExternalContact) -> SandboxFollow:
    follow = SandboxFollow.objects.select_for_update().filter(member=member, contact=contact).first()
    if follow is None:
        raise PlayerError(
            _("%(userid)s and %(id)s are not contacts.")
            % {"userid": member.userid, "id": contact.external_userid}
        )
    return follow


def _chat(corp_id: str, chat_id: str) -> SandboxGroupChat:
    if not chat_id:
        raise PlayerError(_("A chat_id is required."))
    chat = SandboxGroupChat.objects.select_for_update().filter(corp_id=corp_id, chat_id=chat_id).first()
    if chat is None:
        raise PlayerError(_("No customer group %(id)s in corp %(corp)s.") % {"id": chat_id, "corp": corp_id})
    return chat


def _new_wechat_user(corp_id: str, name: str) -> SandboxExternalContact:
    suffix = secrets.token_hex(14)
    return SandboxExternalContact.objects.create(
        corp_id=corp_id,
        external_userid="wm" + suffix,
        name=name or f"WeChat user {suffix[:6]}",
        type=1,
        gender=secrets.choice((1, 2)),
        unionid="o" + secrets.token_hex(13),
        avatar=f"https://sandbox.invalid/avatar/{suffix[:12]}.png",
    )


# --- customers --------------------------------------------------------------------------------------

#: Who plays a move that brings a customer in: an existing one, or a new WeChat user.
WECHAT_USER_FIELDS = (
    Field(
        "external_userid",
        gettext_lazy("Existing customer (external_userid)"),
        required=False,
        help=gettext_lazy("Leave empty for a new WeChat user."),
    ),
    Field("name", gettext_lazy("New user's WeChat name"), required=False),
)


@action(
    "add_contact",
    gettext_lazy("A WeChat user adds a staff member"),
    group=PEOPLE,
    fields=[
        Field("userid", gettext_lazy("Staff member (userid)")),
        *WECHAT_USER_FIELDS,
        Field(
            "state",
            gettext_lazy("State"),
            required=False,
            help=gettext_lazy("The contact way's state, up to 30 characters."),
        ),
        Field(
            "add_way",
            gettext_lazy("add_way"),
            kind="int",
            required=False,
            default=1,
            help=gettext_lazy("1: scanned a QR code."),
        ),
    ],
    help=gettext_lazy("Sends add_external_contact with a welcome code valid for 20 s."),
)
@transaction.atomic
def add_contact(corp_id: str, data: Json) -> Json:
    member = _member(corp_id, _text(data, "userid"))
    if not member.contact_enabled:
        raise PlayerError(
            _("Staff member %(userid)s has no customer-contact feature.") % {"userid": member.userid}
        )
    state = _text(data, "state", limit=STATE_MAX)
    add_way = _int(data, "add_way", 1)
    external_userid = _text(data, "external_userid")
    if external_userid:
        contact = _contact(corp_id, external_userid)
        if SandboxFollow.objects.filter(member=member, contact=contact).exists():
            raise PlayerError(
                _("%(id)s is already a contact of %(userid)s.")
                % {"id": external_userid, "userid": member.userid}
            )
    else:
        contact = _new_wechat_user(corp_id, _text(data, "name", limit=64))
    SandboxFollow.objects.create(
        member=member,
        contact=contact,
        createtime=sandbox_time(),
        add_way=add_way,
        state=state,
        oper_userid=contact.external_userid,  # the customer asked
    )
    from ..welcome import welcome_code_issue

    code = welcome_code_issue(corp_id=corp_id, userid=member.userid, external_userid=contact.external_userid)
    fields: dict[str, Any] = {"UserID": member.userid, "ExternalUserID": contact.external_userid}
    if state:
        fields["State"] = state
    fields["WelcomeCode"] = code
    row = callback_emit(
        corp_id=corp_id, event="change_external_contact", change_type="add_external_contact", fields=fields
    )
    return {
        "userid": member.userid,
        "external_userid": contact.external_userid,
        "name": contact.name,
        "welcome_code": code,
        "callback": row.pk,
    }


def _pair(corp_id: str, data: Json) -> tuple[SandboxMember, SandboxExternalContact, SandboxFollow]:
    member = _member(corp_id, _text(data, "userid"), active=False)
    contact = _contact(corp_id, _text(data, "external_userid"))
    return member, contact, _follow(member, contact)


PAIR_FIELDS = [
    Field("userid", gettext_lazy("Staff member (userid)")),
    Field("external_userid", gettext_lazy("Customer (external_userid)")),
]


@action(
    "staff_deletes_customer",
    gettext_lazy("A staff member deletes a customer"),
    group=PEOPLE,
    fields=PAIR_FIELDS,
    help=gettext_lazy("Sends del_external_contact."),
)
@transaction.atomic
def staff_deletes_customer(corp_id: str, data: Json) -> Json:
    return _pair_deleted(corp_id, data, change_type="del_external_contact")


@action(
    "customer_deletes_staff",
    gettext_lazy("A customer deletes a staff member"),
    group=PEOPLE,
    fields=PAIR_FIELDS,
    help=gettext_lazy("Sends del_follow_user."),
)
@transaction.atomic
def customer_deletes_staff(corp_id: str, data: Json) -> Json:
    return _pair_deleted(corp_id, data, change_type="del_follow_user")


def _pair_deleted(corp_id: str, data: Json, *, change_type: str) -> Json:
    """One side deleted the other: the friendship ends and WeCom reports who did it."""
    member, contact, follow = _pair(corp_id, data)
    # The pair leaves WeCom's lists (externalcontact/list, get, batch/get_by_user) at once here;
    # whether real WeCom keeps a one-way contact listed for a while is not documented.
    follow.delete()
    row = callback_emit(
        corp_id=corp_id,
        event="change_external_contact",
        change_type=change_type,
        fields={"UserID": member.userid, "ExternalUserID": contact.external_userid},
    )
    return {"userid": member.userid, "external_userid": contact.external_userid, "callback": row.pk}


def _corp_tags(corp_id: str, tag_ids: Sequence[str]) -> list[str]:
    if not tag_ids:
        return []
    found = set(
        SandboxTag.objects.filter(tag_id__in=tag_ids, deleted=False, group__corp_id=corp_id).values_list(
            "tag_id", flat=True
        )
    )
    missing = [t for t in tag_ids if t not in found]
    if missing:
        raise PlayerError(_("Unknown corp tags: %(tags)s.") % {"tags": ", ".join(missing)})
    return list(dict.fromkeys(tag_ids))


@action(
    "staff_edits_customer",
    gettext_lazy("A staff member edits a customer in the client"),
    group=PEOPLE,
    fields=[
        *PAIR_FIELDS,
        Field("remark", gettext_lazy("Remark"), required=False, help=gettext_lazy("Up to 20 characters.")),
        Field(
            "description",
            gettext_lazy("Description"),
            required=False,
            help=gettext_lazy("Up to 150 characters."),
        ),
        Field(
            "add_tags",
            gettext_lazy("Corp tags to add"),
            kind="list",
            required=False,
            help=gettext_lazy("Tag ids (et…)."),
        ),
        Field("remove_tags", gettext_lazy("Corp tags to remove"), kind="list", required=False),
    ],
    help=gettext_lazy("Sends edit_external_contact."),
)
@transaction.atomic
def staff_edits_customer(corp_id: str, data: Json) -> Json:
    member, contact, follow = _pair(corp_id, data)
    changed = []
    if data.get("remark") not in (None, ""):
        follow.remark = _text(data, "remark", limit=REMARK_MAX)
        changed.append("remark")
    if data.get("description") not in (None, ""):
        follow.description = _text(data, "description", limit=DESCRIPTION_MAX)
        changed.append("description")
    add = _corp_tags(corp_id, data.get("add_tags") or [])
    remove = set(_corp_tags(corp_id, data.get("remove_tags") or []))
    if add or remove:
        tags = [t for t in follow.tag_ids if t not in remove]
        tags += [t for t in add if t not in tags]
        follow.tag_ids = tags
        changed.append("tag_ids")
    if not changed:
        raise PlayerError(_("Nothing to change: give a remark, a description or tags."))
    follow.save(update_fields=changed)
    row = callback_emit(
        corp_id=corp_id,
        event="change_external_contact",
        change_type="edit_external_contact",
        fields={"UserID": member.userid, "ExternalUserID": contact.external_userid},
    )
    return {
        "userid": member.userid,
        "external_userid": contact.external_userid,
        "remark": follow.remark,
        "description": follow.description,
        "tag_ids": follow.tag_ids,
        "callback": row.pk,
    }


# --- customer groups --------------------------------------------------------------------------------


def _external_entry(contact: SandboxExternalContact, *, join_scene: int, invitor: str, now: int) -> Json:
    entry: Json = {
        "userid": contact.external_userid,
        "type": MEMBER_EXTERNAL,
        "join_time": now,
        "join_scene": join_scene,
        "group_nickname": "",
        "name": contact.name,
    }
    if invitor:
        entry["invitor"] = {"userid": invitor}
    if contact.unionid:
        entry["unionid"] = contact.unionid
    return entry


def _staff_entry(member: SandboxMember, *, join_scene: int, invitor: str, now: int) -> Json:
    entry: Json = {
        "userid": member.userid,
        "type": MEMBER_STAFF,
        "join_time": now,
        "join_scene": join_scene,
        "group_nickname": "",
        "name": member.name,
    }
    if invitor:
        entry["invitor"] = {"userid": invitor}
    return entry


def group_member_add(*, chat: SandboxGroupChat, entry: Json, callback_join_scene: int) -> int:
    """Put ``entry`` (a ``member_list`` item) in ``chat`` and emit ``update``/``add_member``.

    ``chat`` must be locked (select_for_update) by the caller's transaction. Returns the outbox
    row's id. Callback JoinScene codes differ from member_list's (WECOM.md §12.3): 0 invited by
    a member, 3 scanned the group QR code.
    """
    if any(m["userid"] == entry["userid"] for m in chat.member_list):
        raise PlayerError(
            _("%(id)s is already in group %(chat)s.") % {"id": entry["userid"], "chat": chat.chat_id}
        )
    if len(chat.member_list) >= GROUP_SIZE_LIMIT:
        raise PlayerError(
            _("Group %(chat)s is full (%(limit)s people).")
            % {"chat": chat.chat_id, "limit": GROUP_SIZE_LIMIT}
        )
    last_version = chat.member_version
    chat.member_list = [*chat.member_list, entry]
    chat.member_version = secrets.token_hex(16)
    chat.save(update_fields=["member_list", "member_version"])
    row = callback_emit(
        corp_id=chat.corp_id,
        event="change_external_chat",
        change_type="update",
        fields={
            "ChatId": chat.chat_id,
            "UpdateDetail": "add_member",
            "JoinScene": callback_join_scene,
            "MemChangeCnt": 1,
            "MemChangeList": [entry["userid"]],
            "LastMemVer": last_version,
            "CurMemVer": chat.member_version,
        },
    )
    return row.pk


@action(
    "group_create",
    gettext_lazy("A staff member creates a customer group"),
    group=GROUPS,
    fields=[
        Field("owner", gettext_lazy("Owner (userid)")),
        Field("name", gettext_lazy("Group name"), required=False),
        Field("customers", gettext_lazy("Customers (external_userid)"), kind="list", required=False),
        Field("members", gettext_lazy("Other staff members (userid)"), kind="list", required=False),
    ],
    help=gettext_lazy("Sends change_external_chat create."),
)
@transaction.atomic
def group_create(corp_id: str, data: Json) -> Json:
    owner = _member(corp_id, _text(data, "owner"))
    name = _text(data, "name", limit=64)
    customer_ids = list(dict.fromkeys(data.get("customers") or []))
    member_ids = [u for u in dict.fromkeys(data.get("members") or []) if u != owner.userid]
    if 1 + len(customer_ids) + len(member_ids) > GROUP_SIZE_LIMIT:
        raise PlayerError(_("A group holds at most %(limit)s people.") % {"limit": GROUP_SIZE_LIMIT})
    contacts = {
        c.external_userid: c
        for c in SandboxExternalContact.objects.filter(corp_id=corp_id, external_userid__in=customer_ids)
    }
    members = {
        m.userid: m
        for m in SandboxMember.objects.filter(corp_id=corp_id, userid__in=member_ids, status=MEMBER_ACTIVE)
    }
    missing = [i for i in customer_ids if i not in contacts] + [u for u in member_ids if u not in members]
    if missing:
        raise PlayerError(_("Unknown people: %(ids)s.") % {"ids": ", ".join(missing)})
    now = sandbox_time()
    member_list = [_staff_entry(owner, join_scene=JOIN_INVITED, invitor="", now=now)]
    member_list += [
        _staff_entry(members[u], join_scene=JOIN_INVITED, invitor=owner.userid, now=now) for u in member_ids
    ]
    member_list += [
        _external_entry(contacts[i], join_scene=JOIN_INVITED, invitor=owner.userid, now=now)
        for i in customer_ids
    ]
    chat = SandboxGroupChat.objects.create(
        corp_id=corp_id,
        chat_id="wr" + secrets.token_hex(15),
        name=name,
        owner=owner.userid,
        create_time=now,
        member_list=member_list,
        admin_list=[],
        member_version=secrets.token_hex(16),
    )
    row = callback_emit(
        corp_id=corp_id, event="change_external_chat", change_type="create", fields={"ChatId": chat.chat_id}
    )
    return {"chat_id": chat.chat_id, "members": len(member_list), "callback": row.pk}


@action(
    "group_join",
    gettext_lazy("A customer joins a group on a member's invitation"),
    group=GROUPS,
    fields=[
        Field("chat_id", gettext_lazy("Group (chat_id)")),
        Field(
            "external_userid",
            gettext_lazy("Customer (external_userid)"),
            required=False,
            help=gettext_lazy("Leave empty for a new WeChat user who is nobody's contact yet."),
        ),
        Field("name", gettext_lazy("New user's WeChat name"), required=False),
        Field(
            "invitor",
            gettext_lazy("Invited by (userid)"),
            required=False,
            help=gettext_lazy("Defaults to the owner."),
        ),
        Field("via_link", gettext_lazy("Through an invite link"), kind="bool", required=False, default=False),
    ],
    help=gettext_lazy("Sends change_external_chat update add_member with JoinScene 0."),
)
@transaction.atomic
def group_join(corp_id: str, data: Json) -> Json:
    chat = _chat(corp_id, _text(data, "chat_id"))
    invitor = _member(corp_id, _text(data, "invitor") or chat.owner, active=False)
    if not any(m["userid"] == invitor.userid for m in chat.member_list):
        raise PlayerError(_("%(userid)s is not in the group and cannot invite.") % {"userid": invitor.userid})
    external_userid = _text(data, "external_userid")
    if external_userid:
        contact = _contact(corp_id, external_userid)
    else:
        contact = _new_wechat_user(corp_id, _text(data, "name", limit=64))
    entry = _external_entry(
        contact,
        join_scene=JOIN_INVITE_LINK if data.get("via_link") else JOIN_INVITED,
        invitor=invitor.userid,
        now=sandbox_time(),
    )
    row_id = group_member_add(chat=chat, entry=entry, callback_join_scene=CALLBACK_JOIN_BY_MEMBER)
    return {"chat_id": chat.chat_id, "external_userid": contact.external_userid, "callback": row_id}


@action(
    "group_quit",
    gettext_lazy("A customer quits a group, or is removed"),
    group=GROUPS,
    fields=[
        Field("chat_id", gettext_lazy("Group (chat_id)")),
        Field("member", gettext_lazy("Who leaves (external_userid or userid)")),
        Field(
            "removed",
            gettext_lazy("Removed by the owner or an admin"),
            kind="bool",
            required=False,
            default=False,
        ),
    ],
    help=gettext_lazy("Sends change_external_chat update del_member with QuitScene 0 (left) or 1 (removed)."),
)
@transaction.atomic
def group_quit(corp_id: str, data: Json) -> Json:
    chat = _chat(corp_id, _text(data, "chat_id"))
    who = _text(data, "member")
    if not who:
        raise PlayerError(_("Say who leaves the group."))
    if who == chat.owner:
        raise PlayerError(_("The owner cannot leave; dismiss the group instead."))
    remaining = [m for m in chat.member_list if m["userid"] != who]
    if len(remaining) == len(chat.member_list):
        raise PlayerError(_("%(id)s is not in group %(chat)s.") % {"id": who, "chat": chat.chat_id})
    last_version = chat.member_version
    chat.member_list = remaining
    chat.admin_list = [a for a in chat.admin_list if a.get("userid") != who]
    chat.member_version = secrets.token_hex(16)
    chat.save(update_fields=["member_list", "admin_list", "member_version"])
    row = callback_emit(
        corp_id=corp_id,
        event="change_external_chat",
        change_type="update",
        fields={
            "ChatId": chat.chat_id,
            "UpdateDetail": "del_member",
            "QuitScene": QUIT_REMOVED if data.get("removed") else QUIT_SELF,
            "MemChangeCnt": 1,
            "MemChangeList": [who],
            "LastMemVer": last_version,
            "CurMemVer": chat.member_version,
        },
    )
    return {"chat_id": chat.chat_id, "member": who, "callback": row.pk}


@action(
    "group_rename",
    gettext_lazy("A group is renamed"),
    group=GROUPS,
    fields=[Field("chat_id", gettext_lazy("Group (chat_id)")), Field("name", gettext_lazy("New name"))],
    help=gettext_lazy("Sends change_external_chat update change_name."),
)
@transaction.atomic
def group_rename(corp_id: str, data: Json) -> Json:
    chat = _chat(corp_id, _text(data, "chat_id"))
    name = _text(data, "name", limit=64)
    if not name:
        raise PlayerError(_("A group name is required."))
    chat.name = name
    chat.save(update_fields=["name"])
    row = callback_emit(
        corp_id=corp_id,
        event="change_external_chat",
        change_type="update",
        fields={"ChatId": chat.chat_id, "UpdateDetail": "change_name"},
    )
    return {"chat_id": chat.chat_id, "name": name, "callback": row.pk}


@action(
    "group_dismiss",
    gettext_lazy("The owner dismisses a group"),
    group=GROUPS,
    fields=[Field("chat_id", gettext_lazy("Group (chat_id)"))],
    help=gettext_lazy("Sends change_external_chat dismiss; groupchat/get then answers 90501."),
)
@transaction.atomic
def group_dismiss(corp_id: str, data: Json) -> Json:
    chat = _chat(corp_id, _text(data, "chat_id"))
    chat_id = chat.chat_id
    chat.delete()
    row = callback_emit(
        corp_id=corp_id, event="change_external_chat", change_type="dismiss", fields={"ChatId": chat_id}
    )
    return {"chat_id": chat_id, "callback": row.pk}


# --- the address book and corp tags -----------------------------------------------------------------


@action(
    "member_join",
    gettext_lazy("A new staff member joins the address book"),
    group=ADDRESS_BOOK,
    fields=[
        Field("name", gettext_lazy("Name")),
        Field("userid", gettext_lazy("userid"), required=False, help=gettext_lazy("Generated when empty.")),
        Field("department", gettext_lazy("Department id"), kind="int", required=False, default=1),
        Field("position", gettext_lazy("Position"), required=False),
    ],
    help=gettext_lazy("Sends change_contact create_user."),
)
@transaction.atomic
def member_join(corp_id: str, data: Json) -> Json:
    name = _text(data, "name", limit=64)
    if not name:
        raise PlayerError(_("A name is required."))
    userid = _text(data, "userid", limit=64) or "user" + secrets.token_hex(4)
    department = int(data.get("department") or 1)
    if not SandboxDepartment.objects.filter(corp_id=corp_id, dept_id=department).exists():
        raise PlayerError(_("No department %(id)s in corp %(corp)s.") % {"id": department, "corp": corp_id})
    if SandboxMember.objects.filter(corp_id=corp_id, userid=userid).exists():
        raise PlayerError(_("userid %(userid)s is taken.") % {"userid": userid})
    position = _text(data, "position", limit=128)
    member = SandboxMember.objects.create(
        corp_id=corp_id,
        userid=userid,
        name=name,
        departments=[department],
        main_department=department,
        position=position,
        status=MEMBER_ACTIVE,
    )
    row = callback_emit(
        corp_id=corp_id,
        event="change_contact",
        change_type="create_user",
        fields={
            "UserID": member.userid,
            "Name": member.name,
            "Department": str(department),
            "MainDepartment": department,
            "Position": position,
            "Gender": member.gender,
            "Status": MEMBER_ACTIVE,
        },
    )
    return {"userid": member.userid, "name": member.name, "callback": row.pk}


@action(
    "member_resign",
    gettext_lazy("A staff member resigns"),
    group=ADDRESS_BOOK,
    fields=[Field("userid", gettext_lazy("Staff member (userid)"))],
    help=gettext_lazy(
        "Status 5 with a dimission time; their customers await a resigned transfer and their groups "
        "inheritance. Sends change_contact delete_user, as when the admin removes the member."
    ),
)
@transaction.atomic
def member_resign(corp_id: str, data: Json) -> Json:
    member = _member(corp_id, _text(data, "userid"))
    member.status = MEMBER_QUIT
    member.dimission_time = sandbox_time()
    member.save(update_fields=["status", "dimission_time"])
    # Their groups wait for inheritance (groupchat/list status_filter 1, WECOM.md §6.1).
    groups = SandboxGroupChat.objects.filter(corp_id=corp_id, owner=member.userid, status=0).update(status=1)
    row = callback_emit(
        corp_id=corp_id, event="change_contact", change_type="delete_user", fields={"UserID": member.userid}
    )
    return {
        "userid": member.userid,
        "customers": SandboxFollow.objects.filter(member=member).count(),
        "groups": groups,
        "callback": row.pk,
    }


@action(
    "corp_tag_create_in_console",
    gettext_lazy("An admin creates corp tags in WeCom's console"),
    group=ADDRESS_BOOK,
    fields=[
        Field(
            "group_name",
            gettext_lazy("Tag group"),
            help=gettext_lazy("An existing group's name, or a new group."),
        ),
        Field("tags", gettext_lazy("Tag names"), kind="list"),
    ],
    help=gettext_lazy("Sends change_external_tag create: one for a new group, else one per tag."),
)
@transaction.atomic
def corp_tag_create_in_console(corp_id: str, data: Json) -> Json:
    group_name = _text(data, "group_name", limit=TAG_NAME_MAX)
    names = [str(n).strip() for n in data.get("tags") or [] if str(n).strip()]
    if not group_name or not names:
        raise PlayerError(_("A group name and at least one tag name are required."))
    if any(len(n) > TAG_NAME_MAX for n in names):
        raise PlayerError(_("Tag names are at most %(limit)s characters.") % {"limit": TAG_NAME_MAX})
    if len(set(names)) != len(names):
        raise PlayerError(_("A tag name is given twice."))
    live = SandboxTag.objects.filter(group__corp_id=corp_id, deleted=False)
    if live.count() + len(names) > CORP_TAG_LIMIT:
        raise PlayerError(_("A corp has at most %(limit)s tags.") % {"limit": CORP_TAG_LIMIT})
    now = sandbox_time()
    group = SandboxTagGroup.objects.filter(corp_id=corp_id, name=group_name, deleted=False).first()
    new_group = group is None
    if new_group:
        group = SandboxTagGroup.objects.create(
            corp_id=corp_id, group_id="et" + secrets.token_hex(15), name=group_name, create_time=now
        )
    else:
        taken = set(live.filter(group=group, name__in=names).values_list("name", flat=True))
        if taken:
            raise PlayerError(_("Already in the group: %(names)s.") % {"names": ", ".join(sorted(taken))})
    tags = SandboxTag.objects.bulk_create(
        SandboxTag(group=group, tag_id="et" + secrets.token_hex(15), name=n, create_time=now) for n in names
    )
    emitted = [("tag_group", group.group_id)] if new_group else [("tag", t.tag_id) for t in tags]
    rows = [
        callback_emit(
            corp_id=corp_id,
            event="change_external_tag",
            change_type="create",
            fields={"Id": item_id, "TagType": tag_type},
        ).pk
        for tag_type, item_id in emitted
    ]
    return {"group_id": group.group_id, "tag_ids": [t.tag_id for t in tags], "callbacks": rows}


# --- the clock --------------------------------------------------------------------------------------


@action(
    "advance_time",
    gettext_lazy("Time passes"),
    group=CLOCK,
    fields=[Field("seconds", gettext_lazy("Seconds"), kind="int", help=gettext_lazy("86400 is a day."))],
    help=gettext_lazy("Moves the sandbox's clock forward: welcome codes expire, transfers complete."),
)
@transaction.atomic
def advance_time(corp_id: str, data: Json) -> Json:
    seconds = int(data.get("seconds") or 0)
    if not 1 <= seconds <= ADVANCE_MAX_SECONDS:
        raise PlayerError(_("seconds must be between 1 and %(max)s.") % {"max": ADVANCE_MAX_SECONDS})
    offset = clock_advance(seconds)
    return {"offset_seconds": offset, "now": sandbox_time()}
