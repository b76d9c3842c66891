"""The WeCom server API client: one instance per secret, shared access token, typed methods.

- ``access_token`` always travels as a query parameter, also on POST (WECOM.md §0).
- The token is cached in the Django cache (Redis in production) per corp id and secret digest,
  for a little less than ``expires_in``. Only one process refreshes it at a time: a cache lock
  (``cache.add``) elects the refresher, the others poll the cache for the new token.
- A call refused with 40001/40014/42001 drops that token, refreshes once and retries once. If
  ``gettoken`` itself answers 40001 the secret is wrong: :class:`~.errors.InvalidSecret`, no loop.
- System busy, rate or concurrency limits, timeouts and connection errors raise
  :class:`~.errors.TransientError` for the caller (a Celery task) to retry with backoff.
- A client-side :class:`~.ratelimit.RateLimiter` keeps all processes under WeCom's per-API limit.
- Neither the secret nor the token is ever logged; ``access_token=`` and ``corpsecret=`` are
  redacted from every URL we log, and from httpx's own request log.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
import uuid
from collections.abc import Mapping
from typing import Any, Literal

import httpx
from django.conf import settings
from django.core.cache import BaseCache
from django.core.cache import cache as default_cache

from ..log_filters import RedactSecrets, redact
from .endpoints import (
    ContactsApi,
    ContactWaysApi,
    GroupsApi,
    JoinWaysApi,
    MassMessagesApi,
    MediaApi,
    MessagesApi,
    MomentsApi,
    StatisticsApi,
    TagsApi,
    TransfersApi,
    WelcomeTemplatesApi,
)
from .errors import (
    TOKEN_ERRCODES,
    ArgumentError,
    InvalidSecret,
    NetworkError,
    Timeout,
    TokenRefreshBusy,
    WecomError,
    error_for,
)
from .ratelimit import DEFAULT_LIMIT_PER_MINUTE, RateLimiter

logger = logging.getLogger(__name__)

Json = dict[str, Any]

for _name in ("httpx", "httpcore"):
    _logger = logging.getLogger(_name)
    if not any(isinstance(f, RedactSecrets) for f in _logger.filters):
        _logger.addFilter(RedactSecrets())


def _secret_digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class WecomClient(
    ContactsApi,
    TagsApi,
    ContactWaysApi,
    GroupsApi,
    JoinWaysApi,
    MessagesApi,
    WelcomeTemplatesApi,
    MassMessagesApi,
    MomentsApi,
    TransfersApi,
    StatisticsApi,
    MediaApi,
):
    """A client for one WeCom app (one ``corp_id`` + ``secret``), safe to share between threads.

    ``base_url`` is ``https://qyapi.weixin.qq.com/cgi-bin`` for real WeCom or the sandbox's
    ``…/sandbox/cgi-bin``. The typed methods come from the mixins of :mod:`.endpoints`, one per
    area of WECOM.md; this class adds the transport, the shared token and :meth:`call`.
    ``cache`` holds the shared token, its refresh lock and the rate-limit counters; it defaults to
    Django's default cache.
    """

    #: Seconds before WeCom's ``expires_in`` at which our cached copy expires.
    TOKEN_MARGIN = 300

    def __init__(
        self,
        corp_id: str,
        secret: str,
        *,
        base_url: str,
        timeout: float = 10.0,
        cache: BaseCache | None = None,
        rate_limiter: RateLimiter | None = None,
        lock_timeout: float = 10.0,
        poll_interval: float = 0.05,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        if not corp_id or not secret:
            raise ArgumentError(None, "corp_id and secret are required", "client")
        self.corp_id = corp_id
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.cache = cache if cache is not None else default_cache
        self.rate_limiter = rate_limiter or RateLimiter(cache=self.cache)
        # The lock outlives a slow gettoken, so that a second refresher cannot start meanwhile.
        self.lock_timeout = max(lock_timeout, timeout * 2)
        self.poll_interval = poll_interval
        digest = _secret_digest(secret)
        self._token_key = f"wecom:token:{corp_id}:{digest}"
        self._lock_key = f"wecom:token-lock:{corp_id}:{digest}"
        self._http = httpx.Client(base_url=self.base_url + "/", timeout=timeout, transport=transport)

    def __repr__(self) -> str:  # never show the secret
        return f"<WecomClient corp_id={self.corp_id!r} base_url={self.base_url!r}>"

    def close(self) -> None:
        """Close the pooled HTTP connections."""
        self._http.close()

    # --- transport ---------------------------------------------------------------------------------

    def _send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any],
        body: Json | None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> Json:
        """One HTTP exchange; returns WeCom's JSON whatever its errcode. Raises NetworkError.

        ``files`` makes it a multipart upload (``media/upload``) instead of a JSON body.
        """
        self.rate_limiter.acquire(f"{self.corp_id}:{path}")
        started = time.monotonic()
        try:
            if files is not None:
                response = self._http.request(method, path, params=params, files=dict(files))
            else:
                response = self._http.request(method, path, params=params, json=body)
        except httpx.TimeoutException as exc:
            logger.warning("WeCom %s %s timed out", method, path)
            raise Timeout(None, type(exc).__name__, path) from None
        except httpx.TransportError as exc:
            logger.warning("WeCom %s %s failed: %s", method, path, type(exc).__name__)
            raise NetworkError(None, type(exc).__name__, path) from None
        elapsed_ms = (time.monotonic() - started) * 1000
        if response.status_code != 200:
            logger.warning("WeCom %s %s answered HTTP %s", method, path, response.status_code)
            raise NetworkError(None, f"HTTP {response.status_code}", path)
        try:
            data = response.json()
        except ValueError:
            raise NetworkError(None, "response is not JSON", path) from None
        if not isinstance(data, dict):
            raise NetworkError(None, "response is not a JSON object", path)
        logger.debug(
            "WeCom %s %s -> errcode %s in %.0f ms",
            method,
            redact(str(response.request.url)),
            data.get("errcode", 0),
            elapsed_ms,
        )
        return data

    # --- access token ------------------------------------------------------------------------------

    def gettoken(self) -> Json:
        """``GET /gettoken``: a fresh ``{"access_token", "expires_in"}``, bypassing the cache.

        Raises :class:`~.errors.InvalidSecret` when WeCom refuses the secret (40001 here).
        """
        data = self._send(
            "GET", "gettoken", params={"corpid": self.corp_id, "corpsecret": self._secret}, body=None
        )
        errcode = data.get("errcode", 0)
        if errcode == 40001:
            logger.error("WeCom refused the secret for corp %s: check the configuration", self.corp_id)
            raise InvalidSecret(errcode, data.get("errmsg", ""), "gettoken")
        if errcode:
            raise error_for(errcode, data.get("errmsg", ""), "gettoken")
        return data

    def access_token(self) -> str:
        """The shared token for this corp and secret, fetched once and cached for all processes."""
        token = self.cache.get(self._token_key)
        if token:
            return token
        return self._refresh(stale=None)

    def _drop_token(self, token: str) -> None:
        # Only drop the token that failed: another process may already have stored a new one.
        if self.cache.get(self._token_key) == token:
            self.cache.delete(self._token_key)

    def _refresh(self, *, stale: str | None) -> str:
        """Fetch a new token, one refresher at a time; others wait for its result in the cache."""
        deadline = time.monotonic() + self.lock_timeout
        owner = uuid.uuid4().hex
        while True:
            current = self.cache.get(self._token_key)
            if current and current != stale:
                return current
            if self.cache.add(self._lock_key, owner, timeout=int(self.lock_timeout) + 1):
                try:
                    current = self.cache.get(self._token_key)
                    if current and current != stale:
                        return current
                    data = self.gettoken()
                    token = data["access_token"]
                    expires_in = int(data.get("expires_in", 7200))
                    margin = min(self.TOKEN_MARGIN, expires_in // 10)
                    self.cache.set(self._token_key, token, timeout=max(expires_in - margin, 1))
                    logger.info("WeCom access token refreshed for corp %s", self.corp_id)
                    return token
                finally:
                    if self.cache.get(self._lock_key) == owner:
                        self.cache.delete(self._lock_key)
            # Someone else is refreshing: wait until the lock is released, then take their token
            # (even if WeCom handed back the same one).
            while self.cache.get(self._lock_key) is not None:
                if time.monotonic() > deadline:
                    raise TokenRefreshBusy(None, "gave up waiting for the token refresh lock", "gettoken")
                time.sleep(self.poll_interval)
            current = self.cache.get(self._token_key)
            if current:
                return current
            if time.monotonic() > deadline:
                raise TokenRefreshBusy(None, "no token after the refresh lock was released", "gettoken")

    # --- calls -------------------------------------------------------------------------------------

    def call(
        self,
        method: Literal["GET", "POST"],
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        body: Json | None = None,
        files: Mapping[str, tuple[str, bytes, str]] | None = None,
    ) -> Json:
        """Call ``path`` with the shared token; refresh and retry once on a token error.

        Returns WeCom's JSON when ``errcode`` is 0; raises the matching :class:`WecomError`.
        ``files`` (field → (filename, content, content type)) sends a multipart upload.
        """
        path = path.lstrip("/")
        for attempt in (1, 2):
            token = self.access_token()
            data = self._send(
                method, path, params={**(params or {}), "access_token": token}, body=body, files=files
            )
            errcode = data.get("errcode", 0)
            if not errcode:
                return data
            if errcode in TOKEN_ERRCODES and attempt == 1:
                logger.info("WeCom %s answered %s: refreshing the token and retrying once", path, errcode)
                self._drop_token(token)
                self._refresh(stale=token)
                continue
            error = error_for(errcode, str(data.get("errmsg", "")), path)
            logger.info("WeCom %s failed: %s", path, error)
            raise error
        raise AssertionError("unreachable")  # pragma: no cover

    def _get(self, path: str, **params: Any) -> Json:
        return self.call("GET", path, params={k: v for k, v in params.items() if v is not None})

    def _post(self, path: str, body: Json) -> Json:
        return self.call("POST", path, body=body)

    def _upload(self, path: str, *, filename: str, content: bytes, content_type: str, **params: Any) -> Json:
        # The file travels in the multipart field "media", as WeCom takes it.
        return self.call("POST", path, params=params, files={"media": (filename, content, content_type)})


_clients: dict[tuple[str, ...], WecomClient] = {}
_clients_lock = threading.Lock()


def wecom_client(kind: Literal["contact", "agent"] = "contact") -> WecomClient:
    """The shared client for the customer-contact secret or the app (agent) secret, from settings.

    Clients are kept per configuration, so connections are pooled and reused across calls.
    Settings: ``WECOM_CORP_ID``, ``WECOM_SECRET``, ``WECOM_AGENT_SECRET``, ``WECOM_API_BASE``,
    ``WECOM_HTTP_TIMEOUT`` and the optional ``WECOM_RATE_LIMIT_PER_MINUTE`` (default 9000).
    """
    if kind == "contact":
        secret = settings.WECOM_SECRET
    elif kind == "agent":
        secret = settings.WECOM_AGENT_SECRET
    else:
        raise ValueError(f"unknown WeCom client kind {kind!r}")
    limit = int(getattr(settings, "WECOM_RATE_LIMIT_PER_MINUTE", DEFAULT_LIMIT_PER_MINUTE))
    config = (kind, settings.WECOM_CORP_ID, _secret_digest(secret), settings.WECOM_API_BASE, str(limit))
    with _clients_lock:
        client = _clients.get(config)
        if client is None:
            client = WecomClient(
                settings.WECOM_CORP_ID,
                secret,
                base_url=settings.WECOM_API_BASE,
                timeout=settings.WECOM_HTTP_TIMEOUT,
                rate_limiter=RateLimiter(cache=default_cache, limit=limit),
            )
            _clients[config] = client
        return client


def wecom_clients_close() -> None:
    """Close and forget the shared clients (worker shutdown, tests changing settings)."""
    with _clients_lock:
        for client in _clients.values():
            client.close()
        _clients.clear()


__all__ = ["WecomClient", "WecomError", "redact", "wecom_client", "wecom_clients_close"]
