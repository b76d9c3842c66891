"""Two workers given the same inbox row at once (QUALITY.md trap 5), two drains of the same slot
at once, and a real worker on the ``realtime`` queue taking callbacks posted three times (R1).
They need PostgreSQL: row locks with SKIP LOCKED, and a test database that another process can
open."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from customers.models import Customer
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom.events import event_parse, register, unregister
from scrm.wecom.models import CallbackInbox
from scrm.wecom.services import inbox_drain, inbox_process, inbox_store
from tests.workers import celery_worker

from .conftest import callback_url, contact_xml, envelope, our_crypto

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("needs PostgreSQL (row locks; a database other processes can open)")


def test_two_workers_claiming_the_same_row_process_it_once(postgresql):
    xml = contact_xml()
    row, _ = inbox_store(event=event_parse(xml), xml=xml)
    calls = []
    entered = threading.Event()

    def slow(event):
        calls.append(event.external_user_id)
        entered.set()
        time.sleep(0.5)  # hold the row lock while the other worker tries

    register("change_external_contact")(slow)
    results = {}

    def work(name):
        try:
            results[name] = inbox_process(inbox_id=row.pk)
        finally:
            connection.close()

    try:
        first = threading.Thread(target=work, args=("first",))
        first.start()
        assert entered.wait(5)
        second = threading.Thread(target=work, args=("second",))
        second.start()
        second.join(10)
        first.join(10)
    finally:
        unregister(slow)
    assert calls == ["wmAAAA"]
    assert results["second"] is None  # skipped the locked row instead of waiting for it
    assert results["first"].status == CallbackInbox.Status.DONE
    row.refresh_from_db()
    assert (row.status, row.attempts) == (CallbackInbox.Status.DONE, 1)


def test_two_drains_of_the_same_slot_process_each_row_once(postgresql, settings):
    """A mark that expired under a slow drain, or a redelivered message: two drainers, one slot."""
    settings.WECOM_INBOX_DRAIN_SLOTS = 1
    externals = [f"wmTWO{number}" for number in range(8)]
    for external in externals:
        xml = contact_xml(external=external)
        inbox_store(event=event_parse(xml), xml=xml)
    calls = []
    lock = threading.Lock()

    def slow(event):
        with lock:
            calls.append(event.external_user_id)
        time.sleep(0.05)  # both drainers are at work at once

    register("change_external_contact")(slow)
    processed = {}

    def drain(name):
        try:
            processed[name] = inbox_drain(slot=0)
        finally:
            connection.close()

    try:
        drainers = [threading.Thread(target=drain, args=(name,)) for name in ("first", "second")]
        for drainer in drainers:
            drainer.start()
        for drainer in drainers:
            drainer.join(30)
    finally:
        unregister(slow)
    assert sorted(calls) == sorted(externals)
    assert processed["first"] + processed["second"] == len(externals)
    assert set(CallbackInbox.objects.values_list("status", "attempts")) == {(CallbackInbox.Status.DONE, 1)}


@pytest.mark.integration
def test_a_real_worker_processes_a_thrice_delivered_callback_once(
    client, postgresql, live_server, settings, monkeypatch
):
    # The apps' handlers run in the worker and look the customers up in WeCom: the sandbox here.
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID, contact_secret=settings.WECOM_SECRET, members=1, contacts_per_member=2
    )
    monkeypatch.setenv("WECOM_API_BASE", live_server.url + "/sandbox/cgi-bin")
    now = int(time.time())
    with celery_worker("realtime") as realtime_worker:
        for contact in corp.contacts:
            xml = contact_xml(external=contact.external_userid, user="user1", create_time=now)
            for _ in range(3):
                encrypt, signature, timestamp, nonce = our_crypto().encrypt(xml)
                response = client.post(
                    callback_url(msg_signature=signature, timestamp=timestamp, nonce=nonce),
                    data=envelope(encrypt),
                    content_type="text/xml",
                )
                assert response.content == b"success"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and CallbackInbox.objects.exclude(status="done").exists():
            assert realtime_worker.poll() is None, realtime_worker.stdout.read().decode()
            time.sleep(0.3)
    rows = list(CallbackInbox.objects.values_list("status", "attempts"))
    assert rows == [(CallbackInbox.Status.DONE, 1), (CallbackInbox.Status.DONE, 1)]
    assert Customer.objects.count() == 2
