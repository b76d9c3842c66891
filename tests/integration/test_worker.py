"""A real Celery worker, started as its own process, takes a task from the real broker and writes to
the real database. Runs where another process can open the test database (PostgreSQL)."""

from __future__ import annotations

import time

import pytest

from customers.models import CustomerEvent, FollowTag
from customers.tasks import customers_tag_task
from tests.workers import celery_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def worker():
    with celery_worker("bulk") as process:
        yield process


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
