"""Two workers given the same inbox row at once (QUALITY.md trap 5), and a real worker on the
``realtime`` queue taking callbacks posted three times (R1). Both need PostgreSQL: row locks with
SKIP LOCKED, and a test database that another process can open."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from scrm.wecom.events import event_parse, register, unregister
from scrm.wecom.models import CallbackInbox
from scrm.wecom.services import inbox_process, inbox_store
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


@pytest.fixture
def realtime_worker(postgresql):
    with celery_worker("realtime") as process:
        yield process


@pytest.mark.integration
def test_a_real_worker_processes_a_thrice_delivered_callback_once(client, realtime_worker):
    now = int(time.time())
    for external in ("wmAAAA", "wmBBBB"):
        xml = contact_xml(external=external, create_time=now)
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
