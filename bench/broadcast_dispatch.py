"""P6: a broadcast to every customer of the data set, planned and handed to the API in its largest
batches (QUALITY.md: 1,000,000 customers in < 30 s, excluding the API's own latency).

One run: ``broadcast_plan`` writes a recipient row per customer (a sender chosen for each, in
SQL), ``broadcast_dispatch`` cuts them into sender batches of at most 10,000 and every batch goes
through the real send path (claim, ``add_msg_template`` over HTTP, record) with the real client.
The sandbox answers from a server process of its own (bench/sync.py's), so its CPU is not ours;
the timing transport adds up the HTTP wait, and our own time is the wall time minus that wait.
Our side runs in a transaction that is rolled back; the messages the sandbox created are deleted
afterwards, so the data set is left as it was.
"""

from __future__ import annotations

import time

from django.conf import settings
from django.core.cache import cache
from django.db import transaction
from django.test.utils import override_settings

from .measure import Figure, Target
from .scenarios import BenchError, Result
from .sync import WECOM_LIMIT_PER_MINUTE, TimingTransport, sandbox_server

TARGET_SECONDS = 30.0  # QUALITY.md P6, our own time


def _one_run(client, transport: TimingTransport) -> dict:
    """Plan, batch and hand over every customer, in a transaction rolled back; the figures."""
    from campaigns.models import Broadcast, BroadcastBatch, BroadcastRecipient
    from campaigns.services.broadcast_dispatch import broadcast_batch_send, broadcast_dispatch
    from campaigns.services.broadcasts import broadcast_plan

    with transaction.atomic():
        broadcast = Broadcast.objects.create(
            name="bench P6", text="P6: everyone, once", status=Broadcast.Status.PLANNING
        )
        waited_before, calls_before = transport.waited, transport.calls
        started = time.perf_counter()
        broadcast_plan(broadcast_id=broadcast.pk)  # its dispatch waits for a commit: called below
        planned = time.perf_counter() - started
        batches = broadcast_dispatch(broadcast_id=broadcast.pk)
        batched = time.perf_counter() - started
        for batch_id in (
            BroadcastBatch.objects.filter(broadcast=broadcast).order_by("id").values_list("pk", flat=True)
        ):
            if broadcast_batch_send(batch_id=batch_id, client=client) is not None:
                raise BenchError(f"batch {batch_id} was not handed over: a WeCom error, see the log")
        wall = time.perf_counter() - started
        waited = transport.waited - waited_before
        rows = BroadcastRecipient.objects.filter(broadcast=broadcast).count()
        handed = BroadcastRecipient.objects.filter(broadcast=broadcast, status="handed").count()
        open_batches = BroadcastBatch.objects.filter(broadcast=broadcast).exclude(status="handed").count()
        transaction.set_rollback(True)
    if open_batches:
        raise BenchError(f"{open_batches} batches were not handed over")
    return {
        "plan": planned,
        "batch": batched - planned,
        "wall": wall,
        "waited": waited,
        "own": wall - waited,
        "rows": rows,
        "handed": handed,
        "batches": batches,
        "calls": transport.calls - calls_before,
    }


def _sandbox_messages_delete(corp_id: str, *, after: int) -> None:
    """Delete what the sandbox created for a run (its own tables, committed), one DELETE per table."""
    from scrm.sandbox.models import SandboxMassMessage, SandboxMassRecipient, SandboxMassTask

    messages = SandboxMassMessage.objects.filter(corp_id=corp_id, pk__gt=after)
    SandboxMassRecipient.objects.filter(message__in=messages).delete()
    SandboxMassTask.objects.filter(message__in=messages).delete()
    messages.delete()


def p6_dispatch(*, runs: int = 1, server: str = "process", say=print) -> Result:
    """Measure P6 (see the module docstring). Django must be set up and the data set built."""
    from scrm.sandbox.models import SandboxApp, SandboxMassMessage
    from scrm.sandbox.seed import sandbox_apps_create
    from scrm.wecom.client import WecomClient
    from scrm.wecom.ratelimit import RateLimiter

    result = Result(
        "P6", "a broadcast to every customer planned and handed to the API in its largest batches"
    )
    corp_id = settings.WECOM_CORP_ID
    # The apps' secrets are encrypted under this run's SECRET_KEY (see bench/sync.py).
    SandboxApp.objects.filter(corp_id=corp_id).only("id").delete()
    sandbox_apps_create(corp_id=corp_id, contact_secret=settings.WECOM_SECRET)
    first_message = SandboxMassMessage.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    samples: list[dict] = []
    with sandbox_server(server, say) as (base_url, inner, pid):
        transport = TimingTransport(inner)
        client = WecomClient(
            corp_id,
            settings.WECOM_SECRET,
            base_url=base_url,
            timeout=600,
            transport=transport,
            rate_limiter=RateLimiter(cache=cache, limit=10**9),
        )
        try:
            # Quiet hours would hold every batch back: measured as if in the afternoon.
            with override_settings(OUTREACH_QUIET_HOURS=""):
                for i in range(runs):
                    say(f"  … run {i + 1} of {runs}: plan, batch, hand over")
                    try:
                        samples.append(_one_run(client, transport))
                    finally:
                        _sandbox_messages_delete(corp_id, after=first_message)
        finally:
            client.close()
    last = samples[-1]
    if not last["rows"]:
        raise BenchError("the data set has no customer to send to: build it first")
    result.figures = [
        Figure("plan + batch + hand over, wall time", [s["wall"] for s in samples]),
        Figure("waiting on HTTP (client side)", [s["waited"] for s in samples]),
        Figure("our own time (wall - HTTP wait)", [s["own"] for s in samples]),
        Figure("  of which planning (broadcast_plan)", [s["plan"] for s in samples]),
        Figure("  of which batching (broadcast_dispatch)", [s["batch"] for s in samples]),
    ]
    own = Figure("", [s["own"] for s in samples]).median
    result.notes = [
        f"{last['rows']:,} recipient rows (broadcast_plan), {last['handed']:,} handed over (the "
        f"rest left out by the contact policy) in {last['batches']:,} sender batches of at most "
        f"10,000; {last['calls']:,} HTTP calls",
        f"at WeCom's {WECOM_LIMIT_PER_MINUTE:,} calls/min the {last['batches']:,} calls take at least "
        f"{last['batches'] / WECOM_LIMIT_PER_MINUTE * 60:.1f} s of WeCom's time (not ours)",
    ]
    result.targets = [Target(f"< {TARGET_SECONDS:.0f} s of our own time ({own:.1f} s)", own < TARGET_SECONDS)]
    return result
