"""Callbacks are processed by per-slot drains, not one task each (docs/benchmarks.md, P2).

The broker here is kombu's in-memory transport: the callback view really publishes, and the test
takes the messages off the ``realtime`` queue and runs them, as a worker would, when it chooses
to. That makes "a drain is pending" a state the test can hold still.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from scrm.celery import app as celery_app
from scrm.wecom.errors import SystemBusy
from scrm.wecom.events import event_parse, register, unregister
from scrm.wecom.models import CallbackInbox
from scrm.wecom.services import (
    SWEEP_PROCESSING_AFTER,
    SWEEP_TASK_NAME,
    drain_mark,
    drain_slot,
    inbox_drain,
    inbox_receive,
    inbox_sweep,
    sweep_schedule_ensure,
)
from scrm.wecom.tasks import callback_drain

from .conftest import Deliver, contact_xml

pytestmark = pytest.mark.django_db


class MemoryBroker:
    """The realtime queue of an in-memory broker, read the way a worker would."""

    def take(self) -> list[tuple[str, tuple]]:
        """Every message waiting on ``realtime``: (task name, args), removed from the queue."""
        taken = []
        with celery_app.connection_for_write() as conn:
            queue = conn.SimpleQueue("realtime")
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    break
                args, _kwargs, _embed = message.decode()
                taken.append((message.headers["task"], tuple(args)))
                message.ack()
            queue.close()
        return taken

    def work(self) -> list[tuple[str, tuple]]:
        """Run what is waiting, and what that publishes in turn, until the queue is empty."""
        ran = []
        while messages := self.take():
            for name, args in messages:
                celery_app.tasks[name].apply(args=args).get()
                ran.append((name, args))
        return ran


def _reset_producers():
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


@pytest.fixture
def broker():
    before = (celery_app.conf.broker_url, celery_app.conf.broker_write_url, celery_app.conf.task_always_eager)
    celery_app.conf.broker_url = "memory://"
    celery_app.conf.broker_write_url = None
    celery_app.conf.task_always_eager = False
    _reset_producers()
    memory = MemoryBroker()
    memory.take()  # another test's leftovers in the process-wide memory transport
    yield memory
    memory.take()
    celery_app.conf.broker_url, celery_app.conf.broker_write_url, celery_app.conf.task_always_eager = before
    _reset_producers()


@pytest.fixture
def deliver_later(client, django_capture_on_commit_callbacks, broker):
    """POSTs callbacks through the real view; their drains wait in the broker until ``broker.work``."""
    return Deliver(client, django_capture_on_commit_callbacks)


@pytest.fixture
def one_slot(settings):
    settings.WECOM_INBOX_DRAIN_SLOTS = 1


def _store(external: str) -> CallbackInbox:
    xml = contact_xml(external=external)
    return inbox_receive(event=event_parse(xml), xml=xml)[0]


def test_a_burst_publishes_at_most_one_drain_per_slot_and_processes_every_row_once(
    deliver_later, broker, handled, settings
):
    burst = 25
    for number in range(burst):
        response = deliver_later(contact_xml(external=f"wmBURST{number:03d}"))
        assert response.content == b"success"
    rows = CallbackInbox.objects.order_by("pk")
    assert rows.filter(status=CallbackInbox.Status.RECEIVED).count() == burst

    drains = broker.take()
    slots = {drain_slot(pk) for pk in rows.values_list("pk", flat=True)}
    assert sorted(drains) == sorted(("scrm.wecom.tasks.callback_drain", (slot,)) for slot in slots)
    assert len(drains) <= settings.WECOM_INBOX_DRAIN_SLOTS

    for _, (slot,) in drains:  # the worker runs them
        assert callback_drain.apply(args=(slot,)).get() == sum(
            1 for pk in rows.values_list("pk", flat=True) if drain_slot(pk) == slot
        )
    assert set(rows.values_list("status", "attempts")) == {(CallbackInbox.Status.DONE, 1)}
    assert len(handled) == burst and set(handled.values()) == {1}
    assert all(cache.get(drain_mark(slot)) is None for slot in slots)  # the next callback kicks again
    assert broker.take() == []


def test_a_retry_from_wecom_while_a_drain_is_pending_publishes_nothing(deliver_later, broker, handled):
    xml = contact_xml()
    deliver_later(xml)
    deliver_later(xml)
    assert CallbackInbox.objects.count() == 1
    assert len(broker.take()) == 1


def test_a_drain_leaves_the_other_slots_rows_alone(broker, handled, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        rows = [_store(f"wmSLOT{number}") for number in range(4)]
    by_slot = {slot: [row.pk for row in rows if drain_slot(row.pk) == slot] for slot in (0, 1)}
    assert inbox_drain(slot=0) == len(by_slot[0])
    statuses = dict(CallbackInbox.objects.values_list("pk", "status"))
    assert {statuses[pk] for pk in by_slot[0]} == {CallbackInbox.Status.DONE}
    assert {statuses[pk] for pk in by_slot[1]} == {CallbackInbox.Status.RECEIVED}


def test_a_row_committed_while_the_drainer_finishes_is_seen_by_its_last_look(
    broker, handled, one_slot, django_capture_on_commit_callbacks
):
    """The race the mark's protocol closes, played in its worst order, deterministically.

    A drain is running and its pass has just found nothing. Right then a callback commits its
    row and tries to take the mark: the drain still holds it, so no drain is published. The
    drainer must find that row when it lets go of the mark, or nobody would process it.
    """
    late: list[CallbackInbox] = []
    kicks: list[bool] = []

    def callback_arrives_after_the_pass(execute, sql, params, many, context):
        result = execute(sql, params, many, context)
        is_pass = "wecom_callbackinbox" in sql and "ORDER BY" in sql and "LIMIT" in sql
        if is_pass and not late:
            assert cache.get(drain_mark(0)) is not None  # the drainer holds the mark
            with django_capture_on_commit_callbacks(execute=True) as callbacks:
                late.append(_store("wmLATE"))
            kicks.append(len(callbacks) == 1)
        return result

    cache.add(drain_mark(0), 1)  # as the callback that published this drain left it
    with connection.execute_wrapper(callback_arrives_after_the_pass):
        processed = inbox_drain(slot=0)

    assert kicks == [True]  # the late callback did try to kick…
    assert broker.take() == []  # …and published nothing: the mark was held
    assert processed == 1
    late[0].refresh_from_db()
    assert (late[0].status, late[0].attempts) == (CallbackInbox.Status.DONE, 1)
    assert handled[("add_external_contact", "alice", "wmLATE")] == 1
    assert cache.get(drain_mark(0)) is None


def test_a_dead_drainer_is_replaced_by_the_sweep(
    broker, handled, one_slot, django_capture_on_commit_callbacks
):
    cache.add(drain_mark(0), 1)  # a drain was published, then its worker died with the mark set
    with django_capture_on_commit_callbacks(execute=True):
        row, other = _store("wmSTRANDED"), _store("wmSTRANDED2")
    assert broker.take() == []  # the callbacks saw the mark and left them to the dead drainer

    assert inbox_sweep() == {"reclaimed": 0, "late_slots": 0, "kicked": 0}  # not late yet
    CallbackInbox.objects.update(received_at=timezone.now() - timedelta(minutes=2))
    assert inbox_sweep() == {"reclaimed": 0, "late_slots": 1, "kicked": 1}  # one drain for the slot
    assert broker.work() == [("scrm.wecom.tasks.callback_drain", (0,))]
    for stranded in (row, other):
        stranded.refresh_from_db()
        assert (stranded.status, stranded.attempts) == (CallbackInbox.Status.DONE, 1)
    assert handled[("add_external_contact", "alice", "wmSTRANDED")] == 1
    assert handled[("add_external_contact", "alice", "wmSTRANDED2")] == 1


def test_an_expired_mark_lets_the_next_callback_kick(
    broker, handled, one_slot, django_capture_on_commit_callbacks
):
    cache.add(drain_mark(0), 1)
    with django_capture_on_commit_callbacks(execute=True):
        first = _store("wmBEFORE")
    assert broker.take() == []
    cache.delete(drain_mark(0))  # what the mark's timeout does to a dead drainer's mark
    with django_capture_on_commit_callbacks(execute=True):
        second = _store("wmAFTER")
    assert broker.work() == [("scrm.wecom.tasks.callback_drain", (0,))]
    assert set(
        CallbackInbox.objects.filter(pk__in=[first.pk, second.pk]).values_list("status", flat=True)
    ) == {CallbackInbox.Status.DONE}


def test_the_sweep_hands_back_rows_a_killed_worker_left_processing(broker, handled, one_slot):
    now = timezone.now()
    abandoned, busy = _store("wmABANDONED"), _store("wmBUSY")
    CallbackInbox.objects.filter(pk=abandoned.pk).update(
        status=CallbackInbox.Status.PROCESSING,
        attempts=1,
        processed_at=now - SWEEP_PROCESSING_AFTER - timedelta(minutes=1),
    )
    # Claimed a few minutes ago: its handler may still be running, so it is left alone.
    CallbackInbox.objects.filter(pk=busy.pk).update(
        status=CallbackInbox.Status.PROCESSING, attempts=1, processed_at=now - timedelta(minutes=5)
    )
    assert inbox_sweep() == {"reclaimed": 1, "late_slots": 1, "kicked": 1}
    broker.work()
    abandoned.refresh_from_db()
    busy.refresh_from_db()
    assert (abandoned.status, abandoned.attempts) == (CallbackInbox.Status.DONE, 2)
    assert busy.status == CallbackInbox.Status.PROCESSING
    assert handled[("add_external_contact", "alice", "wmABANDONED")] == 1
    assert handled[("add_external_contact", "alice", "wmBUSY")] == 0


def test_a_transient_failure_is_retried_with_backoff_outside_the_drain(
    broker, one_slot, django_capture_on_commit_callbacks
):
    calls = []

    def busy_once(event):
        calls.append(event.external_user_id)
        if len(calls) == 1:
            raise SystemBusy(errcode=-1, errmsg="system busy")

    register("change_external_contact")(busy_once)
    try:
        with django_capture_on_commit_callbacks(execute=True):
            row, other = _store("wmBUSY"), _store("wmFINE")
        published = broker.take()
        assert published == [("scrm.wecom.tasks.callback_drain", (0,))]
        with django_capture_on_commit_callbacks(execute=True):
            assert inbox_drain(slot=0) == 2  # the busy row does not stop the one after it
        row.refresh_from_db()
        assert (row.status, row.last_error[:10]) == (CallbackInbox.Status.FAILED, "SystemBusy")
        assert broker.work() == [("scrm.wecom.tasks.callback_process", (row.pk,))]
    finally:
        unregister(busy_once)
    row.refresh_from_db()
    other.refresh_from_db()
    assert (row.status, row.attempts) == (CallbackInbox.Status.DONE, 2)
    assert (other.status, other.attempts) == (CallbackInbox.Status.DONE, 1)
    assert calls == ["wmBUSY", "wmFINE", "wmBUSY"]


def test_migrate_created_the_sweep_schedule_once():
    task = PeriodicTask.objects.get(name=SWEEP_TASK_NAME)
    assert (task.task, task.queue, task.interval.every, task.interval.period) == (
        "scrm.wecom.tasks.callback_sweep",
        "realtime",
        60,
        "seconds",
    )
    task.enabled = False
    task.save()
    assert sweep_schedule_ensure() is False  # an administrator's change stays
    assert PeriodicTask.objects.get(name=SWEEP_TASK_NAME).enabled is False
    PeriodicTask.objects.filter(name=SWEEP_TASK_NAME).delete()
    assert sweep_schedule_ensure() is True
    assert PeriodicTask.objects.filter(name=SWEEP_TASK_NAME).count() == 1
