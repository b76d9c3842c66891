"""``change_contact`` callbacks (WECOM.md §12.4): members and departments changed in WeCom.

Each handler re-reads WeCom's current state (``user/get``, ``department/list``) instead of
trusting the callback's fields, and writes through the functions the sync uses, so an event
delivered twice, or crossing a sync, ends in the same rows. A transient WeCom error propagates:
the inbox records it and the task retries with backoff.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from django.utils import timezone

from scrm.wecom import errors
from scrm.wecom.client import wecom_client
from scrm.wecom.events import CallbackEvent

from .models import Staff
from .sync import department_delete, departments_apply, staff_apply, staff_depart

logger = logging.getLogger(__name__)


def event_time(event: CallbackEvent) -> datetime:
    """When WeCom says the change happened (``CreateTime``), or now when it did not say."""
    return datetime.fromtimestamp(event.create_time, tz=UTC) if event.create_time else timezone.now()


def member_changed(event: CallbackEvent) -> None:
    """``create_user`` / ``update_user``: upsert the member as ``user/get`` returns it now.

    ``NewUserID`` (a changed userid) renames our row first, so the member keeps their history.
    """
    old_userid = event.user_id
    userid = event.fields.get("NewUserID", "") or old_userid
    if not userid:
        return
    # WeCom is read before anything is written: on SQLite a write would hold the only write lock
    # while the call waits.
    client = wecom_client("contact")
    try:
        data = client.user_get(userid)
    except errors.UserNotFound:
        staff_depart(userids=[userid], at=event_time(event), trigger="callback")
        return
    with_contact = set(client.get_follow_user_list())
    if userid != old_userid and not Staff.objects.filter(userid=userid).exists():
        Staff.objects.filter(userid=old_userid).update(userid=userid)
    staff_apply(members=[data], contact_enabled={userid} & with_contact, trigger="callback")


def member_deleted(event: CallbackEvent) -> None:
    """``delete_user``: the member left; their follows stay for the reassignment of customers."""
    if event.user_id:
        staff_depart(userids=[event.user_id], at=event_time(event), trigger="callback")


def _party_id(event: CallbackEvent) -> int | None:
    try:
        return int(event.fields.get("Id", ""))
    except ValueError:
        return None


def party_changed(event: CallbackEvent) -> None:
    """``create_party`` / ``update_party``: upsert the department and its subtree (a move changes
    the paths below it) as ``department/list?id=`` returns them now."""
    wecom_id = _party_id(event)
    if wecom_id is None:
        return
    try:
        departments = wecom_client("contact").department_list(id=wecom_id)
    except errors.NotFound:
        return  # deleted since: its delete_party callback follows
    departments_apply(departments=departments)


def party_deleted(event: CallbackEvent) -> None:
    """``delete_party``: WeCom only deletes empty departments; ours goes too."""
    wecom_id = _party_id(event)
    if wecom_id is not None:
        department_delete(wecom_id=wecom_id)
