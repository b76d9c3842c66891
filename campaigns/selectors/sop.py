"""Reads of customer SOPs: the rules (a company-wide marketing tool, like channels and live codes:
whoever may view them sees them all) and their enrolments and occurrences, kept to the reader's
data scope through the enrolment's staff member."""

from __future__ import annotations

from django.db.models import Count, OuterRef, Prefetch, QuerySet, Subquery
from django.db.models.functions import Coalesce

from scrm.org.scoping import scope_for

from ..models import SopEnrolment, SopOccurrence, SopRule, SopStep, SopStepAttachment

__all__ = ["sop_enrolment_list", "sop_occurrence_list", "sop_rule_list"]


def sop_rule_list(*, user=None) -> QuerySet[SopRule]:
    """Rules with their trigger's objects, their steps (and the steps' attachments) prefetched,
    and the number of active enrolments."""
    steps = SopStep.objects.order_by("position", "id").prefetch_related(
        Prefetch("attachments", queryset=SopStepAttachment.objects.order_by("position", "id"))
    )
    # A correlated count, not a join: a join would multiply with any other annotation's join.
    active = (
        SopEnrolment.objects.filter(rule=OuterRef("pk"), status=SopEnrolment.Status.ACTIVE)
        .order_by()
        .values("rule")
        .annotate(n=Count("pk"))
        .values("n")
    )
    return (
        SopRule.objects.select_related(
            "channel", "live_code", "trigger_tag", "segment", "exit_tag_removed", "goal_tag"
        )
        .prefetch_related(Prefetch("steps", queryset=steps))
        .annotate(active_enrolments=Coalesce(Subquery(active), 0))
    )


def _scoped(rows: QuerySet, user, prefix: str = "") -> QuerySet:
    scope = scope_for(user)
    if scope.everything:
        return rows
    if scope.is_empty:
        return rows.none()
    if scope.is_guide:
        return rows.filter(**{f"{prefix}staff_id": scope.staff_id})
    return rows.filter(**{f"{prefix}staff__in": scope.staff()})


def sop_enrolment_list(*, user, rule: SopRule | None = None) -> QuerySet[SopEnrolment]:
    """Enrolments ``user`` may see (by the staff member who gets the tasks), newest first."""
    rows = SopEnrolment.objects.select_related("rule", "customer", "staff")
    if rule is not None:
        rows = rows.filter(rule=rule)
    return _scoped(rows, user)


def sop_occurrence_list(*, user) -> QuerySet[SopOccurrence]:
    """Occurrences of the enrolments ``user`` may see."""
    rows = SopOccurrence.objects.select_related(
        "step", "enrolment__rule", "enrolment__customer", "enrolment__staff"
    )
    return _scoped(rows, user, prefix="enrolment__")
