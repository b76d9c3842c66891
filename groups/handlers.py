"""``change_external_chat`` callbacks (WECOM.md §12.3): customer groups changed in WeCom.

A callback says that a chat changed, not the whole of how: each handler fetches the chat with
``groupchat/get`` and applies it through :func:`groups.sync.chats_apply`, which writes only the
differences and a timeline event per customer who joined or left. Member changes carry the
member-list version (``CurMemVer``): when ours already equals it the change is applied (by an
earlier delivery, or by a sync) and nothing is fetched. So the same event twice changes nothing
more.
"""

from __future__ import annotations

from datetime import UTC, datetime

from django.utils import timezone

from customers.models import CustomerEvent
from scrm.wecom.client import wecom_client
from scrm.wecom.events import CallbackEvent

from .models import GroupChat, GroupMember
from .sync import chat_fetch, chats_apply, chats_dismiss

MEMBER_CHANGES = ("add_member", "del_member")


def event_time(event: CallbackEvent) -> datetime:
    return datetime.fromtimestamp(event.create_time, tz=UTC) if event.create_time else timezone.now()


def _apply_current(event: CallbackEvent, *, quit_scene: int | None = None) -> GroupChat | None:
    """Fetch the chat as WeCom has it now and apply it; None when WeCom no longer has it."""
    chat = chat_fetch(wecom_client("contact"), event.chat_id)
    if chat is None:
        return None  # dismissed meanwhile: its dismiss callback follows
    chats_apply(chats=[chat], source=CustomerEvent.Source.WECOM, quit_scene=quit_scene, at=event_time(event))
    return GroupChat.objects.filter(chat_id=event.chat_id).first()


def chat_created(event: CallbackEvent) -> None:
    """``create``: a new customer group; its first members are joins on their timelines."""
    if event.chat_id:
        _apply_current(event)


def chat_updated(event: CallbackEvent) -> None:
    """``update``: members joined or left, or the owner, name or notice changed."""
    if not event.chat_id:
        return
    detail = event.update_detail
    if detail in MEMBER_CHANGES:
        current = event.fields.get("CurMemVer", "")
        if current and GroupChat.objects.filter(chat_id=event.chat_id, member_version=current).exists():
            return  # this member list is already ours
    quit_scene = None
    if detail == "del_member" and event.quit_scene in GroupMember.QuitScene.values:
        quit_scene = event.quit_scene
    group = _apply_current(event, quit_scene=quit_scene)
    if group is not None and detail == "change_owner":
        # A departed owner's group handed to a colleague: the inheritance is done.
        GroupChat.objects.filter(
            pk=group.pk, status__in=(GroupChat.Status.OWNER_DEPARTED, GroupChat.Status.TRANSFERRING)
        ).update(status=GroupChat.Status.TRANSFERRED)


def chat_dismissed(event: CallbackEvent) -> None:
    """``dismiss``: the group is gone in WeCom; ours is kept, marked dismissed."""
    if event.chat_id:
        chats_dismiss(chat_ids=[event.chat_id], at=event_time(event))


def owner_departed(event: CallbackEvent) -> None:
    """``change_contact`` ``delete_user``: the groups the member owned await inheritance, as
    ``groupchat/list`` will say (status 1); their members stay."""
    if event.user_id:
        GroupChat.objects.filter(owner_userid=event.user_id, status=GroupChat.Status.NORMAL).update(
            status=GroupChat.Status.OWNER_DEPARTED
        )
