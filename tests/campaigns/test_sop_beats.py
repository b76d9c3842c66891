"""Two beats firing the same minute: two ticks at once on PostgreSQL still do each step once.

Each thread has its own database connection, as two worker processes would; they start together
behind a barrier. ``SELECT … FOR UPDATE SKIP LOCKED`` gives each batch of occurrences to one of
them, the cursor of tagged events is read by one, and a segment rule is evaluated by one.
"""

from __future__ import annotations

import threading
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.db import connection, connections
from django.utils import timezone

from campaigns.models import Broadcast, SopEnrolment, SopOccurrence, SopRule, SopStep, StaffTask
from campaigns.services.sop import (
    SopEntrant,
    sop_enrol,
    sop_occurrences_run,
    sop_rule_save,
    sop_tagged_enrol,
    sop_tick,
)
from customers.models import Customer, Follow, FollowTag, Segment
from customers.services import customer_tag_ids_refresh, customers_tag
from tests.factories import StaffFactory, TagFactory

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="row locks need PostgreSQL"),
]

SH = ZoneInfo("Asia/Shanghai")
ENROLLED = 700  # more than one batch of 500 each


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SH)


def together(work, count: int = 2) -> list:
    """Run ``work()`` in ``count`` threads started at the same moment; their results."""
    barrier = threading.Barrier(count)
    results: list = [None] * count
    errors: list = []

    def run(index: int) -> None:
        try:
            barrier.wait()
            results[index] = work()
        except Exception as error:  # reported below, in the test's thread
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    return results


def customers_with_follows(count: int, staff) -> list[Customer]:
    customers = Customer.objects.bulk_create(
        [
            Customer(external_userid=f"wmbeat{i:06d}", name=f"Beat {i}", first_added_at=at(1, 9))
            for i in range(count)
        ]
    )
    Follow.objects.bulk_create([Follow(customer=c, staff=staff, added_at=at(1, 9)) for c in customers])
    return customers


def test_two_runs_at_once_create_each_task_and_broadcast_once():
    staff = StaffFactory()
    rule = sop_rule_save(
        rule=SopRule(name="Welcome", trigger=SopRule.Trigger.TAGGED, trigger_tag=TagFactory()),
        steps=[
            (SopStep(day=0, at_time=time(10), text="Welcome"), []),
            (SopStep(day=0, at_time=time(10), text="Our offer", action=SopStep.Action.BROADCAST), []),
        ],
    )
    customers = customers_with_follows(ENROLLED, staff)
    entrants = [SopEntrant(c.pk, staff.pk, at(23, 9, 30)) for c in customers]
    assert sop_enrol(rule=rule, entrants=entrants, now=at(23, 9, 30)) == ENROLLED

    first, second = together(lambda: sop_occurrences_run(now=at(23, 10)))

    assert first.done + second.done == 2 * ENROLLED  # no occurrence was done twice
    assert first.tasks + second.tasks == ENROLLED == StaffTask.objects.count()
    assert set(SopOccurrence.objects.values_list("status", flat=True)) == {"done"}
    audiences = [b.customer_ids for b in Broadcast.objects.all()]
    reached = [customer for audience in audiences for customer in audience]
    assert len(reached) == len(set(reached)) == ENROLLED  # every customer in exactly one broadcast
    assert set(SopEnrolment.objects.values_list("status", flat=True)) == {"completed"}


def test_two_ticks_at_once_enrol_and_run_once(settings):
    settings.OUTREACH_QUIET_HOURS = ""  # the tagged events carry the wall clock's time
    staff = StaffFactory()
    gold = TagFactory(name="Gold")
    segment = Segment.objects.create(name="Gold", rules={"tags_any": [gold.pk]})
    by_tag = sop_rule_save(
        rule=SopRule(name="Tagged", trigger=SopRule.Trigger.TAGGED, trigger_tag=gold),
        steps=[(SopStep(hours=0, text="Thanks for your interest"), [])],
    )
    by_segment = sop_rule_save(
        rule=SopRule(name="Segment", trigger=SopRule.Trigger.SEGMENT, segment=segment),
        steps=[(SopStep(hours=0, text="Gold care"), [])],
    )
    customers = customers_with_follows(300, staff)
    sop_tagged_enrol(now=at(23, 9))  # the cursor starts here
    customers_tag(customer_ids=[c.pk for c in customers], tags=[gold])
    assert FollowTag.objects.count() == 300
    customer_tag_ids_refresh([c.pk for c in customers])

    now = timezone.now() + timedelta(minutes=1)  # the tags were put at the wall clock's time
    ticks = together(lambda: sop_tick(now=now))

    assert sum(t.tagged for t in ticks) == 300 == by_tag.enrolments.count()
    assert sum(t.segments for t in ticks) == 300 == by_segment.enrolments.count()
    assert sum(t.run.done for t in ticks) == 600
    assert StaffTask.objects.count() == 600
    assert connection.vendor == "postgresql"
