"""Tasks of customer SOPs: the minute tick and the admin's "enrol now". Thin; safe to run twice
(every service they call claims or conflicts)."""

from __future__ import annotations

from celery import shared_task
from django.utils import timezone

from ..models import SopRule
from ..services.sop import sop_segment_enrol, sop_tick

__all__ = ["sop_segment_enrol_task", "sop_tick_task"]


@shared_task(acks_late=True, queue="default")
def sop_tick_task() -> dict:
    """One minute of the SOP engine (beat: ``campaigns.sop_tick``)."""
    result = sop_tick(now=timezone.now())
    return {"tagged": result.tagged, "segments": result.segments, "exited": result.exited, **vars(result.run)}


@shared_task(acks_late=True, queue="bulk")
def sop_segment_enrol_task(*, rule_id: int) -> int:
    """Enrol a segment rule's new matches now, outside its periodic evaluation."""
    rule = SopRule.objects.select_related("segment").filter(pk=rule_id, active=True).first()
    if rule is None or rule.segment_id is None:
        return 0
    return sop_segment_enrol(rule=rule, now=timezone.now())
