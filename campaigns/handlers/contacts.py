"""What campaigns do when a customer adds a staff member (WECOM.md §12.2).

Runs after the customers handler of the same event, so the customer and the follow exist. It
only writes rows, each under a unique key, and leaves every WeCom call to tasks on the
``realtime`` queue enqueued after commit: a retried callback finds its rows written and enqueues
nothing new, and no transaction stays open across a WeCom request.

1. ``livecode_add_record``: the add is counted into the staff member's day and attributed to the
   live code named by ``State``; the code's auto tags, remark and description are applied, and
   the pools the staff member is in are reviewed when the count filled a cap.
2. ``welcome_schedule``: the welcome message is chosen and its send is queued, when WeCom gave a
   welcome code (no code: the admin configured one in WeCom's console, or the chat had begun).
"""

from __future__ import annotations

import logging

from customers.models import Follow
from customers.wecom import wecom_time
from scrm.wecom.events import ORDER_CAMPAIGNS, CallbackEvent, register

from ..services.livecodes import livecode_add_record
from ..services.welcome import welcome_schedule

logger = logging.getLogger(__name__)

CONTACT = "change_external_contact"


@register(CONTACT, "add_external_contact", order=ORDER_CAMPAIGNS)
@register(CONTACT, "add_half_external_contact", order=ORDER_CAMPAIGNS)
def contact_added(event: CallbackEvent) -> None:
    follow = (
        Follow.objects.select_related("customer", "staff")
        .filter(customer__external_userid=event.external_user_id, staff__userid=event.user_id)
        .first()
    )
    if follow is None or follow.status != Follow.Status.ACTIVE:
        # The customers handler found no such relationship in WeCom (deleted again already).
        logger.info("add of %s by %s: no active follow", event.external_user_id, event.user_id)
        return
    received_at = wecom_time(event.create_time)
    live_code = livecode_add_record(follow=follow, state=event.state, added_at=follow.added_at)
    if event.welcome_code:
        welcome_schedule(
            follow=follow, live_code=live_code, welcome_code=event.welcome_code, received_at=received_at
        )
