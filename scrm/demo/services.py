"""Filling a database with the demo company, and emptying it again."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import date

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from campaigns.models import Channel
from customers.models import (
    Customer,
    CustomerEvent,
    CustomerNote,
    Follow,
    FollowPersonalTag,
    FollowTag,
    PersonalTag,
    Tag,
    TagGroup,
)
from groups.models import GroupChat, GroupMember, GroupTag
from scrm.org.models import Department, Role, Staff, StaffDepartment
from scrm.org.services import operator_assign

from . import pipeline, postgres
from .columns import BIG_TABLES, TABLES
from .generator import DemoFacts, DemoGenerator
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


def _clear_orm() -> None:
    """Delete every demo table's rows through the ORM, leaves first (any database)."""
    get_user_model().objects.filter(username__in=DEMO_USERS).delete()
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


def _demo_users(facts: DemoFacts) -> None:
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


def demo_seed(
    *,
    customers: int = DEFAULT_CUSTOMERS,
    seed: int = DEFAULT_SEED,
    base_date: date | None = None,
    reset: bool = False,
    progress=None,
    child_process: bool | None = None,
) -> SeedResult:
    """Build the demo company of ``customers`` customers, or raise ``DemoDataExists``.

    The same ``seed`` and ``base_date`` always give the same rows, ids included. With ``reset``,
    the demo tables are emptied first (on PostgreSQL with ``TRUNCATE … CASCADE``, which also empties
    tables that refer to them, such as store managers' department assignments). On PostgreSQL, big
    builds generate in a child process (``child_process``; by default from 50,000 customers).
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
                # TRUNCATE and ALTER TABLE refuse tables with deferred key checks still pending (from
                # the delete above, or from earlier work in an enclosing transaction): run them now.
                cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
                if reset:
                    postgres.truncate(cursor, tables, cascade=True)
                    also_emptied = sorted(others)
                    freeze = set(tables)
                else:
                    _check_empty()
                    if all(postgres.is_empty(cursor, t) for t in others):
                        # Truncating empty tables in this transaction lets COPY load them frozen.
                        postgres.truncate(cursor, tables + sorted(others), cascade=False)
                        freeze = set(tables)
                    else:
                        freeze = set()
                aside = postgres.set_aside(cursor, [m._meta.db_table for m in BIG_TABLES])
            sink = CopySink(connection, now=generator.clock.latest, freeze=freeze)
        else:
            if reset:
                _clear_orm()
            else:
                _check_empty()
            sink = InsertSink(connection, now=generator.clock.latest)
        mark = lap("prepare", mark)

        if postgresql and child_process:
            facts, counts = pipeline.generate_in_child(
                sink=sink, customers=customers, seed=seed, base_date=base_date, tz=tz, progress=say
            )
        else:
            facts = generator.run(sink)
            sink.close()
            counts = {model._meta.label: count for model, count in sink.counts().items()}
        mark = lap("generate and load", mark)

        if postgresql:
            with connection.cursor() as cursor:
                postgres.put_back(cursor, aside, progress=lambda s: say(f"rebuilding: {s}"))
                cursor.execute("SET CONSTRAINTS ALL DEFERRED")  # Django's keys are deferred by default
            mark = lap("indexes and keys", mark)
            postgres.reset_sequences(connection, TABLES)
        _demo_users(facts)
        mark = lap("logins", mark)

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
    )
