"""The "customers" sync step: corp tags, then customers with their follows (WECOM.md §3, §4).

Runs after the org step (ORDER_ORG), so that staff exist. Every WeCom call goes through
``ctx.call`` (transient errors retried with backoff), and every write through the bulk functions
of :mod:`customers.wecom`, which write only what differs: a repeated run changes nothing.

Full mode pages ``batch/get_by_user`` for the members with customer contact, 100 members a call
and 100 rows a page, applying a few thousand rows at a time; then, per 100 members, follows we hold
active that WeCom no longer listed are ended as ``gone`` (a missed ``del`` callback). Incremental
mode lists each member's customer ids (``externalcontact/list``), ends the follows that are gone
and fetches details only for the new pairs, by whichever costs fewer calls: one
``externalcontact/get`` per new customer, or the members' ``batch/get_by_user`` pages. It does not
see edits of remarks or tags on existing pairs (callbacks carry those; the full run heals them).

Personal tags: ``batch/get_by_user`` carries corp tag ids only, so the full run leaves personal
tags as they are; they come with the callbacks and with incremental fetches, which use
``externalcontact/get``.

Only the members WeCom lists with customer contact (``get_follow_user_list``) are read; follows of
anyone else (a member who left, pending transfer) are left for the org and transfer flows.
"""

from __future__ import annotations

import logging
import math
from collections import defaultdict
from collections.abc import Iterator

from django.db import connection, transaction
from django.utils import timezone

from scrm.wecom.sync import ORDER_CUSTOMERS, SyncContext, register_sync_step

from .models import CustomerEvent, Follow
from .wecom import (
    ContactEntry,
    ContactsApplied,
    added_events_write,
    contact_fetch,
    contacts_apply,
    follows_end,
    staff_ids_resolve,
    tag_events_write,
    tag_groups_apply,
    tag_ids_ensure,
    tag_map,
)

logger = logging.getLogger(__name__)

STEP = "customers"
#: ``batch/get_by_user`` limits (WECOM.md 3.4).
STAFF_PER_CALL = 100
PAGE_SIZE = 100
#: Rows applied in one go: large enough that queries are few, small enough to stay light in memory.
APPLY_ROWS = 4000
#: What a run reports in ``ctx.counts["customers"]`` (all present, zero when nothing happened).
COUNTERS = (
    "tags_created",
    "tags_updated",
    "tags_deleted",
    "staff",
    "customers_created",
    "customers_updated",
    "follows_created",
    "follows_updated",
    "follows_closed",
    "new_pairs",
    "skipped",
    "events",
)


@register_sync_step(STEP, order=ORDER_CUSTOMERS)
def customers_sync(ctx: SyncContext) -> None:
    """Sync corp tags, then customers and follows, in ``ctx.mode``."""
    for what in COUNTERS:
        ctx.count(STEP, what, 0)
    corp_tags_sync(ctx)
    userids = ctx.call(ctx.client.get_follow_user_list)
    staff_ids = staff_ids_resolve(userids, fetch=lambda u: ctx.call(ctx.client.user_get, u))
    userids = [u for u in userids if u in staff_ids]
    ctx.count(STEP, "staff", len(userids))
    applier = _Applier(ctx, staff_ids)
    chunks = [userids[i : i + STAFF_PER_CALL] for i in range(0, len(userids), STAFF_PER_CALL)]
    ctx.progress(STEP, 0, len(userids))
    done = 0
    for chunk in chunks:
        if ctx.mode == "full":
            _full_chunk(ctx, applier, chunk)
        else:
            _incremental_chunk(ctx, applier, chunk)
        done += len(chunk)
        ctx.progress(STEP, done, len(userids))


def corp_tags_sync(ctx: SyncContext) -> None:
    """All corp tag groups and tags; those WeCom no longer lists are marked deleted."""
    applied = tag_groups_apply(ctx.call(ctx.client.get_corp_tag_list), prune=True)
    ctx.count(STEP, "tags_created", applied.created)
    ctx.count(STEP, "tags_updated", applied.updated)
    ctx.count(STEP, "tags_deleted", applied.deleted)


class _Applier:
    """Buffers WeCom rows and applies them in bulk, writing the sync's timeline events."""

    def __init__(self, ctx: SyncContext, staff_ids: dict[str, int]) -> None:
        self.ctx = ctx
        self.staff_ids = staff_ids
        self.tags = tag_map()
        self.buffer: list[ContactEntry] = []
        #: Follow ids WeCom listed, kept per chunk of members for the reconciliation.
        self.seen: set[int] = set()
        #: Userids WeCom does not know as members (60111): not asked again in this run.
        self.not_members: set[str] = set()

    def add(self, entries: list[ContactEntry]) -> None:
        self.buffer += entries
        if len(self.buffer) >= APPLY_ROWS:
            self.flush()

    def flush(self) -> None:
        entries, self.buffer = self.buffer, []
        if not entries:
            return
        tag_ids_ensure(
            (t for e in entries for t in e.corp_tag_ids),
            self.tags,
            fetch=lambda ids: self.ctx.call(self.ctx.client.get_corp_tag_list, tag_id=ids),
        )
        unknown = {e.follow.get("userid", "") for e in entries} - self.staff_ids.keys() - self.not_members
        if unknown:  # members outside the chunk, in externalcontact/get answers
            self.staff_ids.update(
                staff_ids_resolve(unknown, fetch=lambda u: self.ctx.call(self.ctx.client.user_get, u))
            )
            self.not_members |= unknown - self.staff_ids.keys()
        with transaction.atomic():  # the rows and their timeline events, or neither
            if connection.vendor == "postgresql":
                # A commit lost in a crash is redone by the next run (the step is idempotent), so
                # the bulk writes need not wait for the WAL flush.
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL synchronous_commit TO OFF")
            done = contacts_apply(entries, staff_ids=self.staff_ids, tags=self.tags)
            self._record(done)
        self.seen.update(done.follow_ids.values())

    def _record(self, done: ContactsApplied) -> None:
        ctx = self.ctx
        begun = {b.follow_id for b in done.begun}
        events = added_events_write(done.begun, source=CustomerEvent.Source.SYNC)
        # Tag changes on follows we already had heal missed "edit" callbacks; a new follow's
        # tags are part of its "added" story, not separate events.
        old = (done.tags_added.keys() | done.tags_removed.keys()) - begun
        events += tag_events_write(done, follow_ids=old, source=CustomerEvent.Source.SYNC)
        for what in (
            "customers_created",
            "customers_updated",
            "follows_created",
            "follows_updated",
            "skipped",
        ):
            ctx.count(STEP, what, getattr(done, what))
        ctx.count(STEP, "events", events)


def _pages(ctx: SyncContext, userids: list[str]) -> Iterator[list[ContactEntry]]:
    cursor = ""
    while True:
        page = ctx.call(ctx.client.batch_get_by_user, userids, cursor=cursor, limit=PAGE_SIZE)
        yield [ContactEntry.from_batch(item) for item in page.get("external_contact_list") or ()]
        cursor = page.get("next_cursor") or ""
        if not cursor:
            return


def _end_gone(ctx: SyncContext, follow_ids: list[int], *, started) -> None:
    """End follows WeCom no longer lists; ``started`` guards the ones a callback touched since we
    began reading (a customer added during the run must not be taken for gone)."""
    fresh = set(
        Follow.objects.filter(pk__in=follow_ids, updated_at__gte=started).values_list("pk", flat=True)
    )
    ended = follows_end(
        follow_ids=[f for f in follow_ids if f not in fresh],
        status=Follow.Status.GONE,
        when=timezone.now(),
        event_type=CustomerEvent.Type.FOLLOW_GONE,
        source=CustomerEvent.Source.SYNC,
    )
    ctx.count(STEP, "follows_closed", ended)


def _active_follows(staff_ids: list[int]) -> Iterator[tuple[int, int, str]]:
    """(follow id, staff id, external userid) of the active follows of these members, streamed."""
    return (
        Follow.objects.filter(staff_id__in=staff_ids, status=Follow.Status.ACTIVE)
        .order_by()
        .values_list("id", "staff_id", "customer__external_userid")
        .iterator(chunk_size=5000)
    )


def _full_chunk(ctx: SyncContext, applier: _Applier, userids: list[str]) -> None:
    started = timezone.now()
    applier.seen = set()
    for entries in _pages(ctx, userids):
        applier.add(entries)
    applier.flush()
    staff = [applier.staff_ids[u] for u in userids]
    gone = [pk for pk, _staff, _ext in _active_follows(staff) if pk not in applier.seen]
    _end_gone(ctx, gone, started=started)


def _incremental_chunk(ctx: SyncContext, applier: _Applier, userids: list[str]) -> None:
    started = timezone.now()
    listed = {u: set(ctx.call(ctx.client.externalcontact_list, u)) for u in userids}
    userid_of = {applier.staff_ids[u]: u for u in userids}
    ours: dict[str, set[str]] = defaultdict(set)
    gone: list[int] = []
    for pk, staff_id, external_userid in _active_follows(list(userid_of)):
        userid = userid_of[staff_id]
        ours[userid].add(external_userid)
        if external_userid not in listed[userid]:
            gone.append(pk)
    _end_gone(ctx, gone, started=started)
    new_customers = sorted({ext for u in userids for ext in listed[u] - ours[u]})
    if not new_customers:
        return
    pages_for_all = math.ceil(sum(len(ids) for ids in listed.values()) / PAGE_SIZE)
    ctx.count(STEP, "new_pairs", sum(len(listed[u] - ours[u]) for u in userids))
    if len(new_customers) > pages_for_all:
        for entries in _pages(ctx, userids):
            applier.add(entries)
    else:
        for external_userid in new_customers:
            applier.add(contact_fetch(ctx.client, external_userid, call=ctx.call))
    applier.flush()
