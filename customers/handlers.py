"""Callback handlers for customers and corp tags (WECOM.md §12.2, §12.3).

Registered in ``CustomersConfig.ready()`` at ``ORDER_CUSTOMERS``, so that the groups and
campaigns handlers of the same event find the customer and the follow already written. Each
handler is idempotent: it refetches WeCom's current data and applies it with the bulk functions
of :mod:`customers.wecom`, which write only what differs, and it writes a timeline event only for
a change it made (or, for the ``added`` event, when that relationship has none yet).

- ``add_external_contact`` / ``add_half_external_contact``: the customer and all their follows
  (corp and personal tags) are upserted; the follow of ``UserID`` gets an ``added`` event with
  ``state``, ``add_way`` and ``welcome_code`` (for the campaigns handler; nothing is sent here).
  ``add_half`` means the customer added a member who skips verification and has not accepted yet:
  WeCom already lists the relationship, so it is recorded the same way, with ``"half": true`` in
  the payload; the later ``add_external_contact`` of the same relationship adds no second event.
- ``edit_external_contact``: refetch; ``tagged`` / ``untagged`` events for corp-tag changes and
  ``profile_updated`` for remark, description, remark company or mobiles.
- ``del_external_contact``: the follow ends ``deleted_by_staff``, or ``transferred`` when
  ``Source=DELETE_BY_TRANSFER``; ``del_follow_user``: ``deleted_by_customer``.
- ``transfer_fail``: a transfer of ours ends refused (or takeover full) and is handled by the job's
  policy (:func:`customers.transfers.results.transfer_fail_apply`, which writes the
  ``transfer_failed`` event); a transfer we did not start gets a ``transfer_failed`` event with
  ``FailReason``. Follow statuses stay as they are (the transfer flow owns them).
- ``change_external_tag``: create / update refetch the tag or group by id; delete marks it (a
  group with all its tags) deleted; shuffle refetches the orders.

A member we do not know yet is fetched with ``user/get``; WeCom errors propagate, so the inbox
records them and transient ones are retried.
"""

from __future__ import annotations

import logging

from django.db import connection

from scrm.wecom.client import wecom_client
from scrm.wecom.errors import UserNotFound
from scrm.wecom.events import ORDER_CUSTOMERS, CallbackEvent, register

from .models import Customer, CustomerEvent, Follow, Tag, TagGroup
from .wecom import (
    ContactsApplied,
    FollowBegun,
    added_events_write,
    contact_fetch,
    contacts_apply,
    follows_end,
    staff_ids_resolve,
    tag_events_write,
    tag_groups_apply,
    tag_map,
    tags_mark_deleted,
    unknown_tag_ids,
    wecom_time,
)

logger = logging.getLogger(__name__)

CONTACT = "change_external_contact"
TAG = "change_external_tag"
SOURCE = CustomerEvent.Source.WECOM


def _client():
    return wecom_client("contact")


def _refetch(
    external_userid: str, *, also_staff: tuple[str, ...] = ()
) -> tuple[ContactsApplied | None, dict[str, int]]:
    """Fetch one customer with all their follows and apply it.

    Returns what changed (None when WeCom has no such customer any more, e.g. deleted again
    before we got here) and our Staff ids of the members involved, ``also_staff`` included.
    Every WeCom request comes before the first write: SQLite has a single writer, and the
    sandbox answering those requests records each call in the same database.
    """
    client = _client()
    entries = contact_fetch(client, external_userid)
    userids = {e.follow.get("userid", "") for e in entries} | set(also_staff)
    corp_tags = {t for e in entries for t in e.corp_tag_ids}
    if connection.vendor == "sqlite":
        # SQLite refuses a write from a transaction whose reads predate another writer's commit,
        # and the sandbox commits its call record on every request: every request comes before
        # the first read, at the price of fetching members and tags we may know already.
        users = {userid: _user_or_none(client, userid) for userid in sorted(userids) if userid}
        groups = client.get_corp_tag_list(tag_id=sorted(corp_tags)) if corp_tags else []
        fetch = users.get
        tags = tag_map()
    else:
        tags = tag_map()
        unknown = unknown_tag_ids(corp_tags, tags)
        groups = client.get_corp_tag_list(tag_id=unknown) if unknown else []
        fetch = client.user_get
    staff_ids = staff_ids_resolve(userids, fetch=fetch)
    if groups:
        tag_groups_apply(groups, prune=False)
        tags = tag_map()
    if not entries:
        return None, staff_ids
    return contacts_apply(entries, staff_ids=staff_ids, tags=tags), staff_ids


def _user_or_none(client, userid: str):
    try:
        return client.user_get(userid)
    except UserNotFound:
        return None


def _follow_of(done: ContactsApplied, staff_ids: dict[str, int], event: CallbackEvent) -> int | None:
    customer_id = done.customer_ids.get(event.external_user_id)
    staff_id = staff_ids.get(event.user_id)
    if customer_id is None or staff_id is None:
        return None
    return done.follow_ids.get((customer_id, staff_id))


@register(CONTACT, "add_external_contact", order=ORDER_CUSTOMERS)
@register(CONTACT, "add_half_external_contact", order=ORDER_CUSTOMERS)
def contact_added(event: CallbackEvent) -> None:
    done, staff_ids = _refetch(event.external_user_id)
    if done is None:
        logger.info("add of %s by %s: no longer in WeCom", event.external_user_id, event.user_id)
        return
    follow_id = _follow_of(done, staff_ids, event)
    if follow_id is None:
        logger.warning(
            "add of %s by %s: WeCom does not list this pair", event.external_user_id, event.user_id
        )
        return
    follow = Follow.objects.select_related("staff").get(pk=follow_id)
    this = FollowBegun(
        follow_id=follow.pk,
        customer_id=follow.customer_id,
        staff_id=follow.staff_id,
        added_at=follow.added_at,
        state=event.state or follow.state,
        add_way=follow.add_way,
        userid=follow.staff.userid,
    )
    extra = {
        "welcome_code": event.welcome_code,
        "half": event.change_type == "add_half_external_contact",
        "occurred_at": wecom_time(event.create_time),
    }
    # Other relationships of the customer that we had missed are adds seen late.
    others = [b for b in done.begun if b.follow_id != follow.pk]
    added_events_write([*others, this], source=SOURCE, extra={follow.pk: extra})


@register(CONTACT, "edit_external_contact", order=ORDER_CUSTOMERS)
def contact_edited(event: CallbackEvent) -> None:
    done, staff_ids = _refetch(event.external_user_id)
    if done is None:
        return
    when = wecom_time(event.create_time)
    # A relationship we had missed entirely is an add seen late.
    added_events_write(done.begun, source=SOURCE)
    follow_id = _follow_of(done, staff_ids, event)
    if follow_id is None:
        return
    tag_events_write(done, follow_ids=[follow_id], source=SOURCE, when=when)
    changes = done.profile_changes.get(follow_id)
    if changes:
        follow = Follow.objects.get(pk=follow_id)
        CustomerEvent.objects.create(
            customer_id=follow.customer_id,
            staff_id=follow.staff_id,
            type=CustomerEvent.Type.PROFILE_UPDATED,
            occurred_at=when,
            source=SOURCE,
            payload={"userid": event.user_id, "changes": changes},
        )


_ENDINGS = {
    "del_external_contact": (Follow.Status.DELETED_BY_STAFF, CustomerEvent.Type.DELETED_BY_STAFF),
    "del_follow_user": (Follow.Status.DELETED_BY_CUSTOMER, CustomerEvent.Type.DELETED_BY_CUSTOMER),
}


@register(CONTACT, "del_external_contact", order=ORDER_CUSTOMERS)
@register(CONTACT, "del_follow_user", order=ORDER_CUSTOMERS)
def contact_deleted(event: CallbackEvent) -> None:
    status, event_type = _ENDINGS[event.change_type]
    if event.change_type == "del_external_contact" and event.source == "DELETE_BY_TRANSFER":
        status, event_type = Follow.Status.TRANSFERRED, CustomerEvent.Type.TRANSFERRED
    when = wecom_time(event.create_time)
    follow = (
        Follow.objects.select_for_update()
        .filter(customer__external_userid=event.external_user_id, staff__userid=event.user_id)
        .first()
    )
    if follow is None:
        # We never saw this relationship begin; there is nothing to end.
        logger.info(
            "%s of %s by %s: unknown follow", event.change_type, event.external_user_id, event.user_id
        )
        return
    if when < follow.added_at:
        return  # an old deletion arriving after the pair was added again
    if follow.status == Follow.Status.GONE:
        # The sync saw it end without a cause; the callback tells the cause.
        follow.status = Follow.Status.ACTIVE
        follow.save(update_fields=["status"])
    payload = {"source": event.source} if event.source else {}
    follows_end(
        follow_ids=[follow.pk],
        status=status,
        when=when,
        event_type=event_type,
        source=SOURCE,
        payload=payload,
    )


@register(CONTACT, "transfer_fail", order=ORDER_CUSTOMERS)
def transfer_failed(event: CallbackEvent) -> None:
    # Refetched even when known: the customer may be new to us, and every WeCom request must
    # come before the first read on SQLite (see _refetch).
    done, staff_ids = _refetch(event.external_user_id, also_staff=(event.user_id,))
    customer_id = (
        done.customer_ids.get(event.external_user_id)
        if done
        else Customer.objects.filter(external_userid=event.external_user_id)
        .values_list("id", flat=True)
        .first()
    )
    if customer_id is None:
        logger.warning("transfer_fail for %s: customer unknown to us and to WeCom", event.external_user_id)
        return
    staff_id = staff_ids.get(event.user_id)
    when = wecom_time(event.create_time)
    # Our own transfer: the item ends and the policy handles it, with its timeline event; a
    # second delivery, or a failure the results poll saw first, changes nothing.
    from .transfers.results import transfer_fail_apply

    if transfer_fail_apply(
        external_userid=event.external_user_id,
        takeover_userid=event.user_id,
        reason=event.fail_reason,
        when=when,
    ):
        return
    CustomerEvent.objects.get_or_create(
        customer_id=customer_id,
        staff_id=staff_id,
        type=CustomerEvent.Type.TRANSFER_FAILED,
        occurred_at=when,
        defaults={
            "source": SOURCE,
            "payload": {"userid": event.user_id, "fail_reason": event.fail_reason},
        },
    )


# --- corp tags ------------------------------------------------------------------------------------


@register(TAG, "create", order=ORDER_CUSTOMERS)
@register(TAG, "update", order=ORDER_CUSTOMERS)
def corp_tag_changed(event: CallbackEvent) -> None:
    if not event.tag_id:
        return
    client = _client()
    if event.tag_type == "tag_group":
        groups = client.get_corp_tag_list(group_id=[event.tag_id])
    else:
        groups = client.get_corp_tag_list(tag_id=[event.tag_id])
    if groups:
        tag_groups_apply(groups, prune=False)
    else:  # deleted again before we fetched it
        corp_tag_deleted(event)


@register(TAG, "delete", order=ORDER_CUSTOMERS)
def corp_tag_deleted(event: CallbackEvent) -> None:
    if event.tag_type == "tag_group":
        groups = list(TagGroup.objects.filter(wecom_id=event.tag_id).values_list("pk", flat=True))
        tags_mark_deleted(group_ids=groups)
    else:
        tags_mark_deleted(
            tag_ids=list(Tag.objects.filter(wecom_id=event.tag_id).values_list("pk", flat=True))
        )
        # WeCom deletes a group whose last tag is deleted, without a callback of its own.
        TagGroup.objects.filter(tags__wecom_id=event.tag_id, deleted=False).exclude(
            tags__deleted=False
        ).update(deleted=True)


@register(TAG, "shuffle", order=ORDER_CUSTOMERS)
def corp_tags_shuffled(event: CallbackEvent) -> None:
    client = _client()
    groups = client.get_corp_tag_list(group_id=[event.tag_id]) if event.tag_id else client.get_corp_tag_list()
    tag_groups_apply(groups, prune=False)
