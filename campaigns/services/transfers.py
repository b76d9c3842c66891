"""Campaign work follows the customer to the successor (issue 6; PRODUCT.md E3).

When customers are taken over (``customers.signals.follows_transferred``, inside the transaction
that closes the old follows), what the old staff member still had to do for them moves to the new
one: their open staff tasks, and their active SOP enrolments (whose later steps then become the
new staff member's tasks). Finished tasks stay where they were done: they are the old member's
record. One UPDATE per kind per call, whatever the number of customers.
"""

from __future__ import annotations

import operator
from collections import defaultdict
from collections.abc import Sequence
from functools import reduce

from django.db.models import Case, IntegerField, Q, Value, When

from ..models import SopEnrolment, StaffTask

__all__ = ["follows_transferred_receiver", "staff_work_move"]

#: Customers per UPDATE: bounds the statement's size for very large takeovers.
CHUNK = 5000


def _pairs(moves: Sequence) -> dict[tuple[int, int], list[int]]:
    """``{(old staff, new staff): [customer ids]}``: a job has few takeovers, so few pairs."""
    pairs: dict[tuple[int, int], list[int]] = defaultdict(list)
    for move in moves:
        if move.old_staff_id != move.new_staff_id:
            pairs[(move.old_staff_id, move.new_staff_id)].append(move.customer_id)
    return pairs


def _move(queryset, pairs: dict[tuple[int, int], list[int]]) -> int:
    """``staff`` of the rows of each (old staff, customer) set to the pair's new staff, in one
    UPDATE with a CASE per pair."""
    conditions = {
        pair: Q(staff_id=pair[0], customer_id__in=customer_ids) for pair, customer_ids in pairs.items()
    }
    whens = [When(condition, then=Value(new_staff_id)) for (_, new_staff_id), condition in conditions.items()]
    return queryset.filter(reduce(operator.or_, conditions.values())).update(
        staff_id=Case(*whens, output_field=IntegerField())
    )


def staff_work_move(*, moves: Sequence) -> tuple[int, int]:
    """Move the open staff tasks and active SOP enrolments of each move's (old staff, customer) to
    its new staff member. Returns ``(tasks, enrolments)`` moved; a second call moves nothing."""
    tasks = enrolments = 0
    for start in range(0, len(moves), CHUNK):
        pairs = _pairs(moves[start : start + CHUNK])
        if not pairs:
            continue
        tasks += _move(StaffTask.objects.filter(status=StaffTask.Status.OPEN), pairs)
        enrolments += _move(SopEnrolment.objects.filter(status=SopEnrolment.Status.ACTIVE), pairs)
    return tasks, enrolments


def follows_transferred_receiver(sender=None, *, moves, **kwargs) -> None:
    """``follows_transferred``: the takeovers' customers bring their open work with them."""
    staff_work_move(moves=list(moves))
