"""QUALITY.md's P2b: the welcome message of an add, sent while a bulk backlog is queued.

Production's processes, as in the Procfile: the web server (gunicorn with ``gunicorn.conf.py``)
serving our callback URL and the sandbox, a Celery worker serving only ``realtime`` and another
serving ``default,bulk`` (two processes each). A backlog of bulk tasks is queued on the broker
first (``customers_tag_task`` batches with nothing to tag: the cheapest real bulk task, so the
backlog is as long as possible for its size), then WeChat users add staff members through the
sandbox's ``add_contact`` move at a steady pace while the bulk worker is still draining it. Each
add emits WeCom's encrypted ``add_external_contact`` callback with a fresh welcome code; our
server stores it, the realtime worker processes it (customer and follow fetched from the sandbox
over HTTP, the welcome chosen and queued), and the welcome task calls ``send_welcome_msg``.

The figure is, per add, from the callback's receipt (our inbox row's ``received_at``) to the
sandbox recording the ``send_welcome_msg`` call with that add's code (its call record's
``created_at``): p50, p99 and max. The bulk queue's length when each add is fired is printed, to
show the welcomes did not wait behind it. Every add must get exactly one successful call. The
rows written (customers, sandbox contacts, inbox rows, the bench's welcome message) are deleted.

Needs PostgreSQL and a network broker (Redis, RabbitMQ): the processes share the database and
the queues. Otherwise the result says it was skipped.
"""

from __future__ import annotations

import secrets
import sys
import time
from datetime import datetime

if __name__ == "__main__":  # run alone: Django is set up before the imports below load models
    from bench.run import setup_django

    setup_django()

from django.conf import settings  # noqa: E402
from django.db import connection  # noqa: E402
from django.test.utils import override_settings  # noqa: E402

from bench.ingest import Process, free_port, gunicorn_start, server_environment  # noqa: E402
from bench.measure import Figure, Target, load_average  # noqa: E402
from bench.scenarios import Result  # noqa: E402

TARGET_P99 = 5.0  # seconds (WeCom's window is 20 s)
PATIENCE = 90.0  # seconds to wait for the last welcome
BULK_TASK = "customers.tasks.customers_tag_task"
NAME_PREFIX = "P2b访客"


def sizes_for(customers: int) -> tuple[int, int]:
    """(bulk tasks queued, adds measured): 100,000 and 200 for the large data set, 2,000 and 20
    at CI's tiny size."""
    return min(100_000, max(2_000, customers // 10)), min(200, max(20, customers // 5_000))


def _worker(name: str, queues: str, env: dict[str, str]) -> Process:
    """A Celery worker as the Procfile starts it: two processes on the given queues."""
    command = [sys.executable, "-m", "celery", "-A", "scrm", "worker", "--queues", queues]
    command += ["--concurrency", "2", "--hostname", f"{name}@%h", "--loglevel", "WARNING"]
    command += ["--without-heartbeat", "--without-gossip", "--without-mingle"]
    return Process(command, env)


def _queue_length(app, queue: str) -> int | None:
    try:
        with app.connection_for_write() as conn:
            return conn.default_channel.queue_declare(queue=queue, passive=True).message_count
    except Exception:  # noqa: BLE001 - a broker that cannot say: the figure is shown as unknown
        return None


def _queue_purge(app, queue: str) -> int | None:
    try:
        with app.connection_for_write() as conn:
            return conn.default_channel.queue_purge(queue)
    except Exception:  # noqa: BLE001 - best effort; the leftovers are no-ops for any bulk worker
        return None


def _backlog_queue(app, count: int) -> float:
    """Queue ``count`` bulk tasks; returns the seconds it took."""
    started = time.perf_counter()
    with app.producer_or_acquire() as producer:
        for _ in range(count):
            app.send_task(
                BULK_TASK,
                kwargs={"customer_ids": [], "tag_ids": [], "add": True},
                queue="bulk",
                producer=producer,
            )
    return time.perf_counter() - started


def _members(corp_id: str, count: int) -> list[str]:
    from scrm.sandbox.models import SandboxMember

    return list(
        SandboxMember.objects.filter(corp_id=corp_id, status=1, contact_enabled=True)
        .order_by("id")
        .values_list("userid", flat=True)[:count]
    )


def _add(corp_id: str, userid: str, name: str) -> str:
    from scrm.sandbox.actions.people import add_contact

    return add_contact(corp_id, {"userid": userid, "name": name})["welcome_code"]


def _wait_for_sends(codes: list[str], *, first_call: int, processes: list[Process], result: Result) -> bool:
    from scrm.sandbox.models import SandboxCall

    deadline = time.monotonic() + PATIENCE
    wanted = set(codes)
    while time.monotonic() < deadline:
        sent = set(
            SandboxCall.objects.filter(
                pk__gt=first_call, path="externalcontact/send_welcome_msg", errcode=0
            ).values_list("body__welcome_code", flat=True)
        )
        if wanted <= sent:
            return True
        for process in processes:
            if process.popen.poll() is not None:
                result.errors.append(f"a process exited with {process.popen.returncode}: {process.output()}")
                return False
        time.sleep(0.2)
    result.errors.append(f"{len(wanted - sent)} of {len(wanted)} welcomes not sent within {PATIENCE:.0f} s")
    return False


def _cleanup(*, corp_id: str, prefix: str, first_inbox: int, message_id: int | None) -> None:
    from campaigns.models import WelcomeMessage
    from customers.models import Customer
    from scrm.sandbox.models import SandboxCallback, SandboxExternalContact, SandboxWelcomeCode
    from scrm.wecom.models import CallbackInbox

    externals = list(
        SandboxExternalContact.objects.filter(corp_id=corp_id, name__startswith=prefix).values_list(
            "external_userid", flat=True
        )
    )
    Customer.objects.filter(external_userid__in=externals).delete()  # follows, events, sends cascade
    SandboxWelcomeCode.objects.filter(corp_id=corp_id, external_userid__in=externals).delete()
    SandboxExternalContact.objects.filter(corp_id=corp_id, external_userid__in=externals).delete()
    SandboxCallback.objects.filter(corp_id=corp_id, xml__contains=prefix).delete()
    CallbackInbox.objects.filter(pk__gt=first_inbox, change_type="add_external_contact").delete()
    if message_id is not None:
        WelcomeMessage.objects.filter(pk=message_id).delete()


def _measure(codes: list[str], *, first_inbox: int, first_call: int) -> tuple[Figure, list[str]]:
    """Each add's latency, matched by its welcome code, and what went wrong."""
    from scrm.sandbox.models import SandboxCall
    from scrm.wecom.models import CallbackInbox

    received: dict[str, datetime] = {}
    for payload, at in CallbackInbox.objects.filter(
        pk__gt=first_inbox, change_type="add_external_contact"
    ).values_list("payload", "received_at"):
        received.setdefault(payload.get("welcome_code", ""), at)
    calls: dict[str, list] = {}
    for code, errcode, at in SandboxCall.objects.filter(
        pk__gt=first_call, path="externalcontact/send_welcome_msg"
    ).values_list("body__welcome_code", "errcode", "created_at"):
        calls.setdefault(code, []).append((errcode, at))
    latency = Figure("callback received → send_welcome_msg recorded by the sandbox")
    problems = []
    for code in codes:
        made = calls.get(code, [])
        ok = [at for errcode, at in made if errcode == 0]
        if len(ok) != 1:
            problems.append(f"{len(ok)} successful sends for one add")
        if code in received and ok:
            latency.samples.append((ok[0] - received[code]).total_seconds())
        elif code not in received:
            problems.append("an add's callback was not received")
    return latency, problems


def p2b_welcome(*, customers: int, backlog: int | None = None, adds: int | None = None, say=print) -> Result:
    """Queue the bulk backlog, fire ``adds`` adds at a steady pace, measure each welcome's latency."""
    from campaigns.models import WelcomeMessage
    from scrm.celery import app
    from scrm.sandbox.models import SandboxCall
    from scrm.wecom.models import CallbackInbox

    default_backlog, default_adds = sizes_for(customers)
    backlog = backlog or default_backlog
    adds = adds or default_adds
    result = Result("P2b", "welcome message after the add callback, while a bulk backlog is queued")
    if connection.vendor != "postgresql":
        result.notes.append("skipped: needs PostgreSQL (the server and workers share this database)")
        return result
    if settings.CELERY_BROKER_URL.startswith(("filesystem", "memory")):
        result.notes.append("skipped: needs a network broker (Redis or RabbitMQ) shared with the workers")
        return result
    corp_id = settings.WECOM_CORP_ID
    members = _members(corp_id, 5)
    if not members:
        result.errors.append(f"the sandbox holds no active member of corp {corp_id}: build the data set")
        return result

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **server_environment(),
        "WECOM_API_BASE": f"{base}/sandbox/cgi-bin",
        "WECOM_SECRET": settings.WECOM_SECRET,
        "WECOM_SANDBOX_CALLBACKS": "off",  # the server emits none: API calls raise no callbacks
    }
    prefix = f"{NAME_PREFIX}{secrets.token_hex(3)}"
    first_inbox = CallbackInbox.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    first_call = SandboxCall.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
    message = WelcomeMessage.objects.create(name=f"{prefix} welcome", text="您好 {customer}，我是 {staff}。")
    processes: list[Process] = []
    fired: list[tuple[str, int | None]] = []
    before = purged = None
    try:
        server = gunicorn_start(port)
        processes.append(server)
        processes.append(_worker(f"p2b-realtime-{secrets.token_hex(2)}", "realtime", env))
        with override_settings(
            WECOM_SANDBOX_CALLBACKS="sync", WECOM_SANDBOX_CALLBACK_URL=f"{base}/wecom/callback/"
        ):
            say(f"  … gunicorn on 127.0.0.1:{port} and a realtime worker; warming up with 2 adds")
            warm = [_add(corp_id, members[i % len(members)], f"{prefix}w{i}") for i in range(2)]
            if not _wait_for_sends(warm, first_call=first_call, processes=processes, result=result):
                return result
            before = _queue_length(app, "bulk")
            seconds = _backlog_queue(app, backlog)
            queued = _queue_length(app, "bulk")
            say(
                f"  … {backlog:,} bulk tasks queued in {seconds:.1f} s (queue: {queued}); "
                "starting the bulk worker"
            )
            processes.append(_worker(f"p2b-bulk-{secrets.token_hex(2)}", "default,bulk", env))
            time.sleep(1.0)
            pace = 0.25
            say(f"  … firing {adds} adds, one every {pace:g} s")
            for number in range(adds):
                started = time.perf_counter()
                code = _add(corp_id, members[number % len(members)], f"{prefix}a{number}")
                fired.append((code, _queue_length(app, "bulk")))
                time.sleep(max(0.0, pace - (time.perf_counter() - started)))
        codes = [code for code, _ in fired]
        _wait_for_sends(codes, first_call=first_call, processes=processes, result=result)
        left = _queue_length(app, "bulk")
        latency, problems = _measure(codes, first_inbox=first_inbox, first_call=first_call)
    finally:
        for process in reversed(processes):
            process.stop()
        _cleanup(corp_id=corp_id, prefix=prefix, first_inbox=first_inbox, message_id=message.pk)
        if not before and processes:  # the queue held nothing of anyone else's: drop our leftovers
            purged = _queue_purge(app, "bulk")

    result.errors += sorted(set(problems))
    if not latency.samples:
        result.errors.append("no welcome was measured")
        return result
    p50, p99 = latency.quantile(0.5), latency.quantile(0.99)
    lengths = [n for _, n in fired if n is not None]
    result.figures.append(latency)
    result.notes += [
        f"{len(codes)} adds through the sandbox's add_contact move (+2 warm-up), one every 0.25 s, "
        f"over {len(members)} staff members; web: gunicorn.conf.py; workers as in the Procfile: "
        "realtime (2 processes) and default,bulk (2 processes)",
        f"bulk backlog: {backlog:,} {BULK_TASK} tasks queued before the adds "
        f"(the queue held {before or 0} before); "
        + (
            f"still queued while the adds were fired: {max(lengths):,} down to {min(lengths):,}; "
            f"left at the end: {left}" + (f", purged afterwards ({purged})" if purged else "")
            if lengths
            else "queue length unknown on this broker"
        ),
        f"latency: p50 {p50 * 1000:.0f} ms, p99 {p99 * 1000:.0f} ms, "
        f"max {max(latency.samples) * 1000:.0f} ms",
        f"load average after: {load_average()}",
    ]
    result.targets += [
        Target(f"p99 < {TARGET_P99:.0f} s", p99 < TARGET_P99),
        Target("every add welcomed exactly once", not problems),
    ]
    return result


def main(argv: list[str] | None = None) -> int:
    """``python -m bench.welcome --backlog 20000 --adds 100``: P2b alone, at a chosen size, on the
    data set already in DATABASE_URL (``bench/run.py`` builds it and runs P2b at its own size)."""
    import argparse

    parser = argparse.ArgumentParser(description="QUALITY.md's P2b alone.")
    parser.add_argument("--backlog", type=int, default=20_000, help="Bulk tasks queued (default 20,000).")
    parser.add_argument("--adds", type=int, default=100, help="Adds measured (default 100).")
    args = parser.parse_args(argv)
    result = p2b_welcome(
        customers=0, backlog=args.backlog, adds=args.adds, say=lambda m: print(m, flush=True)
    )
    print(f"\n{result.id}  {result.title}")
    for line in [*result.notes, *(f"{f.label}  {f.text()}" for f in result.figures)]:
        print(f"    {line}")
    for target in result.targets:
        print(f"    target {target}")
    for error in result.errors:
        print(f"    ERROR {error}")
    return 1 if result.errors else 0


if __name__ == "__main__":
    sys.exit(main())
