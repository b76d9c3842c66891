"""The welcome loop with a real worker, as in production: the sandbox posts its encrypted callback
from its delivery thread, a Celery worker on the ``realtime`` queue (another process, over the
broker) runs the add handlers and the welcome task, which calls the sandbox over HTTP.

PostgreSQL and a network broker only: the worker is another process.
"""

from __future__ import annotations

import time

import pytest
from django.conf import settings

from campaigns.models import WelcomeMessage, WelcomeSend
from customers.models import CustomerEvent
from scrm.sandbox.actions.people import add_contact
from scrm.sandbox.callbacks import callbacks_delivery_stop
from scrm.sandbox.models import SandboxCall
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom.client import wecom_clients_close
from tests.workers import celery_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def loop(live_server, settings, monkeypatch):
    if settings.CELERY_BROKER_URL.startswith(("filesystem", "memory")):
        pytest.skip("needs a network broker shared with the worker process")
    api_base = live_server.url + "/sandbox/cgi-bin"
    settings.WECOM_API_BASE = api_base
    monkeypatch.setenv("WECOM_API_BASE", api_base)  # for the worker process
    settings.WECOM_SANDBOX_CALLBACK_URL = live_server.url + "/wecom/callback/"
    settings.WECOM_SANDBOX_CALLBACKS = "async"
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID, contact_secret=settings.WECOM_SECRET, members=2, contacts_per_member=0
    )
    with celery_worker("realtime") as worker:
        yield corp, worker
    callbacks_delivery_stop()
    wecom_clients_close()


def test_a_worker_sends_the_welcome_once_within_the_window(loop):
    corp, worker = loop
    WelcomeMessage.objects.create(name="default", text="Welcome, {customer}!")
    played = add_contact(corp.corp_id, {"userid": "user1", "name": "Worker Visitor"})

    deadline = time.monotonic() + 60  # the worker's first task imports the project
    while not WelcomeSend.objects.filter(status="sent").exists():
        assert worker.poll() is None, worker.stdout.read().decode()
        assert time.monotonic() < deadline, list(WelcomeSend.objects.values_list("status", "error"))
        time.sleep(0.2)

    [call] = SandboxCall.objects.filter(path="externalcontact/send_welcome_msg")
    assert call.body == {
        "welcome_code": played["welcome_code"],
        "text": {"content": "Welcome, Worker Visitor!"},
    }
    row = WelcomeSend.objects.get()
    assert (row.attempts, row.follow.customer.external_userid) == (1, played["external_userid"])
    assert CustomerEvent.objects.filter(type=CustomerEvent.Type.WELCOME_SENT).count() == 1
    assert settings.WECOM_SANDBOX_CALLBACKS == "async"
