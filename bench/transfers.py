"""P7: the customers of one departed member reassigned to the policy's successor (QUALITY.md: 50,000
customers in < 30 s of our own time, in WeCom's batches of 100: 500 calls).

The member and their customers are this benchmark's own, whatever the data set holds: a departed
member with ``customers`` customers (``--customers``: 50,000 for the figure, 2,000 in CI) and an
active successor, in the sandbox (committed, so that its server process sees them) and on our
side. One run: ``departure_plan`` writes an item per customer and the batches of 100 by the corp
default policy (a named successor), ``transfer_job_start`` marks the job running, and every batch
goes through the real send path (claim, ``resigned/transfer_customer`` over HTTP, record) with the
real client. Then WeCom's 24 hours pass for these transfers and ``transfer_results_sync`` reads
``resigned/transfer_result`` and moves every follow to the successor; that is reported apart.

The sandbox answers from a server process of its own (bench/sync.py's), so its CPU is not ours;
the timing transport adds up the HTTP wait, and our own time is the wall time minus that wait.
Our side runs in a transaction that is rolled back; the sandbox's rows are deleted afterwards.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from datetime import timedelta

from django.conf import settings
from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.test.utils import override_settings
from django.utils import timezone

from .measure import Figure, Target
from .scenarios import BenchError, Result
from .sync import WECOM_LIMIT_PER_MINUTE, TimingTransport, sandbox_server

TARGET_SECONDS = 30.0  # QUALITY.md P7, our own time
LEAVER = "bench_p7_leaver"
SUCCESSOR = "bench_p7_successor"
PREFIX = "wmbenchp7"  # the external userids of this benchmark's customers
CHUNK = 5_000


def _external_userid(n: int) -> str:
    return f"{PREFIX}{n:08d}"


def _sandbox_fill(corp_id: str, customers: int) -> None:
    """The departed member (status 5), the successor and the customers, committed in the sandbox."""
    from scrm.sandbox.models import SandboxExternalContact, SandboxFollow, SandboxMember

    _sandbox_clear(corp_id)
    now = int(time.time())
    leaver = SandboxMember.objects.create(
        corp_id=corp_id, userid=LEAVER, name="P7 leaver", status=5, dimission_time=now - 3600
    )
    SandboxMember.objects.create(corp_id=corp_id, userid=SUCCESSOR, name="P7 successor")
    for start in range(0, customers, CHUNK):
        contacts = SandboxExternalContact.objects.bulk_create(
            SandboxExternalContact(corp_id=corp_id, external_userid=_external_userid(n), name=f"P7 {n}")
            for n in range(start, min(start + CHUNK, customers))
        )
        SandboxFollow.objects.bulk_create(
            SandboxFollow(member=leaver, contact=c, createtime=now - 86400 * 30, add_way=1) for c in contacts
        )


def _sandbox_clear(corp_id: str) -> None:
    """Everything this benchmark put in the sandbox or made it write, one DELETE per table."""
    from scrm.sandbox.models import SandboxExternalContact, SandboxFollow, SandboxMember, SandboxTransfer

    members = SandboxMember.objects.filter(corp_id=corp_id, userid__in=[LEAVER, SUCCESSOR])
    SandboxTransfer.objects.filter(corp_id=corp_id, handover_userid__in=[LEAVER, SUCCESSOR]).delete()
    SandboxFollow.objects.filter(member__in=members)._raw_delete(SandboxFollow.objects.db)
    contacts = SandboxExternalContact.objects.filter(corp_id=corp_id, external_userid__startswith=PREFIX)
    contacts._raw_delete(SandboxExternalContact.objects.db)
    members.delete()


@contextmanager
def _sandbox_connection(server: str):
    """A connection that writes the sandbox's side where its server reads it: committed at once
    from a connection of its own (the server is another process), or this one (in-process)."""
    if server == "inprocess":
        yield connection
        return
    other = connections.create_connection(DEFAULT_DB_ALIAS)
    try:
        yield other
    finally:
        other.close()


def _day_passes(server: str, corp_id: str) -> int:
    """WeCom's 24 hours pass for this benchmark's transfers: their takeover time is now. The
    sandbox takes them over when its results are next read (as after a clock advance)."""
    from scrm.sandbox.clock import sandbox_time
    from scrm.sandbox.models import SandboxTransfer

    table = connection.ops.quote_name(SandboxTransfer._meta.db_table)
    with _sandbox_connection(server) as db, db.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET takeover_time = %s "
            "WHERE corp_id = %s AND handover_userid = %s AND status = 2",
            [sandbox_time() - 1, corp_id, LEAVER],
        )
        return cursor.rowcount  # a connection of its own is in autocommit: committed


def _our_side(customers: int):
    """The departed member, the successor, the customers and their follows, and the corp default
    policy; inside the caller's transaction (rolled back)."""
    from customers.models import Customer, Follow, TransferPolicy
    from scrm.org.models import Staff

    now = timezone.now()
    leaver = Staff.objects.create(
        userid=LEAVER, name="P7 leaver", status=Staff.Status.DEPARTED, departed_at=now - timedelta(hours=1)
    )
    successor = Staff.objects.create(userid=SUCCESSOR, name="P7 successor")
    added = now - timedelta(days=30)
    for start in range(0, customers, CHUNK):
        rows = Customer.objects.bulk_create(
            Customer(external_userid=_external_userid(n), name=f"P7 {n}", first_added_at=added)
            for n in range(start, min(start + CHUNK, customers))
        )
        Follow.objects.bulk_create(
            Follow(customer=c, staff=leaver, added_at=added, add_way=Follow.AddWay.QR_CODE) for c in rows
        )
    if connection.vendor == "postgresql":
        # The member's customers were there long before they left: the planner knows them, as
        # autovacuum would have told it (ANALYZE inside the transaction sees its own rows).
        with connection.cursor() as cursor:
            tables = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in (Customer, Follow, Staff))
            cursor.execute(f"ANALYZE {tables}")
    TransferPolicy.objects.filter(department__isnull=True).delete()  # the data set's own default
    TransferPolicy.objects.create(
        strategy=TransferPolicy.Strategy.SUCCESSOR, successor=successor, capacity=customers + 1
    )
    return leaver, successor


def _one_run(*, customers: int, client, transport: TimingTransport, server: str, corp_id: str) -> dict:
    """Plan, start and hand over every customer, then apply WeCom's results; rolled back."""
    from customers.models import Follow, TransferBatch, TransferItem
    from customers.transfers.dispatch import transfer_batch_send, transfer_job_start
    from customers.transfers.planning import departure_plan
    from customers.transfers.results import transfer_results_sync

    # A token outside the transaction (an in-process sandbox would roll it back) and outside the
    # timing: an answer for the pair, nothing to hand over yet.
    client.resigned_transfer_result(handover_userid=LEAVER, takeover_userid=SUCCESSOR)
    with transaction.atomic():
        leaver, successor = _our_side(customers)
        waited_before, calls_before = transport.waited, transport.calls
        paths_before = dict(transport.by_path)
        started = time.perf_counter()
        job = departure_plan(staff_id=leaver.pk, trigger="admin")
        if job is None:
            raise BenchError("departure_plan planned nothing")
        planned = time.perf_counter() - started
        transfer_job_start(job_id=job.pk)  # its tasks wait for a commit that never comes
        batch_ids = list(TransferBatch.objects.filter(job=job).order_by("id").values_list("pk", flat=True))
        for batch_id in batch_ids:
            error = transfer_batch_send(batch_id=batch_id, client=client)
            if error is not None:
                raise BenchError(f"batch {batch_id} was not handed over: {error}")
        wall = time.perf_counter() - started
        waited = transport.waited - waited_before
        calls = transport.calls - calls_before
        paths = {p: n - paths_before.get(p, 0) for p, n in transport.by_path.items()}
        sent = paths.get("externalcontact/resigned/transfer_customer", 0)
        waiting = TransferItem.objects.filter(job=job, status=TransferItem.Status.WAITING).count()

        _day_passes(server, corp_id)
        waited_before, calls_before = transport.waited, transport.calls
        started = time.perf_counter()
        transfer_results_sync(job_id=job.pk, client=client)
        applied_wall = time.perf_counter() - started
        applied_waited = transport.waited - waited_before
        applied_calls = transport.calls - calls_before
        done = TransferItem.objects.filter(job=job, status=TransferItem.Status.DONE).count()
        moved = Follow.objects.filter(staff=successor, status=Follow.Status.ACTIVE).count()
        transaction.set_rollback(True)
    return {
        "plan": planned,
        "wall": wall,
        "waited": waited,
        "own": wall - waited,
        "calls": calls,
        "paths": paths,
        "sent": sent,
        "batches": len(batch_ids),
        "waiting": waiting,
        "applied_wall": applied_wall,
        "applied_own": applied_wall - applied_waited,
        "applied_calls": applied_calls,
        "done": done,
        "moved": moved,
    }


def p7_transfers(*, customers: int, runs: int = 1, server: str = "process", say=print) -> Result:
    """Measure P7 (see the module docstring). Django must be set up and migrated."""
    from scrm.sandbox.models import SandboxApp, SandboxCallback
    from scrm.sandbox.outreach import outreach_rules, outreach_rules_set
    from scrm.sandbox.seed import sandbox_apps_create
    from scrm.wecom.client import WecomClient
    from scrm.wecom.ratelimit import RateLimiter

    result = Result("P7", "a departed member's customers reassigned to the successor in batches of 100")
    corp_id = settings.WECOM_CORP_ID
    if customers < 1:
        raise BenchError("P7 needs at least one customer")
    # The apps' secrets are encrypted under this run's SECRET_KEY (see bench/sync.py).
    SandboxApp.objects.filter(corp_id=corp_id).only("id").delete()
    sandbox_apps_create(
        corp_id=corp_id,
        contact_secret=settings.WECOM_SECRET,
        agent_secret=settings.WECOM_AGENT_SECRET,
        agentid=settings.WECOM_AGENT_ID,
    )
    # One successor takes every customer: an account with a raised per-member limit.
    limit_before = outreach_rules().member_customer_limit
    outreach_rules_set(member_customer_limit=max(limit_before, customers + 1))
    first_callback = SandboxCallback.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    say(f"  … {customers:,} customers of one departed member into the sandbox")
    filling = time.perf_counter()
    _sandbox_fill(corp_id, customers)
    say(f"  … filled in {time.perf_counter() - filling:.1f} s")
    samples: list[dict] = []
    try:
        with sandbox_server(server, say) as (base_url, inner, _pid):
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
                # Anything that asks for the shared client reaches the same sandbox.
                with override_settings(WECOM_API_BASE=base_url):
                    for i in range(runs):
                        say(f"  … run {i + 1} of {runs}: plan, hand over, apply the results")
                        samples.append(
                            _one_run(
                                customers=customers,
                                client=client,
                                transport=transport,
                                server=server,
                                corp_id=corp_id,
                            )
                        )
                        if i + 1 < runs:  # the next run starts from the customers unassigned again
                            _sandbox_fill(corp_id, customers)
            finally:
                client.close()
    finally:
        _sandbox_clear(corp_id)
        SandboxCallback.objects.filter(corp_id=corp_id, pk__gt=first_callback).delete()
        outreach_rules_set(member_customer_limit=limit_before)
    last = samples[-1]
    if last["waiting"] != customers or last["done"] != customers or last["moved"] != customers:
        raise BenchError(
            f"of {customers:,} customers {last['waiting']:,} were handed over, {last['done']:,} taken "
            f"over and {last['moved']:,} follows moved"
        )
    result.figures = [
        Figure("plan + hand over, wall time", [s["wall"] for s in samples]),
        Figure("waiting on HTTP (client side)", [s["waited"] for s in samples]),
        Figure("our own time (wall - HTTP wait)", [s["own"] for s in samples]),
        Figure("  of which planning (departure_plan)", [s["plan"] for s in samples]),
        Figure("results applied after 24 h, wall time", [s["applied_wall"] for s in samples]),
        Figure("results applied, our own time", [s["applied_own"] for s in samples]),
    ]
    own = Figure("", [s["own"] for s in samples]).median
    result.notes = [
        f"{customers:,} customers planned into {last['batches']:,} batches and handed over in "
        f"{last['sent']:,} resigned/transfer_customer calls ({last['calls']:,} HTTP calls in all); "
        f"then {last['applied_calls']:,} calls read the results and {last['moved']:,} follows moved",
        f"at WeCom's {WECOM_LIMIT_PER_MINUTE:,} calls/min the {last['sent']:,} calls take at least "
        f"{last['sent'] / WECOM_LIMIT_PER_MINUTE * 60:.1f} s of WeCom's time (not ours)",
    ]
    result.targets = [Target(f"< {TARGET_SECONDS:.0f} s of our own time ({own:.1f} s)", own < TARGET_SECONDS)]
    return result
