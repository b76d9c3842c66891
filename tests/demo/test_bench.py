"""The benchmarks (bench/) run end to end at a tiny size: CI proves they work, it does not judge speed."""

from __future__ import annotations

import json

import pytest

from bench import run as bench
from bench.measure import Figure
from bench.scenarios import full_counts
from customers.models import Customer

pytestmark = pytest.mark.django_db


def test_benchmarks_run_at_a_tiny_size():
    messages: list[str] = []
    report = bench.run(customers=2000, runs=2, warmup=1, say=messages.append)

    assert report.errors == []
    assert [r.id for r in report.results] == ["P1", "P3", "P4"]
    assert report.build is not None and report.data["customers"] == 2000
    assert any("building the data set" in m for m in messages)
    p1, p3, p4 = report.results
    assert len(p1.figures) == 3 and all(len(f.samples) == 2 for f in p1.figures)
    assert any("customers" in note for note in p1.notes)  # the ORM and the SQL counted the same audience
    assert [f.label for f in p3.figures][1:] == [
        "customer change page",
        "empty page, same middleware (baseline)",
    ]
    assert len(p4.figures) == 2
    assert all(r.targets for r in report.results)

    text = bench.render(report)
    assert "P1" in text and "P3" in text and "P4" in text and "summary:" in text
    json.dumps(report.as_dict(), ensure_ascii=False)  # the --json output serialises

    # The data set is kept when it has the wanted size.
    again = bench.run(customers=2000, runs=1, warmup=0, only={"P1"}, say=messages.append)
    assert again.build is None and [r.id for r in again.results] == ["P1"]

    # P1b: P1's audience planned into recipient rows, against a load of the same rows (rolled back).
    planned = bench.run(customers=2000, runs=2, warmup=0, only={"P1B"}, say=messages.append)
    assert planned.errors == [] and [r.id for r in planned.results] == ["P1b"]
    (p1b,) = planned.results
    assert [len(f.samples) for f in p1b.figures] == [2, 2] and "rows/s" in p1b.notes[1] and p1b.targets
    from campaigns.models import Broadcast, BroadcastRecipient

    # Rolled back: only the demo's own draft broadcast remains.
    assert list(Broadcast.objects.values_list("status", flat=True)) == ["draft"]
    assert not BroadcastRecipient.objects.exists()

    # P5: a full sync of the data set's sandbox corp into emptied tables, then put back. In a test
    # the sandbox answers in-process (a server process would not see the test's transaction).
    customers_before = Customer.objects.count()
    sync = bench.run(
        customers=2000, runs=1, warmup=0, only={"P5"}, say=messages.append, sync_server="inprocess"
    )
    assert sync.errors == [] and [r.id for r in sync.results] == ["P5"]
    (p5,) = sync.results
    wall, waited, own, baseline = (f.samples[0] for f in p5.figures)
    assert wall == pytest.approx(waited + own) and 0 < waited < wall and baseline > 0
    assert "customers/s" in p5.notes[1] and p5.targets
    assert Customer.objects.count() == customers_before  # the emptied tables were put back

    # P6: every customer planned, batched by sender and handed to the sandbox, then rolled back.
    from campaigns.models import Broadcast
    from scrm.sandbox.models import SandboxMassMessage

    before = (Broadcast.objects.count(), SandboxMassMessage.objects.count())
    dispatch = bench.run(
        customers=2000, runs=1, warmup=0, only={"P6"}, say=messages.append, sync_server="inprocess"
    )
    assert dispatch.errors == [] and [r.id for r in dispatch.results] == ["P6"]
    (p6,) = dispatch.results
    wall, waited, own = (f.samples[0] for f in p6.figures[:3])
    assert wall == pytest.approx(waited + own) and 0 < waited < wall
    assert "handed over" in p6.notes[0] and "sender batches" in p6.notes[0] and p6.targets
    assert (Broadcast.objects.count(), SandboxMassMessage.objects.count()) == before  # all undone


def test_figures_and_the_full_count_check():
    figure = Figure("x", [0.010, 0.012, 0.011, 0.030])
    assert figure.median == pytest.approx(0.0115)
    assert figure.quantile(0.0) == 0.010 and figure.quantile(1.0) == 0.030
    assert "11.5 ms" in figure.text() and "n=4" in figure.text()
    assert full_counts([{"sql": 'SELECT COUNT(*) AS "__count" FROM "customers_customer" WHERE x'}])
    assert not full_counts(
        [{"sql": 'SELECT COUNT(*) FROM (SELECT 1 FROM "customers_customer" LIMIT 10001) s'}]
    )
    assert not full_counts([{"sql": 'SELECT COUNT(*) FROM "customers_customernote" WHERE customer_id = 1'}])
