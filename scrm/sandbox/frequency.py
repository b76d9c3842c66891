"""Frequency control as WeCom applies it per corp and API (WECOM.md §15), off by default.

Limits come from :class:`~.models.SandboxLimits` ``frequency_limits``. Each call counts in a
fixed minute window and a fixed hour window of the simulated clock; the call that goes over a
limit answers 45009 and blocks the API for that corp: 60 s after a minute breach, 60 min after an
hour breach. Blocked calls answer 45009 without counting, as WeCom keeps refusing until the block
window has passed. Tests move past a block by advancing the simulated clock.
"""

from __future__ import annotations

from django.db import IntegrityError, transaction
from django.db.models import F

from .clock import sandbox_time
from .models import SandboxFrequencyBlock, SandboxFrequencyCounter, SandboxLimits

#: Window name → (length in seconds, block after a breach in seconds).
WINDOWS = {"minute": (60, 60), "hour": (3600, 3600)}


def limits_get() -> SandboxLimits:
    """The emulator's limits (the defaults when no row was saved)."""
    return SandboxLimits.objects.filter(pk=1).first() or SandboxLimits(pk=1)


def limits_set(**values: object) -> SandboxLimits:
    """Change some limits (``api_quota``, ``group_member_cap``, ``scan_join_cap``, ``frequency_limits``)."""
    unknown = set(values) - {"api_quota", "group_member_cap", "scan_join_cap", "frequency_limits"}
    if unknown:
        raise ValueError(f"unknown sandbox limits: {sorted(unknown)}")
    limits, _ = SandboxLimits.objects.update_or_create(pk=1, defaults=values)
    return limits


def frequency_reset() -> None:
    """Forget every counter and block (tests, the console)."""
    SandboxFrequencyCounter.objects.all().delete()
    SandboxFrequencyBlock.objects.all().delete()


def _limits_for(path: str) -> dict[str, int]:
    configured = SandboxLimits.objects.filter(pk=1).values_list("frequency_limits", flat=True).first()
    if not configured:
        return {}
    rule = configured.get(path, configured.get("*")) or {}
    return {window: int(rule[window]) for window in WINDOWS if rule.get(window)}


def _count(corp_id: str, path: str, window: str, bucket: int) -> int:
    """Add this call to the window's counter; returns the new count (safe under concurrency)."""
    counters = SandboxFrequencyCounter.objects.filter(
        corp_id=corp_id, path=path, window=window, bucket=bucket
    )
    if not counters.update(count=F("count") + 1):
        try:
            with transaction.atomic():
                SandboxFrequencyCounter.objects.create(
                    corp_id=corp_id, path=path, window=window, bucket=bucket, count=1
                )
            return 1
        except IntegrityError:  # another call created it first
            counters.update(count=F("count") + 1)
    return int(counters.values_list("count", flat=True).first() or 0)


def frequency_check(*, corp_id: str, path: str) -> bool:
    """Count one call of ``corp_id`` to ``path``; False when WeCom would answer 45009."""
    limits = _limits_for(path)
    if not limits:
        return True
    now = sandbox_time()
    if SandboxFrequencyBlock.objects.filter(corp_id=corp_id, path=path, until__gt=now).exists():
        return False
    allowed = True
    block_until = 0
    for window, limit in limits.items():
        length, block = WINDOWS[window]
        if _count(corp_id, path, window, now // length) > limit:
            allowed = False
            block_until = max(block_until, now + block)
    if not allowed:
        SandboxFrequencyBlock.objects.update_or_create(
            corp_id=corp_id, path=path, defaults={"until": block_until}
        )
    return allowed
