"""P7 (bench/transfers.py) end to end at a tiny size: CI proves it works, it does not judge speed."""

from __future__ import annotations

import pytest

from bench import run as bench
from customers.models import Customer, Follow, TransferJob
from scrm.org.models import Staff
from scrm.sandbox.models import SandboxExternalContact, SandboxMember, SandboxTransfer

pytestmark = pytest.mark.django_db


def test_p7_reassigns_one_departed_members_customers_in_batches_of_100():
    messages: list[str] = []
    report = bench.run(
        customers=250, runs=2, warmup=0, only={"P7"}, say=messages.append, sync_server="inprocess"
    )

    assert report.errors == [] and [r.id for r in report.results] == ["P7"]
    assert report.build is None  # P7 brings its own member and customers: no data set is built
    (p7,) = report.results
    wall, waited, own = (f.samples[0] for f in p7.figures[:3])
    assert wall == pytest.approx(waited + own) and 0 < waited < wall
    assert all(len(f.samples) == 2 for f in p7.figures)
    assert "3 resigned/transfer_customer calls" in p7.notes[0] and "250 follows moved" in p7.notes[0]
    assert p7.targets
    assert "P7" in bench.render(report)

    # Our side was rolled back and the sandbox's rows deleted: nothing of the benchmark is left.
    assert not Customer.objects.exists() and not Follow.objects.exists()
    assert not Staff.objects.exists() and not TransferJob.objects.exists()
    assert not SandboxMember.objects.filter(userid__startswith="bench_p7").exists()
    assert not SandboxExternalContact.objects.exists() and not SandboxTransfer.objects.exists()
