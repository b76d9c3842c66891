"""Callbacks the sandbox owes us, as WeCom sends them (WECOM.md §12).

:func:`callback_emit` writes the event to the outbox (:class:`~.models.SandboxCallback`) in the
same transaction as the change it reports, so a change and its callback exist together or not at
all. Only changes made by the *other side* (a WeChat user, a staff member in the client, an admin
in WeCom's console) emit callbacks: changes made through the API do not (WECOM.md §12.1).
Delivery (encryption, POST to our callback URL, re-sends) is below.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping, Sequence
from datetime import timedelta
from xml.sax.saxutils import escape

import httpx
from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import Q
from django.utils import timezone

from scrm.wecom.crypto import CallbackCrypto

from .clock import sandbox_time
from .models import SandboxApp, SandboxCallback

logger = logging.getLogger(__name__)

FieldValue = str | int | Sequence[str]


def callback_xml(*, corp_id: str, event: str, change_type: str, fields: Mapping[str, FieldValue]) -> str:
    """The decrypted callback XML of a self-built app (WECOM.md §12.1, §12.2 example).

    A list value becomes ``<Item>`` children (``MemChangeList`` since client 4.8.0).
    """
    parts = [
        f"<ToUserName><![CDATA[{corp_id}]]></ToUserName>",
        "<FromUserName><![CDATA[sys]]></FromUserName>",
        f"<CreateTime>{sandbox_time()}</CreateTime>",
        "<MsgType><![CDATA[event]]></MsgType>",
        f"<Event><![CDATA[{event}]]></Event>",
    ]
    if change_type:
        parts.append(f"<ChangeType><![CDATA[{change_type}]]></ChangeType>")
    for name, value in fields.items():
        if isinstance(value, int):
            parts.append(f"<{name}>{value}</{name}>")
        elif isinstance(value, str):
            parts.append(f"<{name}><![CDATA[{escape(value)}]]></{name}>")
        else:
            items = "".join(f"<Item><![CDATA[{escape(v)}]]></Item>" for v in value)
            parts.append(f"<{name}>{items}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def callback_emit(
    *, corp_id: str, event: str, change_type: str = "", fields: Mapping[str, FieldValue] | None = None
) -> SandboxCallback:
    """Queue one callback for delivery after the current transaction commits."""
    row = SandboxCallback.objects.create(
        corp_id=corp_id,
        event=event,
        change_type=change_type,
        xml=callback_xml(corp_id=corp_id, event=event, change_type=change_type, fields=fields or {}),
    )
    _deliver_after_commit(row)
    return row


# --- delivery ---------------------------------------------------------------------------------------

#: WeCom waits this long for an HTTP 200, then drops the connection and re-sends (WECOM.md §12.1).
DELIVERY_TIMEOUT = 5.0
#: One first attempt and three re-sends.
MAX_ATTEMPTS = 4
#: Pause before re-sending after a quick failure (a 500, a refused connection); after a timeout the
#: 5 s already waited are the pause.
RESEND_PAUSE = 1.0
#: A row still pending this long after it was written was abandoned mid-delivery (the process that
#: started it stopped): any sweep takes it over. Longer than four timed-out attempts with pauses.
ABANDONED_AFTER = timedelta(minutes=2)
#: How often the background loop looks for rows other processes left in the outbox.
SWEEP_INTERVAL = 30.0


def _deliver_after_commit(row: SandboxCallback) -> None:
    """Hand the row to delivery once the transaction that wrote it commits (WECOM_SANDBOX_CALLBACKS)."""
    mode = settings.WECOM_SANDBOX_CALLBACKS
    if mode == "sync":
        transaction.on_commit(lambda: callback_deliver(row_id=row.pk))
    elif mode == "async":
        transaction.on_commit(_loop.kick)


def callback_envelope(row: SandboxCallback, *, agent_id: int | None) -> tuple[str, dict[str, str]]:
    """The encrypted body and the query string of one delivery attempt of ``row``.

    Encrypted with the callback Token and EncodingAESKey that the sandbox shares with our
    settings, the corp id as receive id, and a fresh timestamp and nonce per attempt (real time:
    our receiver refuses stale timestamps whatever the simulated clock says).
    """
    crypto = CallbackCrypto(settings.WECOM_TOKEN, settings.WECOM_AES_KEY, row.corp_id)
    encrypt, signature, timestamp, nonce = crypto.encrypt(row.xml)
    agent = f"<AgentID><![CDATA[{agent_id}]]></AgentID>" if agent_id else ""
    body = (
        f"<xml><ToUserName><![CDATA[{row.corp_id}]]></ToUserName>"
        f"<Encrypt><![CDATA[{encrypt}]]></Encrypt>{agent}</xml>"
    )
    return body, {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}


def _agent_id(corp_id: str) -> int | None:
    app = SandboxApp.objects.filter(corp_id=corp_id, agentid__isnull=False).order_by("id").first()
    return app.agentid if app else None


def _post(row: SandboxCallback, *, agent_id: int | None) -> tuple[bool, str]:
    """One attempt: ``(True, "HTTP 200")`` or ``(False, what went wrong)``."""
    body, params = callback_envelope(row, agent_id=agent_id)
    try:
        response = httpx.post(
            settings.WECOM_SANDBOX_CALLBACK_URL,
            params=params,
            content=body.encode(),
            headers={"Content-Type": "text/xml; charset=utf-8"},
            timeout=DELIVERY_TIMEOUT,
        )
    except httpx.TimeoutException:
        return False, f"no answer within {DELIVERY_TIMEOUT:g} s"
    except httpx.HTTPError as error:
        return False, f"{type(error).__name__}: {error}"[:200]
    return response.status_code == 200, f"HTTP {response.status_code}"


def _claim(row_id: int, attempts: int) -> bool:
    """Take attempt ``attempts + 1`` of a pending row; False when another thread or process has."""
    return bool(
        SandboxCallback.objects.filter(
            pk=row_id, status=SandboxCallback.Status.PENDING, attempts=attempts
        ).update(attempts=attempts + 1)
    )


def callback_deliver(*, row_id: int) -> SandboxCallback | None:
    """Deliver one outbox row: POST it, and re-send until an HTTP 200 or :data:`MAX_ATTEMPTS`.

    Each attempt is claimed with a conditional update first, so two threads or processes never
    make the same attempt, and recorded on the row (``attempts``, ``last_result``, ``status``,
    ``delivered_at``). Returns the row as left, or None when it is gone or not pending.
    """
    row = SandboxCallback.objects.filter(pk=row_id, status=SandboxCallback.Status.PENDING).first()
    if row is None:
        return None
    agent_id = _agent_id(row.corp_id)
    while row.attempts < MAX_ATTEMPTS:
        if not _claim(row.pk, row.attempts):
            return SandboxCallback.objects.filter(pk=row.pk).first()
        row.attempts += 1
        started = time.monotonic()
        ok, result = _post(row, agent_id=agent_id)
        row.last_result = result
        if ok:
            row.status = SandboxCallback.Status.DELIVERED
            row.delivered_at = timezone.now()
        elif row.attempts >= MAX_ATTEMPTS:
            row.status = SandboxCallback.Status.FAILED
        SandboxCallback.objects.filter(pk=row.pk).update(
            last_result=row.last_result, status=row.status, delivered_at=row.delivered_at
        )
        logger.info("sandbox callback #%s attempt %s: %s", row.pk, row.attempts, result)
        if ok or row.status == SandboxCallback.Status.FAILED:
            break
        if time.monotonic() - started < DELIVERY_TIMEOUT:
            time.sleep(RESEND_PAUSE)
    return row


def callbacks_deliver_pending(*, corp_id: str | None = None, batch: int = 100) -> int:
    """Deliver what waits in the outbox, oldest first; returns how many rows were delivered.

    Takes rows not yet attempted, and rows abandoned mid-delivery (:data:`ABANDONED_AFTER`), but
    not rows another thread is re-sending right now.
    """
    delivered = 0
    last_id = 0
    while True:
        rows = SandboxCallback.objects.filter(status=SandboxCallback.Status.PENDING, pk__gt=last_id).filter(
            Q(attempts=0) | Q(created_at__lt=timezone.now() - ABANDONED_AFTER)
        )
        if corp_id:
            rows = rows.filter(corp_id=corp_id)
        ids = list(rows.order_by("id").values_list("id", flat=True)[:batch])
        if not ids:
            return delivered
        for row_id in ids:
            row = callback_deliver(row_id=row_id)
            if row is not None and row.status == SandboxCallback.Status.DELIVERED:
                delivered += 1
        last_id = ids[-1]


class _DeliveryLoop:
    """One background thread per process posting the outbox, woken after each emitting commit.

    It never runs inside the request that caused the callback, so a player action answers at
    once while WeCom's side "sends" in the background, in order. Started lazily (after a fork too),
    so management commands that emit nothing never start it; once started it also sweeps every
    :data:`SWEEP_INTERVAL` seconds for rows other processes left behind.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._pid = 0

    def kick(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive() or self._pid != os.getpid():
                self._pid = os.getpid()
                self._wake, self._stop = threading.Event(), threading.Event()
                self._thread = threading.Thread(
                    target=self._run, args=(self._wake, self._stop), name="sandbox-callbacks", daemon=True
                )
                self._thread.start()
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        """End the thread once its current delivery is done (tests, before their database goes)."""
        with self._lock:
            thread, self._thread = self._thread, None
            self._stop.set()
            self._wake.set()
        if thread is not None and thread.is_alive() and thread is not threading.current_thread():
            thread.join(timeout)

    @staticmethod
    def _run(wake: threading.Event, stop: threading.Event) -> None:
        while not stop.is_set():
            wake.wait(SWEEP_INTERVAL)
            wake.clear()
            if stop.is_set():
                break
            try:
                callbacks_deliver_pending()
            except Exception:
                logger.exception("sandbox callback delivery failed")
            finally:
                # A thread of its own: its connection is closed here, not by a request's end.
                close_old_connections()
                connection.close()


_loop = _DeliveryLoop()


def callbacks_delivery_stop() -> None:
    """Stop this process's background delivery; the next emitting commit starts it again."""
    _loop.stop()
