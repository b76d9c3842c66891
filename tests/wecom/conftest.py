"""Callback fixtures: real encrypted bodies made with the project's own crypto, eager Celery."""

from __future__ import annotations

import time
from collections import Counter
from urllib.parse import urlencode

import pytest
from django.conf import settings
from django.urls import reverse

from scrm.celery import app as celery_app
from scrm.wecom import events
from scrm.wecom.crypto import CallbackCrypto
from scrm.wecom.events import register, unregister


def contact_xml(
    external="wmAAAA", user="alice", create_time=None, corp=None, change_type="add_external_contact"
):
    corp = corp or settings.WECOM_CORP_ID
    create_time = create_time or int(time.time())
    return (
        f"<xml><ToUserName><![CDATA[{corp}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_contact]]></Event>"
        f"<ChangeType><![CDATA[{change_type}]]></ChangeType>"
        f"<UserID><![CDATA[{user}]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID>"
        "<State><![CDATA[ad_campaign_7]]></State><WelcomeCode><![CDATA[WC123]]></WelcomeCode></xml>"
    )


def envelope(encrypt: str, corp: str | None = None) -> str:
    corp = corp if corp is not None else settings.WECOM_CORP_ID
    return (
        f"<xml><ToUserName><![CDATA[{corp}]]></ToUserName>\n<Encrypt><![CDATA[{encrypt}]]></Encrypt>\n"
        "<AgentID><![CDATA[1000002]]></AgentID>\n</xml>"
    )


def our_crypto(receive_id: str | None = None) -> CallbackCrypto:
    return CallbackCrypto(settings.WECOM_TOKEN, settings.WECOM_AES_KEY, receive_id or settings.WECOM_CORP_ID)


def callback_url(**params) -> str:
    return f"{reverse('wecom:callback')}?{urlencode(params)}"


class Deliver:
    """POSTs one callback the way WeCom does; each keyword bends one part of it."""

    def __init__(self, client, capture):
        self.client = client
        self.capture = capture

    def __call__(
        self,
        xml: str,
        *,
        crypto: CallbackCrypto | None = None,
        corp: str | None = None,
        timestamp: int | None = None,
        signature: str | None = None,
        body: str | bytes | None = None,
    ):
        crypto = crypto or our_crypto()
        encrypt, good_signature, ts, nonce = crypto.encrypt(xml, timestamp=timestamp)
        params = {"msg_signature": signature or good_signature, "timestamp": ts, "nonce": nonce}
        with self.capture(execute=True):
            return self.client.post(
                callback_url(**params),
                data=body if body is not None else envelope(encrypt, corp),
                content_type="text/xml",
            )


@pytest.fixture(autouse=True)
def _apps_handlers_set_aside():
    """These tests exercise the callback machinery with handlers of their own: the apps' handlers
    (which fetch from WeCom) are set aside for each test and put back afterwards."""
    saved = events._registry[:]
    events._registry.clear()
    yield
    events._registry[:] = saved


@pytest.fixture
def eager_celery():
    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    yield
    celery_app.conf.task_always_eager = before


@pytest.fixture
def deliver(client, django_capture_on_commit_callbacks, eager_celery, db):
    return Deliver(client, django_capture_on_commit_callbacks)


@pytest.fixture
def handled():
    """A handler for change_external_contact that counts the events it saw."""
    seen: Counter = Counter()

    def count(event):
        seen[(event.change_type, event.user_id, event.external_user_id)] += 1

    register("change_external_contact")(count)
    yield seen
    unregister(count)
