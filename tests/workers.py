"""A real Celery worker in its own process, on the test database, for the integration tier."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]


def test_database_url() -> str:
    db = connection.settings_dict
    auth = db["USER"] + (f":{db['PASSWORD']}" if db["PASSWORD"] else "")
    return f"postgres://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 5432}/{db['NAME']}"


test_database_url.__test__ = False  # a helper, not a test


@contextmanager
def celery_worker(queue: str) -> Iterator[subprocess.Popen]:
    """A worker serving ``queue``; skipped where another process cannot open the test database."""
    if connection.vendor != "postgresql":
        pytest.skip("the worker process cannot open an in-memory SQLite test database")
    env = {**os.environ, "DJANGO_SETTINGS_MODULE": "tests.settings", "DATABASE_URL": test_database_url()}
    command = [sys.executable, "-m", "celery", "-A", "scrm", "worker", "--queues", queue, "--pool", "solo"]
    command += ["--loglevel", "WARNING", "--without-heartbeat", "--without-gossip", "--without-mingle"]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        yield process
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
