"""What group live codes do when a customer group changes (WECOM.md §12.3).

Registered at ``ORDER_CAMPAIGNS``: the groups app's handlers of the same event have already
fetched the chat and stored its members and ``member_count``. These handlers only update rows
under conditions (a seat still open becomes full, a seat not gone becomes gone) and queue the
code's refresh after commit, where the WeCom calls happen. A retried callback finds the rows
already changed and queues nothing new; a refresh that runs twice finds nothing to write.

- ``add_member``: a group that reached its code's cap is rotated out of the join way; members who
  joined with a code's ``state`` a group the code does not hold reveal a group WeCom opened for
  the code, which is adopted.
- ``create``: a group named after a code's ``room_base_name`` may be one WeCom just opened.
- ``dismiss``: the group leaves its codes.
"""

from __future__ import annotations

from scrm.wecom.events import ORDER_CAMPAIGNS, CallbackEvent, register

from ..services.groupcodes import (
    groupcode_adoption_candidates,
    groupcode_groups_filled,
    groupcode_groups_gone,
    groupcode_refresh_enqueue,
)

CHAT = "change_external_chat"


@register(CHAT, "update", order=ORDER_CAMPAIGNS)
def chat_updated(event: CallbackEvent) -> None:
    if not event.chat_id or event.update_detail != "add_member":
        return
    filled = groupcode_groups_filled(chat_id=event.chat_id)
    groupcode_refresh_enqueue(code_ids=filled)
    if event.mem_change_list:
        owners = groupcode_adoption_candidates(chat_id=event.chat_id, member_ids=event.mem_change_list)
        groupcode_refresh_enqueue(code_ids=owners, adopt=True)


@register(CHAT, "create", order=ORDER_CAMPAIGNS)
def chat_created(event: CallbackEvent) -> None:
    if event.chat_id:
        owners = groupcode_adoption_candidates(chat_id=event.chat_id)
        groupcode_refresh_enqueue(code_ids=owners, adopt=True)


@register(CHAT, "dismiss", order=ORDER_CAMPAIGNS)
def chat_dismissed(event: CallbackEvent) -> None:
    if event.chat_id:
        groupcode_refresh_enqueue(code_ids=groupcode_groups_gone(chat_id=event.chat_id))
