"""Welcome codes (WECOM.md §7.1): issued with each add event, valid 20 s, used once.

The other side's "add contact" moves call :func:`welcome_code_issue` and put the code in the
``add_external_contact`` callback; ``externalcontact/send_welcome_msg`` consumes it with
:func:`welcome_code_use`. Time is the sandbox's simulated clock, so a test expires a code by
advancing the clock instead of waiting.
"""

from __future__ import annotations

import secrets

from .clock import sandbox_time
from .models import SandboxWelcomeCode

#: Seconds a welcome code stays usable after its add event.
WELCOME_CODE_TTL = 20


def welcome_code_issue(*, corp_id: str, userid: str, external_userid: str) -> str:
    """Issue the welcome code of one add event (member ``userid`` ← customer ``external_userid``)."""
    code = secrets.token_urlsafe(32)
    SandboxWelcomeCode.objects.create(
        corp_id=corp_id, code=code, userid=userid, external_userid=external_userid, issued_at=sandbox_time()
    )
    return code


def welcome_code_use(*, corp_id: str, code: str) -> int:
    """Consume ``code``; 0 when this call won it, else WeCom's errcode.

    41050 when unknown to this corp or older than 20 s; 41051 when already used (several apps may
    receive the same code and the first successful call wins). The conditional update makes the
    race between two callers safe: only one of them changes the row.
    """
    now = sandbox_time()
    row = SandboxWelcomeCode.objects.filter(corp_id=corp_id, code=code).only("used_at", "issued_at").first()
    if row is None:
        return 41050
    if row.used_at is not None:
        return 41051
    if now - row.issued_at > WELCOME_CODE_TTL:
        return 41050
    won = SandboxWelcomeCode.objects.filter(pk=row.pk, used_at__isnull=True).update(used_at=now)
    return 0 if won else 41051
