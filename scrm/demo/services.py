"""Filling a database with the demo company, and emptying it again."""

from __future__ import annotations

import logging
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.signals import request_finished, request_started
from django.db import DEFAULT_DB_ALIAS, close_old_connections, connections, transaction
from django.utils import timezone

from campaigns.models import Broadcast, Channel, GroupSopRule, MomentCampaign, SopRule, StaffTask
from campaigns.services.analytics import channel_days_rollup
from customers.models import (
    Customer,
    CustomerEvent,
    CustomerNote,
    Follow,
    FollowPersonalTag,
    FollowTag,
    PersonalTag,
    PoolEntry,
    Segment,
    Tag,
    TagGroup,
    TransferJob,
    TransferPolicy,
)
from groups.models import GroupChat, GroupMember, GroupTag
from scrm.org.models import Department, Role, Staff, StaffDepartment
from scrm.org.services import operator_assign
from scrm.sandbox.models import SandboxApp, SandboxMember
from scrm.sandbox.seed import SEEDED as SANDBOX_SEEDED
from scrm.sandbox.seed import SandboxSeeder, sandbox_apps_create, sandbox_corp_clear

from . import pipeline, postgres, wecom_side
from .columns import TABLES
from .generator import DemoFacts, DemoGenerator
from .outreach import demo_outreach
from .transfers import demo_transfer_policies
from .writers import CopySink, InsertSink

DEFAULT_CUSTOMERS = 300
DEFAULT_SEED = 42
SIZES = {"demo": 300, "small": 2_000, "medium": 100_000, "large": 1_000_000}
DEFAULT_PASSWORD = "demo12345"

# The demo logins: username -> (role, first name). Their password is DEMO_ADMIN_PASSWORD or the default.
DEMO_USERS = {
    "marketing": (Role.MARKETING_MANAGER, "市场经理"),
    "store_manager": (Role.STORE_MANAGER, "区域经理"),
    "guide": (Role.GUIDE, "导购"),
}


class DemoDataExists(Exception):
    """The database already holds customers; ``reset`` rebuilds them."""


class DemoConflict(Exception):
    """The database holds organisation or tag data but no customers: seeding would mix with it."""


@dataclass
class SeedResult:
    facts: DemoFacts
    counts: dict[str, int]  # rows by model label, such as "customers.Customer"
    seconds: float
    vendor: str
    phases: dict[str, float] = field(default_factory=dict)
    also_emptied: list[str] = field(default_factory=list)
    sandbox: dict[str, int] = field(default_factory=dict)  # sandbox rows by model label
    synced: bool = True

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def demo_password() -> str:
    return os.environ.get("DEMO_ADMIN_PASSWORD") or DEFAULT_PASSWORD


def _check_empty() -> None:
    customers = Customer.objects.count() if Customer.objects.exists() else 0
    if customers:
        raise DemoDataExists(f"The database already holds {customers:,} customers.")
    busy = [
        m._meta.verbose_name_plural for m in TABLES if m._meta.auto_created is False and m.objects.exists()
    ]
    if busy:
        raise DemoConflict(
            f"The database has no customers but already holds {', '.join(map(str, busy))}; the demo fills an "
            "empty database. Use --reset to replace all of it with the demo company."
        )


def demo_tables_clear() -> None:
    """Delete every demo table's rows through the ORM, leaves first (any database)."""
    get_user_model().objects.filter(username__in=DEMO_USERS).delete()
    # Transfers first: their jobs (with their items, batches, notices and group transfers) and the
    # pool protect the staff who handed over, took over or claimed.
    for model in (PoolEntry, TransferJob, TransferPolicy):
        model.objects.all().delete()
    # Outreach built on the demo's people first: they protect the channels, segments and staff.
    for model in (Broadcast, SopRule, GroupSopRule, MomentCampaign, StaffTask, Segment):
        model.objects.all().delete()
    for model in (
        FollowTag,
        FollowPersonalTag,
        CustomerEvent,
        CustomerNote,
        GroupMember,
        GroupChat.tags.through,
        GroupChat,
        GroupTag,
        Follow,
        Customer,
        PersonalTag,
        Tag,
        TagGroup,
        Channel,
        StaffDepartment,
        Staff,
    ):
        model.objects.all().delete()
    Department.objects.update(parent=None)  # parents are protected; the whole tree goes at once
    Department.objects.all().delete()


def _demo_users(facts: DemoFacts, connection) -> None:
    """The demo logins; the generator's staff and department ids are matched to ours by WeCom ids."""
    userid = wecom_side.staged_value(connection, Staff, "userid", facts.guide_staff_id)
    wecom_id = wecom_side.staged_value(connection, Department, "wecom_id", facts.manager_department_id)
    facts.guide_staff_id = Staff.objects.get(userid=userid).pk
    facts.manager_department_id = Department.objects.get(wecom_id=wecom_id).pk
    User = get_user_model()
    password = make_password(demo_password())  # hashed once: the three logins share it
    for username, (role, first_name) in DEMO_USERS.items():
        user, _ = User.objects.get_or_create(username=username)
        user.first_name = first_name
        user.password = password
        user.is_staff = True
        user.is_active = True
        user.save()
        departments = []
        if role == Role.STORE_MANAGER:
            departments = [Department.objects.get(pk=facts.manager_department_id)]
        operator_assign(user=user, role=role, departments=departments)
        if role == Role.GUIDE:
            Staff.objects.filter(user=user).exclude(pk=facts.guide_staff_id).update(user=None)
            Staff.objects.filter(pk=facts.guide_staff_id).update(user=user)


def wecom_client_for_demo(*, transport=None, rate_limit: int | None = None):
    """A real client for the configured corp: in-process to the sandbox unless ``transport`` says otherwise.

    When the demo is built the web server is not running yet, so the client reaches the sandbox
    through a WSGI transport: the same URLs, JSON and errcodes as over the network.
    """
    import httpx
    from django.core.cache import cache
    from django.core.wsgi import get_wsgi_application

    from scrm.wecom.client import WecomClient
    from scrm.wecom.ratelimit import RateLimiter

    return WecomClient(
        settings.WECOM_CORP_ID,
        settings.WECOM_SECRET,
        base_url=settings.WECOM_API_BASE,
        timeout=settings.WECOM_HTTP_TIMEOUT,
        transport=transport or httpx.WSGITransport(app=get_wsgi_application()),
        rate_limiter=RateLimiter(cache=cache, limit=rate_limit) if rate_limit else None,
    )


@contextmanager
def connection_kept():
    """Keep this thread's database connection across in-process requests.

    Django closes a request's connection when it finishes (``CONN_MAX_AGE``); the staging tables
    are temporary tables of this very connection, so the sync's in-process calls to the sandbox
    must leave it open, as Django's test client does.
    """
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


def demo_sync(*, client=None, say=lambda message: None):
    """A full sync from the sandbox through the real client; raises when it does not finish."""
    from scrm.wecom.sync import sync_run

    own_client = client is None
    client = client or wecom_client_for_demo(rate_limit=10**9)
    last = {"step": ""}

    def progress(step: str, done: int, total: int | None) -> None:
        if step != last["step"] or (done and done % 100_000 == 0):
            last["step"] = step
            say(f"sync: {step} {done:,}" + (f"/{total:,}" if total else ""))

    http_log = logging.getLogger("httpx")
    level = http_log.level
    http_log.setLevel(max(level, logging.WARNING))  # thousands of in-process calls: no line each
    try:
        with connection_kept():
            run = sync_run(mode="full", trigger="demo", client=client, on_progress=progress)
    finally:
        http_log.setLevel(level)
        if own_client:
            client.close()
    if run.status != "done":
        raise DemoSyncFailed(f"The sync from the sandbox ended {run.status}: {run.error}")
    return run


class DemoSyncFailed(Exception):
    """The demo company reached the sandbox but the CRM could not sync it."""


def demo_seed(
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    base_date: date | None = None,
    reset: bool = False,
    progress=None,
    child_process: bool | None = None,
    sync: bool = True,
) -> SeedResult:
    """Build the demo company of ``customers`` customers, or raise ``DemoDataExists``.

    The company arrives as a real one would. The generator stages every row; what WeCom holds
    goes into the sandbox (the corp of ``WECOM_CORP_ID``); the CRM then runs a full sync from it
    through the real client; what WeCom does not hold (history, notes, stages, custom fields,
    stores, personal tags, channels) is added last, matched by WeCom ids (see wecom_side.py).

    The same ``seed`` and ``base_date`` always give the same data. With ``reset``, the demo tables
    and the sandbox corp are emptied first (on PostgreSQL with ``TRUNCATE … CASCADE``, which also
    empties tables that refer to them). On PostgreSQL, big builds generate in a child process
    (``child_process``; by default from 50,000 customers). ``sync=False`` stops once the sandbox is
    filled (for the sync benchmark, which syncs over real HTTP itself).
    """
    say = progress or (lambda message: None)
    connection = connections[DEFAULT_DB_ALIAS]  # the wrapper itself: the sinks use it millions of times
    started = time.perf_counter()
    phases: dict[str, float] = {}
    base_date = base_date or timezone.localdate()
    tz = timezone.get_current_timezone()
    vendor = connection.vendor
    postgresql = vendor == "postgresql"
    if child_process is None:
        child_process = customers >= pipeline.CHILD_PROCESS_FROM
    also_emptied: list[str] = []
    corp_id = settings.WECOM_CORP_ID

    def lap(name: str, since: float) -> float:
        now = time.perf_counter()
        phases[name] = now - since
        return now

    with transaction.atomic():
        mark = time.perf_counter()
        generator = DemoGenerator(customers=customers, seed=seed, base_date=base_date, tz=tz, progress=say)
        tables = [m._meta.db_table for m in TABLES]
        if postgresql:
            with connection.cursor() as cursor:
                others = postgres.referencing_tables(cursor, tables)
                if reset:
                    get_user_model().objects.filter(username__in=DEMO_USERS).delete()
                # TRUNCATE refuses tables with deferred key checks still pending (from the delete
                # above, or from earlier work in an enclosing transaction): run them now.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                if reset:
                    postgres.truncate(cursor, tables, cascade=True)
                    also_emptied = sorted(others)
                else:
                    _check_empty()
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # Django's keys are deferred by default
        elif reset:
            demo_tables_clear()
        else:
            _check_empty()
        if reset or not SandboxApp.objects.filter(corp_id=corp_id).exists():
            sandbox_corp_clear(corp_id=corp_id)
        elif SandboxMember.objects.filter(corp_id=corp_id).exists():
            raise DemoConflict(
                f"The sandbox already holds people for the corp {corp_id}; use --reset to replace them."
            )
        else:
            SandboxApp.objects.filter(corp_id=corp_id).only("id").delete()
        rename = wecom_side.stage_create(connection)
        if postgresql:
            sink = CopySink(connection, now=generator.clock.latest, rename=rename)
        else:
            sink = InsertSink(connection, now=generator.clock.latest, rename=rename)
        mark = lap("prepare", mark)

        if postgresql and child_process:
            facts, counts = pipeline.generate_in_child(
                sink=sink, customers=customers, seed=seed, base_date=base_date, tz=tz, progress=say
            )
        else:
            facts = generator.run(sink)
            sink.close()
        mark = lap("generate", mark)

        say("filling the sandbox")
        sandbox_apps_create(
            corp_id=corp_id,
            contact_secret=settings.WECOM_SECRET,
            agent_secret=settings.WECOM_AGENT_SECRET,
            agentid=settings.WECOM_AGENT_ID,
            sync_secret=getattr(settings, "WECOM_CONTACT_SYNC_SECRET", ""),
        )
        big = postgresql and customers >= pipeline.CHILD_PROCESS_FROM
        if big:  # a million friendships load faster into tables without their indexes and keys
            with connection.cursor() as cursor:
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # ALTER TABLE refuses pending checks
                aside = postgres.set_aside(cursor, ["sb_external_contact", "sb_follow"])
        sandbox_counts = wecom_side.sandbox_fill(connection, SandboxSeeder(corp_id=corp_id))
        if big:
            with connection.cursor() as cursor:
                postgres.put_back(cursor, aside, progress=lambda s: say(f"rebuilding: {s}"))
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")
        mark = lap("sandbox", mark)
    if postgresql:
        postgres.analyze(connection, [m._meta.db_table for m in SANDBOX_SEEDED], vacuum=False)

    if sync:
        say("syncing the CRM from the sandbox")
        demo_sync(say=say)
        mark = lap("sync", mark)
    with transaction.atomic():
        if sync:
            say("adding the history WeCom does not hold")
            wecom_side.history_overlay(connection)
            mark = lap("history", mark)
            if postgresql:
                postgres.reset_sequences(connection, TABLES)
            _demo_users(facts, connection)
            mark = lap("logins", mark)
        wecom_side.stage_drop(connection)
    if sync:
        # The demo's year of adds and deletions is in the channel analytics from the start, as
        # if the nightly rollup had run every night of it.
        say("rolling up the channel analytics")
        channel_days_rollup(first_day=base_date - timedelta(days=366), last_day=base_date - timedelta(days=1))
        mark = lap("analytics", mark)
        say("adding the outreach examples")
        demo_outreach()
        demo_transfer_policies()
        mark = lap("outreach", mark)
    counts = {model._meta.label: model.objects.count() for model in TABLES}

    if postgresql:
        say("analyzing")
        postgres.analyze(connection, tables, vacuum=not connection.in_atomic_block)
        lap("analyze", mark)
    return SeedResult(
        facts=facts,
        counts=counts,
        seconds=time.perf_counter() - started,
        vendor=vendor,
        phases=phases,
        also_emptied=also_emptied,
        sandbox=sandbox_counts,
        synced=sync,
    )
