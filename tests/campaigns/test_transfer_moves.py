"""Open campaign work moves with the customers a successor takes over (``follows_transferred``).

The signal is sent the way the transfer results send it: a list of ``FollowMove``, one per
customer. What moves: the old staff member's open tasks and active SOP enrolments for those
customers. What stays: finished tasks, ended enrolments, and the old member's other customers.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import SopEnrolment, SopRule, StaffTask
from campaigns.services.transfers import staff_work_move
from customers.models import TransferJob
from customers.signals import follows_transferred
from customers.transfers.results import FollowMove
from tests.factories import CustomerFactory, FollowFactory, StaffFactory

pytestmark = pytest.mark.django_db


def task(staff, customer, key, status=StaffTask.Status.OPEN) -> StaffTask:
    return StaffTask.objects.create(
        staff=staff,
        customer=customer,
        title=key,
        source_key=key,
        due_at=timezone.now() + timedelta(hours=1),
        status=status,
    )


def enrolment(rule, staff, customer, status=SopEnrolment.Status.ACTIVE) -> SopEnrolment:
    return SopEnrolment.objects.create(
        rule=rule, customer=customer, staff=staff, anchor_at=timezone.now(), status=status
    )


@pytest.fixture
def moved():
    """Two customers of a departed member taken over by two colleagues; a third one stays."""
    old, first, second = StaffFactory(), StaffFactory(), StaffFactory()
    job = TransferJob.objects.create(
        kind=TransferJob.Kind.RESIGNED, trigger=TransferJob.Trigger.SYNC, handover=old
    )
    a, b, kept = CustomerFactory(), CustomerFactory(), CustomerFactory()
    moves = []
    for customer, new in ((a, first), (b, second)):
        old_follow = FollowFactory(customer=customer, staff=old)
        new_follow = FollowFactory(customer=customer, staff=new)
        moves.append(FollowMove(customer.pk, old_follow.pk, new_follow.pk, old.pk, new.pk, job.pk))
    return old, first, second, a, b, kept, moves


def test_open_tasks_and_active_enrolments_move_finished_work_stays(moved):
    old, first, second, a, b, kept, moves = moved
    rule = SopRule.objects.create(name="Welcome", trigger=SopRule.Trigger.CHANNEL)
    ended_rule = SopRule.objects.create(name="Old offer", trigger=SopRule.Trigger.CHANNEL)
    open_a, open_b = task(old, a, "a-open"), task(old, b, "b-open")
    done_a = task(old, a, "a-done", status=StaffTask.Status.DONE)
    skipped_b = task(old, b, "b-skipped", status=StaffTask.Status.SKIPPED)
    open_kept = task(old, kept, "kept-open")
    other_staff = task(first, b, "first-b")  # someone else's task for b: not the old member's
    enrol_a, enrol_b = enrolment(rule, old, a), enrolment(rule, old, b)
    ended_a = enrolment(ended_rule, old, a, status=SopEnrolment.Status.COMPLETED)
    enrol_kept = enrolment(rule, old, kept)

    follows_transferred.send(sender=None, moves=moves)

    def staff_of(row):
        row.refresh_from_db()
        return row.staff

    assert (staff_of(open_a), staff_of(open_b)) == (first, second)
    assert [staff_of(t) for t in (done_a, skipped_b, open_kept)] == [old, old, old]
    assert staff_of(other_staff) == first
    assert (staff_of(enrol_a), staff_of(enrol_b)) == (first, second)
    assert (staff_of(ended_a), staff_of(enrol_kept)) == (old, old)
    assert open_a.source_key == "a-open" and open_a.status == StaffTask.Status.OPEN

    # Sent again (a retried results poll): nothing left to move.
    assert staff_work_move(moves=moves) == (0, 0)


def test_one_update_per_kind_whatever_the_number_of_customers(moved):
    old, first, second, *_ = moved
    moves = []
    for n in range(60):
        customer = CustomerFactory()
        task(old, customer, f"t{n}")
        new = first if n % 2 else second
        moves.append(FollowMove(customer.pk, 0, 0, old.pk, new.pk, 0))

    with CaptureQueriesContext(connection) as queries:
        assert staff_work_move(moves=moves) == (60, 0)

    assert [q["sql"].split()[0] for q in queries.captured_queries] == ["UPDATE", "UPDATE"]
    assert StaffTask.objects.filter(staff=first).count() == 30
    assert StaffTask.objects.filter(staff=second).count() == 30
