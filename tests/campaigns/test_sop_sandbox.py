"""A customer SOP fed by a live code through the sandbox over HTTP: a WeChat user scans the code
(the sandbox's player move), WeCom's add callback reaches our endpoint, and the add handler enrols
the customer; the tick then creates the staff member's tasks at the steps' times."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

import pytest

from campaigns.models import SopEnrolment, SopOccurrence, SopRule, SopStep, StaffTask
from campaigns.services.sop import sop_occurrences_run, sop_rule_save, sop_step_due
from customers.models import Follow
from scrm.wecom.models import CallbackInbox
from tests.campaigns.test_livecodes_sandbox import corp, create, scan, staff  # noqa: F401  (fixtures)
from tests.wecom.conftest import eager_celery  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)


def test_scanning_a_live_code_enrols_the_customer_in_its_welcome_series(corp, staff, settings):  # noqa: F811
    settings.OUTREACH_QUIET_HOURS = ""  # the sandbox's clock is the wall clock, whatever its hour
    code = create(staff[:2], backups=())
    rule = sop_rule_save(
        rule=SopRule(name="Welcome series", trigger=SopRule.Trigger.LIVE_CODE, live_code=code),
        steps=[
            (SopStep(day=0, at_time=time(10), text="Welcome"), []),
            (SopStep(day=1, at_time=time(10), text="Day 1"), []),
            (SopStep(day=3, at_time=time(10), text="Day 3"), []),
        ],
    )
    reached = [scan(corp, code, name=f"Visitor {i}")["userid"] for i in range(2)]
    assert set(CallbackInbox.objects.values_list("status", flat=True)) == {"done"}

    enrolments = list(SopEnrolment.objects.select_related("staff").order_by("id"))
    assert [e.staff.userid for e in enrolments] == reached
    for enrolment in enrolments:
        follow = Follow.objects.get(customer=enrolment.customer, staff=enrolment.staff)
        assert enrolment.rule == rule and enrolment.anchor_at == follow.added_at
    first = enrolments[0]
    steps = list(rule.steps.order_by("position"))
    expected = [sop_step_due(step=s, anchor_at=first.anchor_at, tz=ZoneInfo("Asia/Shanghai")) for s in steps]
    assert list(first.occurrences.order_by("due_at").values_list("due_at", flat=True)) == expected

    for count, due in enumerate(expected, start=1):
        sop_occurrences_run(now=due)
        assert StaffTask.objects.filter(customer=first.customer).count() == count
    assert list(
        StaffTask.objects.filter(customer=first.customer).values_list("content__text", flat=True)
    ) == [
        "Welcome",
        "Day 1",
        "Day 3",
    ]
    assert SopOccurrence.objects.filter(enrolment=first, status="done").count() == 3
