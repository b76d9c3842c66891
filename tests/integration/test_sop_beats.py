"""QUALITY.md R7: two schedulers started by mistake fire the SOP tick in two processes at once.

Two Python processes on the test database each run the tick's occurrence step for the same
minute, released together by a file; every staff task must exist once and every occurrence be
done by exactly one of them (``SELECT … FOR UPDATE SKIP LOCKED``).

PostgreSQL only: the processes must open the test database.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime
from datetime import time as clock
from zoneinfo import ZoneInfo

import pytest
from django.db import connection

from campaigns.models import SopOccurrence, SopRule, SopStep, StaffTask
from campaigns.services.sop import SopEntrant, sop_enrol, sop_rule_save
from customers.models import Customer, Follow
from tests.factories import StaffFactory, TagFactory
from tests.workers import ROOT, test_database_url

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

SH = ZoneInfo("Asia/Shanghai")
CUSTOMERS = 1500
NOW = datetime(2026, 11, 23, 10, 0, tzinfo=SH)

RUN = """
import json, os, sys, time
import django
django.setup()
from datetime import datetime
from campaigns.services.sop import sop_occurrences_run
while not os.path.exists(sys.argv[1]):
    time.sleep(0.01)
result = sop_occurrences_run(now=datetime.fromisoformat(sys.argv[2]))
print(json.dumps({"done": result.done, "tasks": result.tasks}))
"""


def test_two_tick_processes_at_once_create_each_task_once(tmp_path):
    if connection.vendor != "postgresql":
        pytest.skip("the other processes cannot open an in-memory SQLite test database")
    staff = StaffFactory()
    rule = sop_rule_save(
        rule=SopRule(name="Welcome", trigger=SopRule.Trigger.TAGGED, trigger_tag=TagFactory()),
        steps=[
            (SopStep(day=0, at_time=clock(10), text="Welcome"), []),
            (SopStep(hours=0, text="Say hello"), []),
        ],
    )
    customers = Customer.objects.bulk_create(
        [
            Customer(external_userid=f"wmproc{i:06d}", name=f"P {i}", first_added_at=NOW)
            for i in range(CUSTOMERS)
        ]
    )
    Follow.objects.bulk_create([Follow(customer=c, staff=staff, added_at=NOW) for c in customers])
    entrants = [SopEntrant(c.pk, staff.pk, datetime(2026, 11, 23, 9, 30, tzinfo=SH)) for c in customers]
    assert sop_enrol(rule=rule, entrants=entrants, now=NOW) == CUSTOMERS

    start = tmp_path / "go"
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": test_database_url()}
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", RUN, str(start), NOW.isoformat()],
            cwd=ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    time.sleep(3)  # both have imported Django and are waiting for the file
    start.touch()
    results = []
    for process in processes:
        out, err = process.communicate(timeout=300)
        assert process.returncode == 0, err
        results.append(json.loads(out.strip().splitlines()[-1]))

    assert sum(r["done"] for r in results) == 2 * CUSTOMERS  # no occurrence done twice
    assert sum(r["tasks"] for r in results) == 2 * CUSTOMERS == StaffTask.objects.count()
    assert set(SopOccurrence.objects.values_list("status", flat=True)) == {"done"}
