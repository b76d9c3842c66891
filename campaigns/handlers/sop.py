"""Customer SOPs on an add (WECOM.md §12.2): the channel and live code triggers.

Runs after the customers handler of the same event, so the customer and the follow exist. The
enrolment is keyed by the rule's unique constraints, so a retried callback enrols no one twice;
the steps count from the add's time as WeCom stamped it, which a retry repeats.
"""

from __future__ import annotations

from django.utils import timezone

from customers.models import Follow
from customers.wecom import wecom_time
from scrm.wecom.events import ORDER_CAMPAIGNS, CallbackEvent, register

from ..services.sop import sop_follow_added

CONTACT = "change_external_contact"


@register(CONTACT, "add_external_contact", order=ORDER_CAMPAIGNS)
@register(CONTACT, "add_half_external_contact", order=ORDER_CAMPAIGNS)
def sop_contact_added(event: CallbackEvent) -> None:
    follow = (
        Follow.objects.filter(
            customer__external_userid=event.external_user_id,
            staff__userid=event.user_id,
            status=Follow.Status.ACTIVE,
        )
        .only("id", "customer_id", "staff_id", "state", "added_at")
        .first()
    )
    if follow is None:
        return
    added_at = wecom_time(event.create_time) if event.create_time else follow.added_at
    sop_follow_added(follow=follow, state=event.state or follow.state, added_at=added_at, now=timezone.now())
