"""QUALITY.md's P2: WeCom callback ingest over loopback, under gunicorn, against an empty view.

The production web server (gunicorn with ``gunicorn.conf.py``) is started on a free port of
127.0.0.1 against the database, cache and broker of this run. Distinct, validly encrypted
``change_external_contact`` callbacks are built and encrypted before the timed part (encryption is
WeCom's work, not ours), then fired over keep-alive connections by a small asyncio HTTP/1.1 client
in this process; the same number of GETs of the empty view in ``bench/urls.py`` is the baseline.
Callback rounds and baseline rounds alternate (A B, B A, …) so that a noisy neighbour slows both.
The load generator shares the machine's cores with the server: its CPU time is measured and
printed beside the figures.

Afterwards a real Celery worker serving only the ``realtime`` queue runs the drains the server
kicked (at most one pending per slot; inline with the embedded filesystem broker, see ``drain``),
and the inbox is checked: exactly one row per callback sent, every row done, each
claimed exactly once. The callbacks carry ``ChangeType=msg_audit_approved`` (a customer agreed to
chat archiving), a real WeCom change type that the product does not handle, so processing measures
the inbox machinery (claim, dispatch, done) and does not depend on data in WeCom or in the CRM.
The rows written are deleted at the end.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote, urlencode

from django.conf import settings
from django.db import connection
from django.urls import reverse

from scrm.wecom.crypto import CallbackCrypto
from scrm.wecom.events import CallbackEvent, event_parse, handlers_for
from scrm.wecom.models import CallbackInbox
from scrm.wecom.services import drain_slots, inbox_drain

from .measure import Figure, Target, load_average
from .scenarios import Result

ROOT = Path(__file__).resolve().parent.parent

BENCH_EVENT = "change_external_contact"
BENCH_CHANGE_TYPE = "msg_audit_approved"
BENCH_STAFF = "bench_p2_staff"
EMPTY_PATH = "/bench/empty/"

TARGET_RATE = 1000  # callbacks/s
TARGET_P99 = 0.100  # s
TARGET_RATIO = 0.25  # of the empty view's rate

DEFAULT_CONNECTIONS = 16
DEFAULT_ROUNDS = 4
READY_TIMEOUT = 60.0
DRAIN_STALL = 60.0  # s without a row done before the drain gives up


def callbacks_for(customers: int) -> int:
    """20,000 callbacks for the large data set, down to 400 at CI's tiny size."""
    return min(20_000, max(400, customers // 50))


# --- Requests, built before the timed part --------------------------------------------------------


@dataclass
class Batch:
    """Raw HTTP/1.1 requests ready to write, and what the server must answer to each."""

    requests: list[bytes]
    expected_body: bytes
    dedupe_keys: list[str] = field(default_factory=list)


def event_xml(*, corp_id: str, create_time: int, external_user_id: str) -> str:
    return (
        f"<xml><ToUserName><![CDATA[{corp_id}]]></ToUserName>"
        "<FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[{BENCH_EVENT}]]></Event><ChangeType><![CDATA[{BENCH_CHANGE_TYPE}]]></ChangeType>"
        f"<UserID><![CDATA[{BENCH_STAFF}]]></UserID>"
        f"<ExternalUserID><![CDATA[{external_user_id}]]></ExternalUserID>"
        "<WelcomeCode><![CDATA[]]></WelcomeCode></xml>"
    )


def callback_batch(*, count: int, prefix: str, host: str) -> Batch:
    """``count`` callbacks of distinct customers, encrypted and signed as WeCom sends them."""
    crypto = CallbackCrypto(settings.WECOM_TOKEN, settings.WECOM_AES_KEY, settings.WECOM_CORP_ID)
    path = reverse("wecom:callback")
    now = int(time.time())
    batch = Batch(requests=[], expected_body=b"success")
    for number in range(count):
        xml = event_xml(
            corp_id=settings.WECOM_CORP_ID, create_time=now, external_user_id=f"wm{prefix}{number:07d}"
        )
        encrypt, signature, timestamp, nonce = crypto.encrypt(xml, timestamp=now)
        body = (
            f"<xml><ToUserName><![CDATA[{settings.WECOM_CORP_ID}]]></ToUserName>"
            f"<Encrypt><![CDATA[{encrypt}]]></Encrypt><AgentID><![CDATA[{settings.WECOM_AGENT_ID}]]>"
            "</AgentID></xml>"
        ).encode()
        query = urlencode(
            {"msg_signature": signature, "timestamp": timestamp, "nonce": nonce}, quote_via=quote
        )
        head = (
            f"POST {path}?{query} HTTP/1.1\r\nHost: {host}\r\nContent-Type: text/xml\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        batch.requests.append(head.encode() + body)
        batch.dedupe_keys.append(event_parse(xml).dedupe_key)
    return batch


def empty_batch(*, count: int, host: str) -> Batch:
    request = f"GET {EMPTY_PATH} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    return Batch(requests=[request] * count, expected_body=b"")


# --- The load generator ---------------------------------------------------------------------------


@dataclass
class Load:
    """One batch fired at the server: each request's latency, the wall time, and what went wrong."""

    latencies: list[float]
    wall: float
    cpu: float  # CPU seconds the generator itself used
    failures: list[str]

    @property
    def rate(self) -> float:
        return len(self.latencies) / self.wall if self.wall else 0.0


def _parse_head(head: bytes) -> tuple[int, int, bool]:
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split(" ", 2)[1])
    length, close = 0, False
    for line in lines[1:]:
        name, _, value = line.partition(":")
        name = name.strip().lower()
        if name == "content-length":
            length = int(value.strip())
        elif name == "connection" and value.strip().lower() == "close":
            close = True
    return status, length, close


async def _fire(port: int, batch: Batch, connections: int) -> Load:
    """Send every request of ``batch``, ``connections`` at a time, reusing each connection."""
    count = len(batch.requests)
    latencies = [0.0] * count
    failures: list[str] = []
    numbers = itertools.count()

    async def one_connection() -> None:
        reader = writer = None
        while (number := next(numbers)) < count:
            started = time.perf_counter()
            for attempt in (1, 2):
                reused = writer is not None
                try:
                    if writer is None:
                        reader, writer = await asyncio.open_connection("127.0.0.1", port)
                    writer.write(batch.requests[number])
                    head = await reader.readuntil(b"\r\n\r\n")
                    status, length, close = _parse_head(head)
                    body = await reader.readexactly(length)
                    break
                except (ConnectionError, asyncio.IncompleteReadError) as error:
                    if writer is not None:
                        writer.close()
                    reader = writer = None
                    # A kept-alive connection the server closed while idle: resend once on a new one.
                    if attempt == 2 or not reused:
                        failures.append(f"request {number}: {type(error).__name__}")
                        status, body, close = 0, b"", True
                        break
            latencies[number] = time.perf_counter() - started
            if status != 200 or body != batch.expected_body:
                failures.append(f"request {number}: HTTP {status} {body[:80]!r}")
            if close and writer is not None:
                writer.close()
                reader = writer = None
        if writer is not None:
            writer.close()

    cpu, started = time.process_time(), time.perf_counter()
    await asyncio.gather(*(one_connection() for _ in range(min(connections, count))))
    return Load(latencies, time.perf_counter() - started, time.process_time() - cpu, failures)


def fire(port: int, batch: Batch, connections: int) -> Load:
    return asyncio.run(_fire(port, batch, connections))


# --- Processes ------------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def database_url() -> str:
    """This process's database (the test database under pytest), for the servers we start."""
    db = connection.settings_dict
    auth = quote(db["USER"] or "", safe="") + (f":{quote(db['PASSWORD'], safe='')}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


def server_environment() -> dict[str, str]:
    return {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "bench.settings",
        "SCRM_BENCH_BASE_SETTINGS": os.environ.get("DJANGO_SETTINGS_MODULE", "scrm.settings"),
        "DATABASE_URL": database_url(),
        "DJANGO_DEBUG": "false",
        "DJANGO_SECRET_KEY": settings.SECRET_KEY,
        "WECOM_CORP_ID": settings.WECOM_CORP_ID,
        "WECOM_TOKEN": settings.WECOM_TOKEN,
        "WECOM_AES_KEY": settings.WECOM_AES_KEY,
        "PYTHONUNBUFFERED": "1",
    }


def worker_threads(pid: int) -> list[int]:
    """Threads of each gunicorn worker process (children of the master), from /proc."""
    counts = []
    try:
        for child in Path(f"/proc/{pid}/task/{pid}/children").read_text().split():
            status = Path(f"/proc/{child}/status").read_text()
            counts += [int(line.split()[1]) for line in status.splitlines() if line.startswith("Threads:")]
    except (OSError, ValueError):
        pass
    return counts


def cpu_seconds(pid: int) -> float:
    """CPU time of a process and all its descendants (Linux /proc), 0 where unavailable."""
    total = 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            stat = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(stat[11]) + int(stat[12])) / ticks  # utime, stime
            for task in Path(f"/proc/{current}/task").iterdir():
                pending += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, IndexError, ValueError):
            continue
    return total


def machine_cpu() -> tuple[float, float]:
    """(busy, total) CPU seconds of the whole machine since boot, from /proc/stat."""
    try:
        values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    except (OSError, ValueError):
        return 0.0, 0.0
    ticks = os.sysconf("SC_CLK_TCK")
    idle = values[3] + (values[4] if len(values) > 4 else 0)
    return (sum(values) - idle) / ticks, sum(values) / ticks


class Process:
    """A child process whose output goes to a temporary file, shown when something fails."""

    def __init__(self, command: list[str], env: dict[str, str]):
        self.log = tempfile.TemporaryFile()  # noqa: SIM115 (closed in stop())
        self.popen = subprocess.Popen(command, cwd=ROOT, env=env, stdout=self.log, stderr=subprocess.STDOUT)

    def output(self, limit: int = 2000) -> str:
        self.log.seek(0)
        return self.log.read().decode(errors="replace")[-limit:]

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait()
        self.log.close()


def gunicorn_start(port: int) -> Process:
    """The production web server: ``gunicorn.conf.py``'s workers and threads, bound to loopback."""
    command = [sys.executable, "-m", "gunicorn", "scrm.wsgi:application", "--config", "gunicorn.conf.py"]
    command += ["--bind", f"127.0.0.1:{port}", "--log-level", "warning"]
    server = Process(command, server_environment())
    deadline = time.monotonic() + READY_TIMEOUT
    while time.monotonic() < deadline:
        if server.popen.poll() is not None:
            raise RuntimeError(f"gunicorn exited with {server.popen.returncode}: {server.output()}")
        try:
            probe = fire(port, empty_batch(count=1, host=f"127.0.0.1:{port}"), 1)
            if not probe.failures:
                return server
        except OSError:
            pass
        time.sleep(0.2)
    server.stop()
    raise RuntimeError("gunicorn did not answer within a minute")


def worker_start(name: str) -> Process:
    """A Celery worker serving only the realtime queue, as in production (Procfile)."""
    command = [sys.executable, "-m", "celery", "-A", "scrm", "worker", "--queues", "realtime"]
    command += ["--concurrency", "2", "--hostname", f"{name}@%h", "--loglevel", "WARNING"]
    command += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
    return Process(command, server_environment())


# --- P2 -------------------------------------------------------------------------------------------


def _quantile(values: list[float], q: float) -> float:
    return Figure("", values).quantile(q) if values else 0.0


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def p2_ingest(
    *,
    customers: int,
    callbacks: int | None = None,
    connections: int = DEFAULT_CONNECTIONS,
    rounds: int = DEFAULT_ROUNDS,
    say=print,
) -> Result:
    """Fire ``callbacks`` distinct callbacks and as many empty requests, then drain and check."""
    total = callbacks or callbacks_for(customers)
    result = Result("P2", "callback ingest over loopback under gunicorn (verify, decrypt, store, answer)")
    if connection.vendor != "postgresql":
        result.notes.append(
            "skipped: needs PostgreSQL (the server's processes cannot share this process's SQLite database)"
        )
        return result
    probe = CallbackEvent(event=BENCH_EVENT, change_type=BENCH_CHANGE_TYPE)
    if handlers_for(probe):
        result.errors.append(
            f"{BENCH_EVENT}/{BENCH_CHANGE_TYPE} now has handlers; choose a change type nothing handles"
        )
        return result

    port = free_port()
    host = f"127.0.0.1:{port}"
    prefix = "p2" + secrets.token_hex(4)  # distinct customers in every run: nothing dedupes
    rounds = max(1, min(rounds, total // 100 or 1))
    warmup = max(50, total // 20)
    per_round = (total - warmup) // rounds
    first_id = CallbackInbox.objects.order_by("-pk").values_list("pk", flat=True).first() or 0

    ingest = Figure("callback POST /wecom/callback/")
    empty = Figure("empty view GET /bench/empty/ (baseline)")
    expected: list[str] = []
    walls = {"ingest": 0.0, "empty": 0.0}
    generator_cpu = server_cpu = empty_server_cpu = busy = elapsed = 0.0
    threads: list[int] = []
    server = gunicorn_start(port)
    try:
        say(f"  … gunicorn on {host}; warming up with {warmup} callbacks and {warmup} empty requests")
        batch = callback_batch(count=warmup, prefix=f"{prefix}w", host=host)
        expected += batch.dedupe_keys
        for load in (
            fire(port, batch, connections),
            fire(port, empty_batch(count=warmup, host=host), connections),
        ):
            result.errors += load.failures[:5]
        for number in range(rounds):
            batch = callback_batch(count=per_round, prefix=f"{prefix}r{number}", host=host)
            expected += batch.dedupe_keys
            plan = [("ingest", batch), ("empty", empty_batch(count=per_round, host=host))]
            for kind, prepared in plan if number % 2 == 0 else reversed(plan):
                server_before, (busy_before, total_before) = cpu_seconds(server.popen.pid), machine_cpu()
                load = fire(port, prepared, connections)
                busy_after, total_after = machine_cpu()
                if kind == "ingest":
                    ingest.samples += load.latencies
                    generator_cpu += load.cpu
                    server_cpu += cpu_seconds(server.popen.pid) - server_before
                    busy += busy_after - busy_before
                    elapsed += total_after - total_before
                else:
                    empty.samples += load.latencies
                    empty_server_cpu += cpu_seconds(server.popen.pid) - server_before
                walls[kind] += load.wall
                result.errors += load.failures[:5]
            say(f"  … round {number + 1} of {rounds}: {per_round} callbacks, {per_round} empty requests")
        threads = worker_threads(server.popen.pid)
    finally:
        server.stop()

    sent = len(ingest.samples)
    rate = sent / walls["ingest"] if walls["ingest"] else 0.0
    empty_rate = len(empty.samples) / walls["empty"] if walls["empty"] else 0.0
    ratio = rate / empty_rate if empty_rate else 0.0
    p50, p99 = _quantile(ingest.samples, 0.5), _quantile(ingest.samples, 0.99)
    result.figures += [ingest, empty]
    result.notes += [
        f"{sent:,} distinct {BENCH_EVENT}/{BENCH_CHANGE_TYPE} callbacks (+{warmup} untimed warm-up) over "
        f"{connections} keep-alive connections in {rounds} rounds alternating with as many empty requests; "
        f"gunicorn.conf.py: {len(threads)} gthread workers ({', '.join(map(str, threads))} "
        "threads each, request threads and gunicorn's own)",
        f"callbacks: {rate:,.0f}/s, p50 {_ms(p50)}, p99 {_ms(p99)}; empty view: {empty_rate:,.0f}/s, "
        f"p50 {_ms(_quantile(empty.samples, 0.5))}, p99 {_ms(_quantile(empty.samples, 0.99))}; "
        f"ratio {ratio:.0%}",
    ]
    if elapsed and sent:
        cores = os.cpu_count() or 1
        result.notes.append(
            f"CPU during the callback rounds: machine {busy / elapsed * cores:.2f} of {cores} cores busy "
            f"(everything, PostgreSQL and Redis and neighbours included); gunicorn "
            f"{server_cpu / walls['ingest']:.2f} cores ({server_cpu / sent * 1e6:,.0f} µs per callback, "
            f"{empty_server_cpu / len(empty.samples) * 1e6:,.0f} µs per empty request); "
            f"the load generator {generator_cpu / walls['ingest']:.2f} cores "
            f"({generator_cpu / sent * 1e6:,.0f} µs per request)"
        )

    drained = drain(expected=expected, first_id=first_id, say=say, result=result)
    result.targets += [
        Target(f"≥ {TARGET_RATE:,} callbacks/s sustained", rate >= TARGET_RATE),
        Target(f"p99 < {TARGET_P99 * 1000:.0f} ms", p99 < TARGET_P99),
        Target(f"≥ {TARGET_RATIO:.0%} of the empty view's rate", ratio >= TARGET_RATIO),
        Target("every callback stored once and processed once", drained),
    ]
    return result


def drain_with_worker(*, rows, count: int, result: Result) -> None:
    waiting = (CallbackInbox.Status.RECEIVED, CallbackInbox.Status.PROCESSING)
    worker = worker_start(f"bench-p2-{secrets.token_hex(3)}")
    last_progress, left_before = time.monotonic(), count
    try:
        while left := rows.filter(status__in=waiting).count():
            if worker.popen.poll() is not None:
                result.errors.append(f"the worker exited with {worker.popen.returncode}: {worker.output()}")
                break
            if left < left_before:
                last_progress, left_before = time.monotonic(), left
            elif time.monotonic() - last_progress > DRAIN_STALL:
                stalled = f"{left:,} rows waiting, none done for {DRAIN_STALL:.0f} s"
                result.errors.append(f"{stalled}: {worker.output(600)}")
                break
            time.sleep(0.5)
    finally:
        worker.stop()


def drain(*, expected: list[str], first_id: int, say, result: Result) -> bool:
    """Process what the server stored; check one row per callback, each done once.

    With a network broker (Redis, RabbitMQ), a real worker serving only the realtime queue runs
    the drains the server kicked, as in production. The embedded filesystem broker is a
    development default, polled once a second and shared with any ``make run`` worker, so there
    each slot is drained inline by the service the task calls; the drains left in it find
    nothing to do for whoever consumes them later.
    """
    rows = CallbackInbox.objects.filter(pk__gt=first_id, change_type=BENCH_CHANGE_TYPE)
    if settings.CELERY_BROKER_URL.startswith("filesystem"):
        say(f"  … processing {len(expected):,} inbox rows inline (embedded filesystem broker)")
        started = time.perf_counter()
        for slot in range(drain_slots()):
            inbox_drain(slot=slot)
        how = f"inline through inbox_drain, {time.perf_counter() - started:.1f} s"
    else:
        say(f"  … draining {len(expected):,} inbox rows with a Celery worker on the realtime queue")
        drain_with_worker(rows=rows, count=len(expected), result=result)
        how = "by the drains of a Celery worker (2 processes, realtime queue only)"
    stored = list(rows.values_list("dedupe_key", "status", "attempts"))
    keys = [key for key, _, _ in stored]
    problems = []
    if len(stored) != len(expected) or set(keys) != set(expected):
        missing, extra = len(set(expected) - set(keys)), len(set(keys) - set(expected))
        problems.append(
            f"{len(stored):,} rows for {len(expected):,} callbacks ({missing} missing, {extra} extra)"
        )
    not_done = sum(1 for _, status, _ in stored if status != CallbackInbox.Status.DONE)
    if not_done:
        problems.append(f"{not_done:,} rows not done")
    claimed_twice = sum(1 for _, _, attempts in stored if attempts != 1)
    if claimed_twice:
        problems.append(f"{claimed_twice:,} rows not claimed exactly once")
    times = (
        rows.filter(processed_at__isnull=False)
        .order_by("processed_at")
        .values_list("processed_at", flat=True)
    )
    span = (times.last() - times.first()).total_seconds() if times.exists() else 0.0
    result.notes.append(
        f"drain: {len(stored):,} rows processed {how}"
        + (f" at {len(stored) / span:,.0f} rows/s" if span else "")
        + (f"; {'; '.join(problems)}" if problems else "; each row stored once, done, claimed exactly once")
    )
    result.errors += problems
    rows.delete()  # the rows proved their point; the data set stays as it was
    result.notes.append(f"load average after: {load_average()}")
    return not problems
