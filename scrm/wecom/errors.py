"""Typed WeCom errors, grouped by what the caller should do about them (docs: WECOM.md §17).

Every failed call raises a :class:`WecomError` subclass. Callers branch on the class, never on
``errmsg`` (WeCom says it is informational only):

- :class:`TokenError`: the access token is bad; the client refreshes and retries once by itself.
- :class:`TransientError`: system busy, rate or concurrency limited, timeouts, connection errors;
  tasks retry these with backoff.
- :class:`ConfigError`: wrong corp id or secret, missing permission, IP not trusted; retrying
  will not help, an administrator must fix the configuration.
- :class:`BadRequest`: we sent something invalid; a bug or bad input, not worth a retry.
- :class:`NotFound`: the member, customer, relationship or tag no longer exists; resync.
- :class:`QuotaExceeded`: a WeCom cap is reached; surface it to the user.
- :class:`Rejected`: a business rule refused the call (already done, wrong state); log it.
"""

from __future__ import annotations


class WecomError(Exception):
    """A failed WeCom call: ``errcode`` and ``errmsg`` as WeCom sent them, ``api`` the path called.

    ``errcode`` is ``None`` for failures that never got a WeCom answer (timeouts, bad HTTP).
    """

    meaning = "WeCom error"

    def __init__(
        self, errcode: int | None, errmsg: str = "", api: str = "", *, meaning: str | None = None
    ) -> None:
        self.errcode = errcode
        self.errmsg = errmsg
        self.api = api
        if meaning:
            self.meaning = meaning
        code = "no errcode" if errcode is None else f"errcode {errcode}"
        where = f"{api}: " if api else ""
        detail = f": {errmsg}" if errmsg else ""
        super().__init__(f"{where}{self.meaning} ({code}){detail}")


# --- Token ----------------------------------------------------------------------------------------


class TokenError(WecomError):
    """The access token was refused; drop it, fetch a new one, retry the call once."""

    meaning = "access token refused"


class InvalidCredential(TokenError):
    meaning = "invalid credential"


class TokenInvalid(TokenError):
    meaning = "invalid access_token"


class TokenExpired(TokenError):
    meaning = "access_token expired"


# --- Transient ------------------------------------------------------------------------------------


class TransientError(WecomError):
    """Worth retrying later with backoff: the failure says nothing about the request itself."""

    meaning = "temporary WeCom failure"


class SystemBusy(TransientError):
    meaning = "system busy"


class RateLimited(TransientError):
    """WeCom's frequency limit (45009), or our own client-side limiter before the call.

    ``retry_after`` is the number of seconds until the window passes, when known.
    """

    meaning = "api freq out of limit"

    def __init__(
        self,
        errcode: int | None,
        errmsg: str = "",
        api: str = "",
        *,
        meaning: str | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(errcode, errmsg, api, meaning=meaning)
        self.retry_after = retry_after


class ConcurrencyLimited(TransientError):
    meaning = "concurrency limit reached"


class StillSending(TransientError):
    meaning = "mass message still dispatching"


class NetworkError(TransientError):
    """No usable answer: connection refused or reset, timeout, a 5xx or a body that is not JSON."""

    meaning = "network error"


class Timeout(NetworkError):
    meaning = "request timed out"


class TokenRefreshBusy(TransientError):
    """Another process held the token refresh lock for too long; try again later."""

    meaning = "token refresh in progress elsewhere"


# --- Configuration --------------------------------------------------------------------------------


class ConfigError(WecomError):
    """An administrator must fix the corp id, a secret, an app's permissions or trusted IPs."""

    meaning = "WeCom configuration error"


class InvalidSecret(ConfigError):
    """``gettoken`` refused the secret (40001 there): stop, never loop on it."""

    meaning = "invalid secret"


class InvalidCorpId(ConfigError):
    meaning = "invalid corpid"


class ApiNotAllowed(ConfigError):
    meaning = "api not allowed for this app"


class NoPrivilege(ConfigError):
    meaning = "no privilege to access/modify contact/party/agent"


class IpNotAllowed(ConfigError):
    meaning = "not allow to access from your ip"


# --- Bad request ----------------------------------------------------------------------------------


class BadRequest(WecomError):
    """The request was invalid (missing or malformed parameter, over a documented limit)."""

    meaning = "invalid request"


class ArgumentError(BadRequest, ValueError):
    """Our client refused the arguments before calling WeCom (a documented limit is exceeded)."""

    meaning = "invalid argument"


class WelcomeCodeInvalid(BadRequest):
    """41050: the welcome code expired (20 s) or is unknown. Log it; never retry."""

    meaning = "welcome_code invalid or expired"


# --- Not found ------------------------------------------------------------------------------------


class NotFound(WecomError):
    """The object named in the call does not exist (any more) on WeCom's side; resync it."""

    meaning = "not found"


class UserNotFound(NotFound):
    meaning = "userid not found"


class ExternalUserInvalid(NotFound):
    meaning = "invalid external_userid"


class NoRelationship(NotFound):
    meaning = "no external contact relationship"


class TagNotFound(NotFound):
    meaning = "invalid tag id"


# --- Quotas and business rules --------------------------------------------------------------------


class QuotaExceeded(WecomError):
    """A WeCom cap (tags, contact ways, templates, customers) is reached."""

    meaning = "quota reached"


class Rejected(WecomError):
    """A business rule refused the call: already done, wrong state, or the customer's choice."""

    meaning = "rejected by WeCom"


class TagNameExists(Rejected):
    meaning = "tag name already exists"


class WelcomeAlreadySent(Rejected):
    """41051: the chat already started or another app used the code. Counts as delivered."""

    meaning = "welcome message already sent"


# errcode -> (class, meaning). Meanings are WECOM.md §17's; the class says how to handle it.
ERRORS: dict[int, tuple[type[WecomError], str]] = {
    -1: (SystemBusy, "system busy"),
    40001: (InvalidCredential, "invalid credential"),
    40003: (BadRequest, "invalid userid"),
    40013: (InvalidCorpId, "invalid corpid"),
    40014: (TokenInvalid, "invalid access_token"),
    40029: (BadRequest, "invalid oauth code"),
    40058: (BadRequest, "invalid parameter"),
    40068: (TagNotFound, "invalid tag id"),
    40071: (TagNameExists, "tag name already exists"),
    40091: (ConfigError, "secret belongs to another corp"),
    40096: (ExternalUserInvalid, "invalid external_userid"),
    40097: (Rejected, "member has not resigned"),
    40098: (Rejected, "member not real-name verified"),
    40099: (QuotaExceeded, "external contact quota reached"),
    40100: (Rejected, "member's customers already in a transfer"),
    40126: (QuotaExceeded, "corp tag cap reached"),
    40128: (Rejected, "customer transferred too often"),
    40129: (Rejected, "customer transfer already in progress"),
    40130: (BadRequest, "handover equals takeover"),
    40131: (NotFound, "handover is not the customer's follower"),
    41001: (BadRequest, "access_token missing"),
    41004: (ConfigError, "secret missing"),
    41009: (BadRequest, "userid missing"),
    41037: (BadRequest, "contact way type missing"),
    41038: (BadRequest, "contact way scene missing"),
    41039: (BadRequest, "invalid contact way type"),
    41040: (BadRequest, "invalid contact way scene"),
    41041: (BadRequest, "contact way has more than 100 users"),
    41042: (BadRequest, "invalid contact way style"),
    41043: (BadRequest, "config_id missing"),
    41044: (NotFound, "invalid config_id"),
    41045: (QuotaExceeded, "contact way quota reached"),
    41046: (BadRequest, "msgid missing"),
    41047: (NotFound, "invalid msgid"),
    41048: (Rejected, "no sendable customers"),
    41049: (BadRequest, "welcome_code missing"),
    41050: (WelcomeCodeInvalid, "welcome_code invalid or expired"),
    41051: (WelcomeAlreadySent, "chat already started"),
    41053: (Rejected, "customer has not agreed to chat archiving"),
    41054: (Rejected, "user not activated"),
    41055: (QuotaExceeded, "group welcome template cap reached"),
    41056: (BadRequest, "wrong external id type"),
    41057: (ConfigError, "no WeChat developer account bound"),
    41059: (BadRequest, "moment_id missing"),
    41060: (NotFound, "invalid moment_id"),
    41061: (NotFound, "moment not of this user"),
    41062: (Rejected, "moment not yet published"),
    41063: (StillSending, "mass message still dispatching"),
    41064: (BadRequest, "attachment too large"),
    41065: (BadRequest, "invalid attachment type"),
    42001: (TokenExpired, "access_token expired"),
    42012: (TokenError, "jsapi ticket unusable"),
    45009: (RateLimited, "api freq out of limit"),
    45033: (ConcurrencyLimited, "concurrency limit reached"),
    48002: (ApiNotAllowed, "api forbidden for this app"),
    50001: (ConfigError, "redirect domain mismatch"),
    60011: (NoPrivilege, "no privilege to access/modify contact/party/agent"),
    60020: (IpNotAllowed, "not allow to access from your ip"),
    60111: (UserNotFound, "userid not found"),
    60123: (NotFound, "invalid department id"),
    81013: (BadRequest, "all userid/party/tag invalid or out of range"),
    81017: (BadRequest, "too many items; add an owner filter"),
    84061: (NoRelationship, "no external contact relationship"),
    84074: (ConfigError, "no external contact permission"),
    90500: (Rejected, "group owner not resigned"),
    90501: (NotFound, "not a customer group"),
    90502: (Rejected, "group owner already resigned"),
    90503: (Rejected, "group full of WeChat members"),
    90504: (Rejected, "group owner unchanged"),
    90507: (Rejected, "group inheritance in progress"),
    90508: (Rejected, "group inheritance done"),
}

TOKEN_ERRCODES = frozenset({40001, 40014, 42001})
TRANSIENT_ERRCODES = frozenset(code for code, (cls, _m) in ERRORS.items() if issubclass(cls, TransientError))


def error_for(errcode: int, errmsg: str = "", api: str = "") -> WecomError:
    """The exception for a WeCom ``errcode``; unknown codes give a plain :class:`WecomError`."""
    cls, meaning = ERRORS.get(errcode, (WecomError, "WeCom error"))
    # Shared classes (BadRequest, NotFound, ...) still say which case it was.
    return cls(errcode, errmsg, api, meaning=meaning)
