"""The one view that answers every emulated WeCom call: record, faults, token, rights, handler."""

from __future__ import annotations

import json
import random
import secrets
import threading
import time
from contextlib import AbstractContextManager, nullcontext
from datetime import timedelta

from django.db import connection, transaction
from django.db.models import F
from django.http import HttpRequest, JsonResponse
from django.http.multipartparser import MultiPartParserError
from django.utils import timezone
from django.views.decorators.csrf import csrf_exempt

from scrm.fields import secret_digest

from ..frequency import frequency_check
from ..models import (
    SandboxAccessToken,
    SandboxApp,
    SandboxCall,
    SandboxFaults,
)
from .base import (
    ENDPOINTS,
    TOKEN_LIFETIME,
    ApiError,
    Ctx,
    Json,
    errmsg,
)

# --- the one view -----------------------------------------------------------------------------------

# SQLite has one writer at a time, and the test suite's shared in-memory database even fails with
# "table is locked" instead of waiting; on SQLite the sandbox therefore answers one call at a time.
_sqlite_lock = threading.Lock()


def _serialized() -> AbstractContextManager[object]:
    return _sqlite_lock if connection.vendor == "sqlite" else nullcontext()


@csrf_exempt
def api(request: HttpRequest, path: str) -> JsonResponse:
    """Answer one WeCom API call, recording it in :class:`SandboxCall`."""
    with _serialized():
        return _answer(request, path)


def _answer(request: HttpRequest, path: str) -> JsonResponse:
    params = {k: v for k, v in request.GET.items() if k not in ("access_token", "corpsecret")}
    body: Json | None = None
    call = SandboxCall(
        method=request.method or "GET", path=path, params=params, corp_id=params.get("corpid", "")
    )
    multipart = request.method == "POST" and request.content_type == "multipart/form-data"
    try:
        if multipart:
            # Media uploads (media/upload, media/uploadimg): the record keeps the file's name and size.
            try:
                uploads = request.FILES
            except MultiPartParserError:
                raise ApiError(47001, "malformed multipart body") from None
            body = {
                name: {"filename": f.name, "size": f.size, "content_type": f.content_type or ""}
                for name, f in uploads.items()
            }
            call.body = body
        elif request.method == "POST":
            try:
                body = json.loads(request.body or b"{}")
            except ValueError:
                raise ApiError(47001) from None
            if not isinstance(body, dict):
                raise ApiError(47001)
            call.body = body
        faulted = _apply_faults(path, request.GET.get("access_token", ""))
        if faulted:
            call.fault = True
            raise ApiError(faulted, "injected fault")
        if path == "gettoken":
            data = _gettoken(request)
        else:
            spec = ENDPOINTS.get(path)
            if spec is None:
                raise ApiError(48002, f"{path} is not emulated")
            app = _authenticate(request.GET.get("access_token", ""))
            call.corp_id = app.corp_id
            if spec.method != request.method:
                raise ApiError(43002 if spec.method == "POST" else 43001)
            if spec.contact and not app.customer_contact:
                raise ApiError(48002, "app is not allowed to call customer contact APIs")
            if not frequency_check(corp_id=app.corp_id, path=path):
                raise ApiError(45009, "frequency limit, blocked for the window")
            files = dict(request.FILES.items()) if multipart else {}
            data = spec.handler(Ctx(app=app, params=params, body=body or {}, files=files))
        payload = {"errcode": 0, "errmsg": "ok", **data}
    except ApiError as exc:
        payload = {"errcode": exc.errcode, "errmsg": errmsg(exc.errcode, exc.detail)}
    call.errcode = payload["errcode"]
    call.save()
    return JsonResponse(payload, json_dumps_params={"ensure_ascii": False})


def _apply_faults(path: str, token: str) -> int:
    """The injected errcode for this call, or 0. Latency is applied here too."""
    faults = SandboxFaults.objects.filter(pk=1).first()
    if faults is None:
        return 0
    if faults.latency_ms:
        time.sleep(faults.latency_ms / 1000)
    if faults.fail_paths and path not in faults.fail_paths:
        return 0
    if faults.timeout_rate and random.random() < faults.timeout_rate:
        time.sleep(faults.timeout_ms / 1000)  # the client gives up first; the call still happens
    code = 0
    if faults.fail_next and SandboxFaults.objects.filter(pk=1, fail_next__gt=0).update(
        fail_next=F("fail_next") - 1
    ):
        code = faults.fail_errcode
    elif faults.error_rate and faults.error_codes and random.random() < faults.error_rate:
        code = random.choice(faults.error_codes)
    if code == 42001 and token:
        SandboxAccessToken.objects.filter(token=token).update(expires_at=timezone.now())
    elif code == 40014 and token:
        SandboxAccessToken.objects.filter(token=token).update(invalidated=True)
    return code


def _gettoken(request: HttpRequest) -> Json:
    corp_id = request.GET.get("corpid", "")
    secret = request.GET.get("corpsecret", "")
    if not corp_id or not SandboxApp.objects.filter(corp_id=corp_id).exists():
        raise ApiError(40013)
    if not secret:
        raise ApiError(41004)
    app = SandboxApp.objects.filter(corp_id=corp_id, secret_digest=secret_digest(secret)).first()
    if app is None:
        raise ApiError(40001)
    now = timezone.now()
    with transaction.atomic():
        # Like WeCom (older doc): the same token until it expires or is invalidated.
        current = (
            SandboxAccessToken.objects.select_for_update()
            .filter(app=app, invalidated=False, expires_at__gt=now)
            .order_by("-expires_at")
            .first()
        )
        if current is None:
            current = SandboxAccessToken.objects.create(
                app=app, token=secrets.token_urlsafe(48), expires_at=now + timedelta(seconds=TOKEN_LIFETIME)
            )
    expires_in = max(int((current.expires_at - now).total_seconds()), 1)
    return {"access_token": current.token, "expires_in": expires_in}


def _authenticate(token: str) -> SandboxApp:
    if not token:
        raise ApiError(41001)
    row = SandboxAccessToken.objects.select_related("app").filter(token=token).first()
    if row is None or row.invalidated:
        raise ApiError(40014)
    if row.expires_at <= timezone.now():
        raise ApiError(42001)
    return row.app
