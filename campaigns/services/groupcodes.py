"""Group live codes: the join way over a code's groups, rotation of full groups, adoption of the
groups WeCom opens by itself.

The join way lists the first 5 open groups of the code, in the code's order (:func:`_plan`).
WeCom writes are made only when that list (or the way's settings) differs from what WeCom holds,
never inside a transaction (on SQLite the sandbox records its calls in the same database, and on
any database a transaction must not wait on WeCom). Rotation and adoption run in tasks on the
``realtime`` queue, enqueued by the ``change_external_chat`` handlers after commit; both are safe
to run twice, since they compare before they write.

When every group of a code is full, the way keeps the groups WeCom holds: they fill on to WeCom's
own scan-join limit (200 people), where WeCom opens a group named after ``room_base_name`` if
``auto_create_room`` is on; that group is adopted into the code (:func:`groupcode_refresh` with
``adopt``), reading the way's ``chat_id_list`` with ``get_join_way``.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max, Q
from django.utils import timezone
from django.utils.translation import gettext as _

from groups.models import GroupChat
from groups.sync import chat_fetch, chats_apply
from scrm.wecom import errors
from scrm.wecom.client import wecom_client

from ..models import JOIN_WAY_MAX_CHATS, Channel, GroupCode, GroupCodeChat

logger = logging.getLogger(__name__)

SCENE_QR = 2
STATE_MAX = 30
Status = GroupCodeChat.Status


@dataclass(frozen=True)
class GroupCodeEntry:
    """One group of a code as the admin or the API gives it: the order is the list's order.

    ``status`` None keeps the group's current status (open for a new one); ``full`` and ``gone``
    take it out of the QR; ``waiting`` or ``live`` reopen a full group.
    """

    group: GroupChat
    status: str | None = None


def _wecom_message(error: errors.WecomError) -> str:
    return _("WeCom refused the join way: %(error)s") % {"error": error}


def _statuses(seats: Sequence[GroupCodeChat], *, cap: int, now) -> None:
    """Mark the seats whose group filled or was dismissed (in memory)."""
    for seat in seats:
        if seat.group.status == GroupChat.Status.DISMISSED:
            seat.status = Status.GONE
        elif seat.is_open and seat.group.member_count >= cap:
            seat.status = Status.FULL
            seat.full_at = seat.full_at or now


def _plan(seats: Sequence[GroupCodeChat], *, in_wecom: Sequence[str]) -> list[str]:
    """The chat ids the join way should list, and each seat's live/waiting status (in memory).

    The first 5 open groups in the code's order; when none is open, the groups WeCom holds that
    still exist (they fill on to WeCom's own limit, where WeCom opens a new group), else the last
    5 full ones.
    """
    open_seats = [s for s in seats if s.is_open]
    chosen = open_seats[:JOIN_WAY_MAX_CHATS]
    for seat in open_seats:
        seat.status = Status.LIVE if seat in chosen else Status.WAITING
    if chosen:
        return [s.group.chat_id for s in chosen]
    by_chat = {s.group.chat_id: s for s in seats if s.status != Status.GONE}
    kept = [c for c in in_wecom if c in by_chat][:JOIN_WAY_MAX_CHATS]
    if kept:
        return kept
    return [s.group.chat_id for s in seats if s.status == Status.FULL][-JOIN_WAY_MAX_CHATS:]


def _way_config(code: GroupCode, chat_ids: Sequence[str], state: str) -> dict:
    return {
        "scene": SCENE_QR,
        "chat_id_list": list(chat_ids),
        "remark": code.name,
        "auto_create_room": code.auto_create_room,
        "room_base_name": code.room_base_name,
        "room_base_id": code.room_base_id,
        "state": state,
    }


def _state_check(*, state: str, code: GroupCode) -> str:
    state = (state or "").strip()
    if not state:
        raise ValidationError({"state": _("Give the code a state (at most 30 characters).")})
    if len(state) > STATE_MAX:
        raise ValidationError(
            {"state": _("The state is at most %(max)d characters (WeCom's limit).") % {"max": STATE_MAX}}
        )
    if channel_taken(state=state, channel_id=code.channel_id):
        raise ValidationError(
            {"state": _("The state %(state)s is already used by another code.") % {"state": state}}
        )
    return state


def channel_taken(*, state: str, channel_id: int | None = None) -> bool:
    """Whether ``state`` belongs to another live code or group code.

    A channel no code owns (made by hand for a poster, or left by a deleted code) is free: the
    code takes it over, so its earlier adds and joins stay under the same name.
    """
    owned = Q(live_code__isnull=False) | Q(group_code__isnull=False)
    taken = Channel.objects.filter(owned, state=state)
    if channel_id:
        taken = taken.exclude(pk=channel_id)
    return taken.exists()


def _seats_for(code: GroupCode, entries: Sequence[GroupCodeEntry]) -> list[GroupCodeChat]:
    if not entries:
        raise ValidationError(_("Give the code at least one group."))
    held = {s.group_id: s for s in code.chats.all()} if code.pk else {}
    seen: set[int] = set()
    seats = []
    for position, entry in enumerate(entries):
        if entry.group.pk in seen:
            raise ValidationError(_("The group %(group)s is listed twice.") % {"group": entry.group})
        seen.add(entry.group.pk)
        seat = held.get(entry.group.pk) or GroupCodeChat(code=code, group=entry.group)
        seat.group = entry.group
        seat.position = position
        if entry.status:
            seat.status = entry.status
            if entry.status != Status.FULL:
                seat.full_at = None
        seats.append(seat)
    return seats


def groupcode_save(*, code: GroupCode, state: str, entries: Sequence[GroupCodeEntry]) -> GroupCode:
    """Create or change a group code: its channel, its groups in order, and its WeCom join way.

    The join way is created (``add_join_way``) or rewritten (``update_join_way``, which WeCom
    overwrites whole) before anything is saved, so a WeCom refusal leaves nothing changed and
    comes back as a ``ValidationError`` (a form error, a 400). A way created for a code that then
    fails to save is deleted again.
    """
    state = _state_check(state=state, code=code)
    code.full_clean(exclude=["channel"])
    seats = _seats_for(code, entries)
    if not any(s.status != Status.GONE for s in seats):
        raise ValidationError(_("Every group of the code is dismissed: give it a group that exists."))
    now = timezone.now()
    _statuses(seats, cap=code.member_cap, now=now)
    chat_ids = _plan(seats, in_wecom=code.wecom_chat_ids)
    if not chat_ids:
        raise ValidationError(_("Every group of the code is dismissed: give it a group that exists."))
    config = _way_config(code, chat_ids, state)
    old = GroupCode.objects.select_related("channel").filter(pk=code.pk).first() if code.pk else None
    created_way = ""
    client = wecom_client("contact")
    try:
        if not code.config_id:
            code.config_id = created_way = client.add_join_way(**config)
            code.qr_code = client.get_join_way(code.config_id).get("qr_code", "")
        elif old is None or _way_config(old, old.wecom_chat_ids, old.state) != config:
            client.update_join_way(code.config_id, **config)
    except errors.WecomError as error:
        if created_way:
            code.config_id = ""
            _way_delete(created_way)
        raise ValidationError(_wecom_message(error)) from error
    code.wecom_chat_ids = chat_ids
    code.synced_at = now
    code.sync_error = ""
    try:
        with transaction.atomic():
            _write(code, state=state, seats=seats)
    except (IntegrityError, ValidationError):
        if created_way:
            code.config_id = ""
            _way_delete(created_way)
        raise
    return code


def _write(code: GroupCode, *, state: str, seats: list[GroupCodeChat]) -> None:
    if not code.channel_id or code.channel.state != state:
        # A new state is a new channel (or a free one taken over): the old one keeps the joins
        # already attributed to it, under its name.
        free = Channel.objects.filter(state=state).first()  # free: checked by _state_check
        code.channel = free or Channel.objects.create(state=state, name=code.name)
    code.save()
    keep = [s.group_id for s in seats]
    GroupCodeChat.objects.filter(code=code).exclude(group_id__in=keep).delete()
    for seat in seats:
        seat.code = code
    new = [s for s in seats if s.pk is None]
    existing = [s for s in seats if s.pk is not None]
    # Positions are rewritten whole: a reorder touches every row of a code (a few dozen at most).
    GroupCodeChat.objects.bulk_create(new, batch_size=500)
    GroupCodeChat.objects.bulk_update(existing, ["position", "status", "full_at"], batch_size=500)


def _way_delete(config_id: str) -> None:
    try:
        wecom_client("contact").del_join_way(config_id)
    except errors.WecomError:
        logger.warning("join way %s could not be deleted", config_id, exc_info=True)


def groupcode_delete(*, code: GroupCode) -> None:
    """Delete a code and its join way in WeCom (its QR stops working).

    The channel stays, free for another code: members who joined with its state keep their
    attribution. A way WeCom no longer has is as good as deleted; any other refusal keeps the code.
    """
    if code.config_id:
        try:
            wecom_client("contact").del_join_way(code.config_id)
        except errors.NotFound:
            pass
        except errors.WecomError as error:
            raise ValidationError(_wecom_message(error)) from error
    code.delete()


# --- rotation and adoption (tasks) ----------------------------------------------------------------


def groupcode_groups_filled(*, chat_id: str) -> list[int]:
    """Mark the seats of this group full where it reached its code's cap; return those codes' ids.

    Called by the ``add_member`` handler after the groups app stored the new member count. The
    update is conditional on the seat still being open, so WeCom's retries of the callback change
    nothing and return no code: each filling rotates once.
    """
    group = GroupChat.objects.filter(chat_id=chat_id).only("pk", "member_count").first()
    if group is None:
        return []
    seats = GroupCodeChat.objects.filter(
        group=group,
        status__in=(Status.WAITING, Status.LIVE),
        code__status=GroupCode.Status.ACTIVE,
        code__member_cap__lte=group.member_count,
    )
    code_ids = list(seats.values_list("code_id", flat=True))
    if not code_ids:
        return []
    filled = GroupCodeChat.objects.filter(
        group=group, code_id__in=code_ids, status__in=(Status.WAITING, Status.LIVE)
    ).update(status=Status.FULL, full_at=timezone.now())
    return code_ids if filled else []


def groupcode_groups_gone(*, chat_id: str) -> list[int]:
    """A group was dismissed: it leaves every code; return the codes whose join way listed it."""
    seats = GroupCodeChat.objects.filter(group__chat_id=chat_id).exclude(status=Status.GONE)
    code_ids = list(seats.values_list("code_id", flat=True))
    if code_ids:
        GroupCodeChat.objects.filter(pk__in=seats.values("pk")).update(status=Status.GONE)
    return code_ids


def groupcode_adoption_candidates(*, chat_id: str, member_ids: Sequence[str] = ()) -> list[int]:
    """Codes that may own ``chat_id`` though it is not theirs yet: a group WeCom opened itself.

    Recognised by the code's ``state`` on the members who just joined, or (on ``create``, before
    anyone joined) by a name starting with the code's ``room_base_name``. Only a candidate: the
    task confirms it with the way's ``chat_id_list``.
    """
    group = GroupChat.objects.filter(chat_id=chat_id).only("pk", "name").first()
    if group is None:
        return []
    codes = (
        GroupCode.objects.filter(status=GroupCode.Status.ACTIVE)
        .exclude(config_id="")
        .exclude(chats__group=group)
    )
    if member_ids:
        states = set(
            group.members.filter(member_id__in=list(member_ids))
            .exclude(state="")
            .values_list("state", flat=True)
        )
        if not states:
            return []
        return list(codes.filter(channel__state__in=states).values_list("pk", flat=True))
    return [
        pk
        for pk, base in codes.filter(auto_create_room=True)
        .exclude(room_base_name="")
        .values_list("pk", "room_base_name")
        if group.name.startswith(base)
    ]


def _adopt(code: GroupCode, chat_ids: Sequence[str]) -> int:
    """Add the groups WeCom listed in the way that the code does not hold yet; return how many."""
    held = set(code.chats.values_list("group__chat_id", flat=True))
    new = [c for c in chat_ids if c not in held]
    if not new:
        return 0
    known = set(GroupChat.objects.filter(chat_id__in=new).values_list("chat_id", flat=True))
    missing = [c for c in new if c not in known]
    if missing:
        client = wecom_client("contact")
        fetched = [chat for chat in (chat_fetch(client, c) for c in missing) if chat is not None]
        chats_apply(chats=fetched)
    groups = {g.chat_id: g for g in GroupChat.objects.filter(chat_id__in=new)}
    start = (code.chats.aggregate(last=Max("position"))["last"] or 0) + 1
    seats = [
        GroupCodeChat(code=code, group=groups[c], position=start + i, status=Status.LIVE, auto_created=True)
        for i, c in enumerate(c for c in new if c in groups)
    ]
    GroupCodeChat.objects.bulk_create(seats, ignore_conflicts=True)
    return len(seats)


def groupcode_refresh(*, code_id: int, adopt: bool = False) -> bool:
    """Bring a code's join way in line with its groups; return whether WeCom was written.

    With ``adopt``, first read the way (``get_join_way``): groups WeCom put in by itself (the
    groups it opened when all were full) join the code, after its others. Then the statuses are
    brought up to date (full, dismissed) and the way is rewritten if the groups it should list
    differ from what WeCom holds. Safe to run twice: the second run finds nothing to change.
    Transient WeCom errors propagate for the task to retry; others are kept on the code.
    """
    code = GroupCode.objects.select_related("channel").filter(pk=code_id).first()
    if code is None or not code.config_id:
        return False
    client = wecom_client("contact")
    try:
        if adopt:
            way = client.get_join_way(code.config_id)
            in_wecom = [str(c) for c in way.get("chat_id_list") or []]
            with transaction.atomic():
                _adopt(code, in_wecom)
                GroupCode.objects.filter(pk=code.pk).update(wecom_chat_ids=in_wecom)
            code.wecom_chat_ids = in_wecom
        if code.status != GroupCode.Status.ACTIVE:
            return False
        seats = list(code.chats.select_related("group"))
        now = timezone.now()
        _statuses(seats, cap=code.member_cap, now=now)
        chat_ids = _plan(seats, in_wecom=code.wecom_chat_ids)
        written = False
        if chat_ids and chat_ids != code.wecom_chat_ids:
            client.update_join_way(code.config_id, **_way_config(code, chat_ids, code.state))
            written = True
    except errors.TransientError:
        raise
    except errors.WecomError as error:
        logger.warning("group code %s: %s", code.pk, error)
        GroupCode.objects.filter(pk=code.pk).update(sync_error=str(error)[:2000])
        return False
    with transaction.atomic():
        GroupCodeChat.objects.bulk_update(seats, ["status", "full_at"], batch_size=500)
        if written:
            GroupCode.objects.filter(pk=code.pk).update(wecom_chat_ids=chat_ids, synced_at=now, sync_error="")
    return written


def groupcode_refresh_enqueue(*, code_ids: Sequence[int], adopt: bool = False) -> None:
    """Queue :func:`groupcode_refresh` for these codes once the current transaction commits."""
    from ..tasks.groupcodes import groupcode_refresh_task  # tasks import services

    for code_id in dict.fromkeys(code_ids):
        transaction.on_commit(
            lambda code_id=code_id: groupcode_refresh_task.apply_async(
                kwargs={"code_id": code_id, "adopt": adopt}
            )
        )
