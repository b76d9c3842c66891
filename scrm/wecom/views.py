"""The WeCom callback endpoint, ``/wecom/callback/``.

GET answers WeCom's URL verification with the decrypted ``echostr``. POST takes an encrypted
event: the signature over ``Encrypt`` is checked before anything is decrypted, the timestamp must
be fresh, the inner XML is parsed with entities forbidden, and the event is stored once in the
inbox before the answer; the work happens after commit, on the ``realtime`` queue (QUALITY.md
trap 1). Every bad request gets a short 4xx and stores nothing.
"""

from __future__ import annotations

import functools
import logging
import time

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from .crypto import CallbackCrypto, CallbackCryptoError, InvalidSignature, ReceiveIdMismatch
from .events import EventParseError, event_from_root, xml_parse
from .services import inbox_receive

logger = logging.getLogger(__name__)

DEFAULT_MAX_BODY = 64 * 1024
DEFAULT_MAX_SKEW = 300


def callback_crypto() -> CallbackCrypto:
    return _crypto_for(settings.WECOM_TOKEN, settings.WECOM_AES_KEY, settings.WECOM_CORP_ID)


@functools.lru_cache(maxsize=4)
def _crypto_for(token: str, aes_key: str, corp_id: str) -> CallbackCrypto:
    """One crypto object per configuration, built once, not per request (it holds no state)."""
    return CallbackCrypto(token, aes_key, corp_id)


def _plain(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/plain; charset=utf-8")


def _refuse(status: int, message: str) -> HttpResponse:
    logger.warning("wecom callback refused (%s): %s", status, message)
    return _plain(message, status)


def _fresh(timestamp: str) -> bool:
    try:
        sent = int(timestamp)
    except ValueError:
        return False
    max_skew = getattr(settings, "WECOM_CALLBACK_MAX_SKEW", DEFAULT_MAX_SKEW)
    return abs(time.time() - sent) <= max_skew


@csrf_exempt
@require_http_methods(["GET", "POST"])
def callback(request: HttpRequest) -> HttpResponse:
    signature = request.GET.get("msg_signature", "")
    timestamp = request.GET.get("timestamp", "")
    nonce = request.GET.get("nonce", "")
    if not (signature and timestamp and nonce):
        return _refuse(400, "missing msg_signature, timestamp or nonce")
    if request.method == "GET":
        return _verify_url(signature, timestamp, nonce, request.GET.get("echostr", ""))
    return _receive(request, signature, timestamp, nonce)


def _verify_url(signature: str, timestamp: str, nonce: str, echostr: str) -> HttpResponse:
    # A "+" of the base64 may arrive as a space when the query string was decoded twice.
    echostr = echostr.replace(" ", "+")
    if not echostr:
        return _refuse(400, "missing echostr")
    try:
        plaintext = callback_crypto().decrypt_verified(signature, timestamp, nonce, echostr)
    except InvalidSignature:
        return _refuse(403, "bad signature")
    except ReceiveIdMismatch:
        return _refuse(403, "wrong corp")
    except CallbackCryptoError:
        return _refuse(400, "bad echostr")
    return _plain(plaintext)


def _receive(request: HttpRequest, signature: str, timestamp: str, nonce: str) -> HttpResponse:
    max_body = getattr(settings, "WECOM_CALLBACK_MAX_BODY", DEFAULT_MAX_BODY)
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return _refuse(400, "bad content length")
    if declared > max_body:
        return _refuse(413, "body too large")
    body = request.read(max_body + 1)
    if len(body) > max_body:
        return _refuse(413, "body too large")
    if not _fresh(timestamp):
        return _refuse(403, "stale timestamp")
    crypto = callback_crypto()
    try:
        envelope = xml_parse(body)
    except EventParseError:
        return _refuse(400, "malformed XML")
    encrypt = (envelope.findtext("Encrypt") or "").strip()
    if not encrypt:
        return _refuse(400, "missing Encrypt")
    to_user = (envelope.findtext("ToUserName") or "").strip()
    try:
        crypto.verify(signature, timestamp, nonce, encrypt)
    except InvalidSignature:
        return _refuse(403, "bad signature")
    if to_user and to_user != settings.WECOM_CORP_ID:
        return _refuse(403, "wrong corp")
    try:
        xml = crypto.decrypt(encrypt)
    except ReceiveIdMismatch:
        return _refuse(403, "wrong corp")
    except CallbackCryptoError:
        return _refuse(400, "cannot decrypt")
    try:
        event = event_from_root(xml_parse(xml))
    except EventParseError:
        return _refuse(400, "malformed event XML")
    if event.to_user_name and event.to_user_name != settings.WECOM_CORP_ID:
        return _refuse(403, "wrong corp")
    row, created = inbox_receive(event=event, xml=xml)
    logger.info(
        "wecom callback %s/%s stored as %s (new: %s)", event.event, event.change_type, row.pk, created
    )
    return _plain("success")
