"""A real Celery worker, started as its own process, takes a task from the real broker and writes to
the real database. Runs where another process can open the test database (PostgreSQL)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from customers.models import CustomerEvent, FollowTag
from customers.tasks import customers_tag_task

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

ROOT = Path(__file__).resolve().parents[2]


def database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


@pytest.fixture
def worker():
    if connection.vendor != "postgresql":
        pytest.skip("the worker process cannot open an in-memory SQLite test database")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": database_url()}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "scrm",
            "worker",
            "--queues",
            "bulk",
            "--pool",
            "solo",
            "--loglevel",
            "WARNING",
            "--without-heartbeat",
            "--without-gossip",
            "--without-mingle",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    yield process
    process.terminate()
    try:
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        process.kill()


def test_a_worker_runs_a_bulk_tag_task_once(company, worker):
    result = customers_tag_task.apply_async(
        kwargs={"customer_ids": [company.ca2.id, company.cb1.id], "tag_ids": [company.gold.id], "add": True}
    )
    deadline = time.monotonic() + 60
    while (
        time.monotonic() < deadline
        and not FollowTag.objects.filter(tag=company.gold, follow__customer=company.cb1).exists()
    ):
        assert worker.poll() is None, worker.stdout.read().decode()
        time.sleep(0.5)
    assert result.id
    assert FollowTag.objects.filter(tag=company.gold).count() == 3  # ca1 had it; ca2 and cb1 got it
    assert CustomerEvent.objects.filter(type=CustomerEvent.Type.TAGGED).count() == 2
