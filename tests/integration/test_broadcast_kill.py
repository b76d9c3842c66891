"""QUALITY.md R3: a Celery worker killed (SIGKILL) in the middle of a broadcast's fan-out.

A real worker process takes the send tasks from the broker and calls the sandbox (on the live
server, every answer slowed down) over HTTP. It is killed while an ``add_msg_template`` call is in
flight: the sandbox still creates that message, our side never learns its msgid. A second worker
and the sweep (which beat would run every minute) finish the fan-out; the sandbox's own record
must then hold every recipient in exactly one message.

PostgreSQL and a network broker only: the workers are other processes.
"""

from __future__ import annotations

import signal
import time
from collections import Counter

import pytest

from campaigns.models import Broadcast, BroadcastBatch, BroadcastRecipient
from campaigns.services.broadcast_dispatch import broadcast_dispatch
from campaigns.tasks.broadcast_dispatch import broadcast_dispatch_sweep_task
from customers.models import Follow
from scrm.sandbox.models import SandboxCall, SandboxMassMessage, SandboxMassRecipient
from scrm.sandbox.services import sandbox_corp_create, sandbox_faults_set
from scrm.wecom.client import wecom_clients_close
from scrm.wecom.sync import sync_run
from tests.workers import celery_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

QUEUES = "bulk,default"
LATENCY_MS = 1000
SENDERS = 6


@pytest.fixture
def corp(live_server, settings, monkeypatch):
    if settings.CELERY_BROKER_URL.startswith(("filesystem", "memory")):
        pytest.skip("needs a network broker shared with the worker processes")
    if "redis" not in settings.CACHES["default"]["BACKEND"].lower():
        # The workers must find the access token this process fetched, so that the first call
        # after a claim is add_msg_template itself (the one to kill the worker in).
        pytest.skip("needs a cache shared with the worker processes (CACHE_URL)")
    api_base = live_server.url + "/sandbox/cgi-bin"
    # The same settings here and in the workers: a short lease, still above the HTTP timeout.
    overrides = {
        "WECOM_API_BASE": api_base,
        "OUTREACH_QUIET_HOURS": "",
        "WECOM_HTTP_TIMEOUT": "3",
        "BROADCAST_CLAIM_LEASE": "6",
    }
    for name, value in overrides.items():
        monkeypatch.setenv(name, value)
    settings.WECOM_API_BASE = api_base
    settings.OUTREACH_QUIET_HOURS = ""
    settings.WECOM_HTTP_TIMEOUT = 3.0
    settings.BROADCAST_CLAIM_LEASE = 6
    wecom_clients_close()
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID,
        contact_secret=settings.WECOM_SECRET,
        members=SENDERS,
        contacts_per_member=5,
    )
    sync_run(mode="full", trigger="command", retry_delay=0)
    yield corp
    sandbox_faults_set()
    wecom_clients_close()


def wait_for(condition, worker, *, seconds, what):
    deadline = time.monotonic() + seconds
    while not condition():
        assert worker.poll() is None, worker.stdout.read().decode(errors="replace")[-3000:]
        assert time.monotonic() < deadline, what()
        time.sleep(0.1)


def batches():
    return list(BroadcastBatch.objects.order_by("id").values_list("pk", "status", "attempts", "msgid"))


def test_a_worker_killed_mid_call_loses_no_one_and_sends_no_one_twice(corp):
    broadcast = Broadcast.objects.create(
        name="R3", text="Flash sale tonight", status=Broadcast.Status.PLANNING
    )
    BroadcastRecipient.objects.bulk_create(
        BroadcastRecipient(
            broadcast=broadcast, target=f.customer.external_userid, sender=f.staff, customer=f.customer
        )
        for f in Follow.objects.select_related("customer", "staff")
    )
    targets = set(BroadcastRecipient.objects.values_list("target", flat=True))
    sandbox_faults_set(latency_ms=LATENCY_MS)

    with celery_worker(QUEUES) as first:
        assert broadcast_dispatch(broadcast_id=broadcast.pk) == SENDERS
        # The first worker imports the project, then claims a batch and starts its call.
        wait_for(
            lambda: BroadcastBatch.objects.filter(status=BroadcastBatch.Status.CLAIMED).exists(),
            first,
            seconds=90,
            what=batches,
        )
        time.sleep(LATENCY_MS / 1000 / 3)  # well inside the call
        first.send_signal(signal.SIGKILL)
        first.wait(timeout=10)
        [killed] = BroadcastBatch.objects.filter(status=BroadcastBatch.Status.CLAIMED)
        assert killed.msgid == ""

    # The sandbox finishes the call the dead worker made: a message our side does not know.
    deadline = time.monotonic() + 30
    while not SandboxCall.objects.filter(
        path="externalcontact/add_msg_template", body__sender=killed.sender.userid
    ).exists():
        assert time.monotonic() < deadline
        time.sleep(0.1)
    orphan = SandboxMassMessage.objects.get(tasks__userid=killed.sender.userid)

    with celery_worker(QUEUES) as second:
        last_sweep = 0.0

        def all_handed():
            nonlocal last_sweep
            if time.monotonic() - last_sweep > 2:  # as beat would, every so often
                broadcast_dispatch_sweep_task.delay()
                last_sweep = time.monotonic()
            return not BroadcastBatch.objects.exclude(status=BroadcastBatch.Status.HANDED).exists()

        wait_for(all_handed, second, seconds=180, what=batches)

    killed.refresh_from_db()
    assert (killed.msgid, killed.attempts) == (orphan.msgid, 1)  # found, not sent again
    sent = SandboxCall.objects.filter(path="externalcontact/add_msg_template", errcode=0)
    assert sent.count() == SENDERS
    per_target = Counter(SandboxMassRecipient.objects.values_list("target", flat=True))
    assert set(per_target) == targets  # no one lost
    assert set(per_target.values()) == {1}  # no one twice
    assert set(BroadcastBatch.objects.values_list("msgid", flat=True)) == set(
        SandboxMassMessage.objects.values_list("msgid", flat=True)
    )
    assert Counter(BroadcastRecipient.objects.values_list("status", flat=True)) == {
        BroadcastRecipient.Status.HANDED: len(targets)
    }
    broadcast.refresh_from_db()
    assert (broadcast.status, broadcast.handed) == (Broadcast.Status.SENT, len(targets))
