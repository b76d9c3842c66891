"""P5: a full sync of the sandbox's corp into empty tables, through the real client over HTTP.

The data set's corp is in the sandbox (``seed_demo`` puts it there before our side syncs from it).
The sandbox answers from a separate server process (gunicorn, else ``runserver``), so its CPU is
not ours; our side is emptied inside a transaction that is rolled back afterwards, so the data set
is left as it was. A transport wrapper times every HTTP exchange on the client side (request sent
to response read): our own time is the wall time minus that wait, and the figure is customers per
second of our own time. The client's rate limiter is lifted for the run (WeCom's real limit of
9,000 calls a minute per API is a floor on the wall time, printed beside it, not our cost).

Baseline in the same run: the database's raw load rate, ``COPY`` of our customer table's own rows
back into it, emptied, with its indexes (batched INSERTs on SQLite), rolled back as well.
"""

from __future__ import annotations

import io
import os
import socket
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import httpx
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from .measure import Figure, Target
from .scenarios import BenchError, Result

ROOT = Path(__file__).resolve().parent.parent
TARGET_RATE = 10_000  # customers per second of our own time (QUALITY.md P5)
WECOM_LIMIT_PER_MINUTE = 9_000


class TimingTransport(httpx.BaseTransport):
    """Wraps a transport and adds up the time spent in it, response body included."""

    def __init__(self, inner: httpx.BaseTransport):
        self.inner = inner
        self.waited = 0.0
        self.calls = 0
        self.by_path: dict[str, int] = {}

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        started = time.perf_counter()
        response = self.inner.handle_request(request)
        try:
            raw = b"".join(response.stream)  # as sent: the client decodes it, outside the wait
        finally:
            response.close()
        self.waited += time.perf_counter() - started
        self.calls += 1
        path = request.url.path.rsplit("/cgi-bin/", 1)[-1]
        self.by_path[path] = self.by_path.get(path, 0) + 1
        return httpx.Response(
            response.status_code,
            headers=response.headers,
            stream=httpx.ByteStream(raw),
            extensions=response.extensions,
        )

    def close(self) -> None:
        self.inner.close()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cpu_seconds(pid: int) -> float | None:
    """User + system CPU of a process and its children (gunicorn's worker), to show what the sandbox cost."""

    def own(stat: str) -> tuple[int, float]:
        fields = stat.rsplit(")", 1)[1].split()
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    try:
        total = own(Path(f"/proc/{pid}/stat").read_text())[1]
        for entry in Path("/proc").iterdir():
            if entry.name.isdigit():
                try:
                    parent, seconds = own((entry / "stat").read_text())
                except (OSError, ValueError, IndexError):
                    continue
                if parent == pid:
                    total += seconds
        return total
    except (OSError, ValueError, IndexError):
        return None


@contextmanager
def sandbox_server(kind: str, say):
    """``(base_url, transport, pid)`` of a sandbox answering over HTTP.

    ``process``: a server in its own process on a free port, on the same database. ``inprocess``:
    a WSGI transport into this process (tests, SQLite's in-memory database); its time still
    counts as HTTP wait, so the figures keep their meaning, but the sandbox's CPU is then ours.
    """
    if kind == "inprocess":
        from django.core.wsgi import get_wsgi_application

        from scrm.demo.services import connection_kept

        with connection_kept():
            yield settings.WECOM_API_BASE, httpx.WSGITransport(app=get_wsgi_application()), None
        return
    port = _free_port()
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "scrm.settings", "PYTHONPATH": str(ROOT)}
    try:
        import gunicorn  # noqa: F401

        command = [
            sys.executable,
            "-m",
            "gunicorn",
            "scrm.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            "1",
            "--log-level",
            "warning",
        ]
    except ImportError:
        command = [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    say(
        f"  … starting the sandbox server: {Path(command[2]).name if command[1] == '-m' else 'runserver'} "
        f"on port {port}"
    )
    server = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    base_url = f"http://127.0.0.1:{port}/sandbox/cgi-bin"
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                httpx.get(f"{base_url}/gettoken", timeout=2)
                break
            except httpx.TransportError:
                if server.poll() is not None or time.monotonic() > deadline:
                    error = server.stderr.read().decode(errors="replace")[-2000:] if server.stderr else ""
                    raise BenchError(f"the sandbox server did not start: {error}") from None
                time.sleep(0.2)
        yield base_url, httpx.HTTPTransport(), server.pid
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def copy_baseline() -> tuple[int, float]:
    """``(rows, seconds)`` to load our customer table's own rows back into it, emptied, indexes and all.

    Runs in a transaction that is rolled back. PostgreSQL: ``COPY … FROM STDIN`` of what ``COPY …
    TO STDOUT`` gave; elsewhere batched INSERTs.
    """
    table = connection.ops.quote_name("customers_customer")
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            data = io.StringIO()
            raw = connection.connection.cursor()
            raw.copy_expert(f"COPY {table} TO STDOUT", data)
            rows = data.getvalue().count("\n")
            data.seek(0)
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(f"TRUNCATE {table} CASCADE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # Django's keys are deferred by default
            started = time.perf_counter()
            raw.copy_expert(f"COPY {table} FROM STDIN", data, size=1 << 20)
            seconds = time.perf_counter() - started
        else:
            cursor.execute(f"SELECT * FROM {table}")
            width = len(cursor.description)
            values = cursor.fetchall()
            rows = len(values)
            cursor.execute(f"CREATE TEMPORARY TABLE bench_copy AS SELECT * FROM {table} WHERE 0")
            marks = ", ".join(["%s"] * width)
            started = time.perf_counter()
            cursor.executemany(f"INSERT INTO bench_copy VALUES ({marks})", values)
            seconds = time.perf_counter() - started
            cursor.execute("DROP TABLE bench_copy")
        transaction.set_rollback(True)
    return rows, seconds


def _our_side_empty() -> None:
    """Empty every table the sync fills (inside the caller's transaction, which is rolled back)."""
    from scrm.demo.columns import TABLES
    from scrm.demo.services import demo_tables_clear

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            names = ", ".join(connection.ops.quote_name(m._meta.db_table) for m in TABLES)
            cursor.execute(f"TRUNCATE {names} CASCADE")
            cursor.execute("SET CONSTRAINTS ALL DEFERRED")
    else:
        demo_tables_clear()


def p5_sync(*, server: str = "process", say=print) -> Result:
    """Measure P5 (see the module docstring). Django must be set up and the data set built."""
    from customers.models import Customer, Follow
    from groups.models import GroupChat
    from scrm.sandbox.models import SandboxApp, SandboxExternalContact, SandboxFollow, SandboxGroupChat
    from scrm.sandbox.seed import sandbox_apps_create
    from scrm.wecom.client import WecomClient
    from scrm.wecom.ratelimit import RateLimiter
    from scrm.wecom.sync import sync_run

    result = Result("P5", "full sync of the sandbox's corp into empty tables, real client over HTTP")
    corp_id = settings.WECOM_CORP_ID
    contacts = SandboxExternalContact.objects.filter(corp_id=corp_id).count()
    if not contacts:
        raise BenchError(f"the sandbox holds no customers for {corp_id}: rebuild the data set (--rebuild)")
    follows = SandboxFollow.objects.filter(member__corp_id=corp_id).count()
    chats = SandboxGroupChat.objects.filter(corp_id=corp_id).count()
    # The apps' secrets are encrypted with a key derived from SECRET_KEY, which the command draws
    # afresh on every run: give the corp its apps again under this run's key.
    SandboxApp.objects.filter(corp_id=corp_id).only("id").delete()  # secrets stay unread
    sandbox_apps_create(corp_id=corp_id, contact_secret=settings.WECOM_SECRET)
    say("  … baseline: reloading our customer table")
    baseline_rows, baseline = copy_baseline()

    with sandbox_server(server, say) as (base_url, inner, pid):
        transport = TimingTransport(inner)
        client = WecomClient(
            corp_id,
            settings.WECOM_SECRET,
            base_url=base_url,
            timeout=120,
            transport=transport,
            rate_limiter=RateLimiter(cache=cache, limit=10**9),
        )
        server_cpu_before = _cpu_seconds(pid) if pid else None
        try:
            with transaction.atomic():
                _our_side_empty()
                say(f"  … syncing {contacts:,} customers, {follows:,} follows, {chats:,} group chats")
                cpu_started = time.process_time()
                started = time.perf_counter()
                run = sync_run(mode="full", trigger="command", client=client, retry_delay=0)
                wall = time.perf_counter() - started
                cpu = time.process_time() - cpu_started
                synced = (Customer.objects.count(), Follow.objects.count(), GroupChat.objects.count())
                transaction.set_rollback(True)  # leave the data set as it was
        finally:
            client.close()
        server_cpu = _cpu_seconds(pid) - server_cpu_before if pid and server_cpu_before is not None else None
    if run.status != "done":
        raise BenchError(f"the sync ended {run.status}: {run.error}")
    if synced[0] != contacts or synced[1] != follows:
        raise BenchError(
            f"the sync brought {synced[0]:,} customers and {synced[1]:,} follows; the sandbox holds "
            f"{contacts:,} and {follows:,}"
        )
    own = wall - transport.waited
    rate = contacts / own if own > 0 else float("inf")
    copy_rate = baseline_rows / baseline if baseline > 0 else float("inf")
    busiest = max(transport.by_path.values())
    floor = busiest / WECOM_LIMIT_PER_MINUTE * 60
    result.figures = [
        Figure("full sync, wall time", [wall]),
        Figure("waiting on HTTP (client side)", [transport.waited]),
        Figure("our own time (wall - HTTP wait)", [own]),
        Figure(f"baseline: load {baseline_rows:,} customer rows", [baseline]),
    ]
    result.notes = [
        f"{contacts:,} customers, {follows:,} follows, {chats:,} group chats; {transport.calls:,} HTTP calls "
        f"({', '.join(f'{p} {n:,}' for p, n in sorted(transport.by_path.items(), key=lambda i: -i[1])[:4])})",
        f"our own time: {own:.1f} s = {rate:,.0f} customers/s; our process CPU {cpu:.1f} s"
        + (
            f"; the sandbox server's CPU {server_cpu:.1f} s"
            if server_cpu is not None
            else "; sandbox in-process"
        ),
        f"baseline: {'COPY' if connection.vendor == 'postgresql' else 'batched INSERT'} "
        f"at {copy_rate:,.0f} rows/s; "
        f"the sync costs {copy_rate / rate if rate else 0:.1f}x a raw load of the customer rows",
        f"at WeCom's {WECOM_LIMIT_PER_MINUTE:,} calls/min per API the wall time could not be under "
        f"{floor:.0f} s "
        "(the client's limiter was lifted for this run)",
    ]
    result.targets = [
        Target(f">= {TARGET_RATE:,} customers/s of our own time ({rate:,.0f})", rate >= TARGET_RATE)
    ]
    return result
