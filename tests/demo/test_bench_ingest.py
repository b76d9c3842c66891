"""P2 (bench/ingest.py) runs end to end at a tiny size: gunicorn, the load, a realtime worker, the check.

CI proves that it works; it does not judge speed. The servers are separate processes, so this
needs a database they can open too (PostgreSQL) and a broker they share (Redis in CI).
"""

from __future__ import annotations

import json

import pytest
from django.db import connection

from bench import ingest
from scrm.wecom.models import CallbackInbox

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def postgresql():
    if connection.vendor != "postgresql":
        pytest.skip("gunicorn's processes cannot open an in-memory SQLite test database")


def test_p2_fires_distinct_callbacks_and_checks_each_is_processed_once(postgresql):
    messages: list[str] = []
    result = ingest.p2_ingest(customers=0, callbacks=160, connections=4, rounds=2, say=messages.append)

    assert result.errors == []
    ingest_figure, empty_figure = result.figures
    assert len(ingest_figure.samples) == len(empty_figure.samples) == 2 * 55  # (160 - 50 warm-up) / 2
    assert all(latency > 0 for latency in ingest_figure.samples + empty_figure.samples)
    assert [t.text for t in result.targets] == [
        "≥ 1,000 callbacks/s sustained",
        "p99 < 100 ms",
        "≥ 25% of the empty view's rate",
        "every callback stored once and processed once",
    ]
    assert result.targets[-1].met
    assert any("each row stored once, done, claimed exactly once" in note for note in result.notes)
    assert any("draining 160 inbox rows" in m for m in messages)
    assert not CallbackInbox.objects.filter(change_type=ingest.BENCH_CHANGE_TYPE).exists()  # cleaned up
    json.dumps(result.as_dict(), ensure_ascii=False)


def test_p2_is_skipped_plainly_where_it_cannot_run(monkeypatch):
    monkeypatch.setattr(connection, "vendor", "sqlite")
    result = ingest.p2_ingest(customers=2000, say=lambda m: None)
    assert result.errors == [] and result.targets == [] and "skipped" in result.notes[0]


def test_the_number_of_callbacks_follows_the_data_size():
    assert ingest.callbacks_for(2_000) == 400
    assert ingest.callbacks_for(1_000_000) == 20_000
