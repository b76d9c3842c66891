"""The sandbox delivers its callbacks as WeCom does (WECOM.md §12.1, §13): encrypted and signed,
POSTed to the callback URL, re-sent when no HTTP 200 comes within 5 s, three re-sends at most.

The receivers here are small HTTP servers standing in for our server, so that a test can make it
slow or failing; the last test sends through them to our real ``/wecom/callback/`` view.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import transaction

from scrm.celery import app as celery_app
from scrm.sandbox import callbacks
from scrm.sandbox.callbacks import (
    callback_deliver,
    callback_emit,
    callbacks_deliver_pending,
    callbacks_delivery_stop,
)
from scrm.sandbox.models import SandboxCallback
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom.client import wecom_clients_close
from scrm.wecom.crypto import CallbackCrypto, InvalidSignature
from scrm.wecom.events import event_parse, register, unregister, xml_parse
from scrm.wecom.models import CallbackInbox

CORP = settings.WECOM_CORP_ID


class Receiver:
    """An HTTP server recording each POST; ``answer(n, query, body)`` gives the n-th reply."""

    def __init__(self, answer: Callable[[int, str, bytes], int]):
        self.answer = answer
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (the http.server API)
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                query = urlsplit(self.path).query
                with receiver.lock:
                    receiver.requests.append((dict(parse_qsl(query)), body))
                    n = len(receiver.requests)
                status = receiver.answer(n, query, body)
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                except OSError:
                    pass  # the sandbox gave up waiting and closed the connection

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/wecom/callback/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def receive(settings) -> Iterator[Callable[..., Receiver]]:
    """Start a receiver and point the sandbox's callback URL at it."""
    started: list[Receiver] = []

    def start(answer: Callable[[int, str, bytes], int] = lambda n, q, b: 200) -> Receiver:
        receiver = Receiver(answer).__enter__()
        started.append(receiver)
        settings.WECOM_SANDBOX_CALLBACK_URL = receiver.url
        return receiver

    yield start
    for receiver in started:
        receiver.__exit__(None, None, None)


@pytest.fixture
def no_pause(monkeypatch):
    monkeypatch.setattr(callbacks, "RESEND_PAUSE", 0)


@pytest.fixture
def corp(db):
    return sandbox_corp_create(
        corp_id=CORP, contact_secret=settings.WECOM_SECRET, members=2, contacts_per_member=1
    )


def emit(user="user1", external="wmCALLBACKTEST") -> SandboxCallback:
    return callback_emit(
        corp_id=CORP,
        event="change_external_contact",
        change_type="add_external_contact",
        fields={"UserID": user, "ExternalUserID": external, "State": "s1", "WelcomeCode": "WC"},
    )


def our_crypto() -> CallbackCrypto:
    return CallbackCrypto(settings.WECOM_TOKEN, settings.WECOM_AES_KEY, settings.WECOM_CORP_ID)


def opened(request: tuple[dict[str, str], bytes]) -> tuple[str, str, str]:
    """(ToUserName, AgentID, decrypted XML) of one received POST, after checking its signature."""
    query, body = request
    envelope = xml_parse(body)
    encrypt = envelope.findtext("Encrypt")
    xml = our_crypto().decrypt_verified(query["msg_signature"], query["timestamp"], query["nonce"], encrypt)
    return envelope.findtext("ToUserName"), envelope.findtext("AgentID"), xml


# --- encryption and the envelope ----------------------------------------------------------------------


def test_a_callback_arrives_encrypted_signed_and_recorded(corp, receive):
    receiver = receive()
    row = emit()
    assert callbacks_deliver_pending() == 1
    assert len(receiver.requests) == 1
    to_user, agent_id, xml = opened(receiver.requests[0])
    assert (to_user, agent_id, xml) == (CORP, str(corp.agentid), row.xml)
    event = event_parse(xml)
    assert (event.change_type, event.user_id, event.external_user_id, event.state) == (
        "add_external_contact",
        "user1",
        "wmCALLBACKTEST",
        "s1",
    )
    query = receiver.requests[0][0]
    assert abs(int(query["timestamp"]) - time.time()) < 60
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_result) == (SandboxCallback.Status.DELIVERED, 1, "HTTP 200")
    assert row.delivered_at is not None
    assert callbacks_deliver_pending() == 0  # delivered rows are not sent again
    assert len(receiver.requests) == 1


def test_the_signature_binds_the_body_and_the_shared_token(corp, receive):
    receiver = receive()
    emit()
    callbacks_deliver_pending()
    query, body = receiver.requests[0]
    encrypt = xml_parse(body).findtext("Encrypt")
    other_token = CallbackCrypto("AnotherToken", settings.WECOM_AES_KEY, CORP)
    with pytest.raises(InvalidSignature):
        other_token.verify(query["msg_signature"], query["timestamp"], query["nonce"], encrypt)
    with pytest.raises(InvalidSignature):
        our_crypto().verify(query["msg_signature"], query["timestamp"], query["nonce"], encrypt[:-4] + "AAA=")
    with pytest.raises(InvalidSignature):
        our_crypto().verify(query["msg_signature"], str(int(query["timestamp"]) + 1), query["nonce"], encrypt)


# --- re-sends -----------------------------------------------------------------------------------------


def test_a_failing_receiver_gets_three_resends_at_most(corp, receive, no_pause):
    receiver = receive(lambda n, q, b: 500)
    row = emit()
    assert callbacks_deliver_pending() == 0
    assert len(receiver.requests) == 4  # the first attempt and three re-sends
    assert len({opened(r)[2] for r in receiver.requests}) == 1  # the same event every time
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_result) == (SandboxCallback.Status.FAILED, 4, "HTTP 500")
    assert row.delivered_at is None
    callbacks_deliver_pending()
    assert len(receiver.requests) == 4  # failed rows stay failed


def test_a_receiver_that_recovers_stops_the_resends(corp, receive, no_pause):
    receiver = receive(lambda n, q, b: 503 if n < 3 else 200)
    row = emit()
    callback_deliver(row_id=row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts, row.last_result) == (SandboxCallback.Status.DELIVERED, 3, "HTTP 200")
    assert len(receiver.requests) == 3


def test_no_answer_within_five_seconds_is_resent(corp, receive, no_pause):
    def slow_first(n, query, body):
        if n == 1:
            time.sleep(callbacks.DELIVERY_TIMEOUT + 1)
        return 200

    receiver = receive(slow_first)
    row = emit()
    callback_deliver(row_id=row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (SandboxCallback.Status.DELIVERED, 2)
    assert len(receiver.requests) == 2
    assert callbacks.DELIVERY_TIMEOUT == 5.0


def test_an_unreachable_receiver_is_recorded(corp, settings, no_pause):
    with ThreadingHTTPServer(("127.0.0.1", 0), BaseHTTPRequestHandler) as closed:
        port = closed.server_address[1]
    settings.WECOM_SANDBOX_CALLBACK_URL = f"http://127.0.0.1:{port}/wecom/callback/"
    row = emit()
    callback_deliver(row_id=row.pk)
    row.refresh_from_db()
    assert (row.status, row.attempts) == (SandboxCallback.Status.FAILED, 4)
    assert row.last_result.startswith("ConnectError")


def test_an_attempt_claimed_elsewhere_is_not_made_twice(corp, receive):
    receiver = receive()
    row = emit()
    SandboxCallback.objects.filter(pk=row.pk).update(attempts=1)  # another process is on attempt 1
    assert callbacks_deliver_pending() == 0
    assert receiver.requests == []


# --- when delivery happens ----------------------------------------------------------------------------


def test_sync_mode_posts_after_commit_only(corp, receive, settings, django_capture_on_commit_callbacks):
    settings.WECOM_SANDBOX_CALLBACKS = "sync"
    receiver = receive()
    with django_capture_on_commit_callbacks(execute=True) as pending, transaction.atomic():
        row = emit()
        assert receiver.requests == []
    assert len(pending) == 1
    assert len(receiver.requests) == 1
    row.refresh_from_db()
    assert row.status == SandboxCallback.Status.DELIVERED


def test_off_mode_waits_for_the_command(corp, receive, settings, django_capture_on_commit_callbacks):
    settings.WECOM_SANDBOX_CALLBACKS = "off"
    receiver = receive()
    with django_capture_on_commit_callbacks(execute=True) as pending:
        emit()
        emit(external="wmSECOND")
    assert pending == []
    assert receiver.requests == []
    call_command("sandbox_deliver", stdout=open("/dev/null", "w"))  # noqa: SIM115
    assert [event_parse(opened(r)[2]).external_user_id for r in receiver.requests] == [
        "wmCALLBACKTEST",
        "wmSECOND",
    ]


def test_the_command_sends_failed_callbacks_again_on_request(corp, receive, no_pause):
    answers = iter([500, 500, 500, 500, 200])
    receiver = receive(lambda n, q, b: next(answers))
    row = emit()
    callbacks_deliver_pending()
    call_command("sandbox_deliver", "--retry-failed", stdout=open("/dev/null", "w"))  # noqa: SIM115
    row.refresh_from_db()
    assert (row.status, row.attempts) == (SandboxCallback.Status.DELIVERED, 1)
    assert len(receiver.requests) == 5


@pytest.mark.django_db(transaction=True)
def test_async_mode_delivers_in_the_background_after_commit(receive, settings):
    if settings.DATABASES["default"]["ENGINE"].endswith("sqlite3"):
        pytest.skip("the delivery thread needs its own connection to a database other threads can write")
    sandbox_corp_create(corp_id=CORP, contact_secret=settings.WECOM_SECRET, members=1, contacts_per_member=0)
    settings.WECOM_SANDBOX_CALLBACKS = "async"
    arrived = threading.Event()
    receiver = receive(lambda n, q, b: arrived.set() or 200)
    with transaction.atomic():
        row = emit()
    assert arrived.wait(30), "the callback never arrived"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        row.refresh_from_db()
        if row.status == SandboxCallback.Status.DELIVERED:
            break
        time.sleep(0.1)
    assert (row.status, row.attempts) == (SandboxCallback.Status.DELIVERED, 1)
    assert len(receiver.requests) == 1
    callbacks_delivery_stop()


# --- through to our callback view ---------------------------------------------------------------------


@pytest.fixture
def eager_celery():
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


def test_our_callback_view_stores_an_event_sent_three_times_once(
    live_server, receive, eager_celery, no_pause, settings
):
    """Our server answers 200 each time, but the first two answers are lost on the way back, so the
    sandbox sends the same event three times: stored once, processed once."""
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"  # for the handlers' look-ups
    corp = sandbox_corp_create(
        corp_id=CORP, contact_secret=settings.WECOM_SECRET, members=1, contacts_per_member=1
    )
    external = corp.contacts[0].external_userid
    ours = live_server.url + "/wecom/callback/"
    answers: list[int] = []

    def forward_then_lose_the_answer(n, query, body):
        response = httpx.post(
            f"{ours}?{query}", content=body, headers={"Content-Type": "text/xml"}, timeout=30
        )
        answers.append(response.status_code)
        return 500 if n < 3 else response.status_code

    receive(forward_then_lose_the_answer)
    seen: Counter = Counter()

    def count(event):
        seen[event.external_user_id] += 1

    register("change_external_contact", "add_external_contact", order=0)(count)
    try:
        row = emit(user="user1", external=external)
        callback_deliver(row_id=row.pk)
    finally:
        unregister(count)
        wecom_clients_close()  # the handlers' keep-alive connections to the live server
    assert answers == [200, 200, 200]
    row.refresh_from_db()
    assert (row.status, row.attempts) == (SandboxCallback.Status.DELIVERED, 3)
    inbox = CallbackInbox.objects.filter(change_type="add_external_contact")
    assert inbox.count() == 1
    assert inbox.get().xml == row.xml
    assert inbox.get().attempts == 1
    assert seen == Counter({external: 1})
