"""The demo's reassignment policies: a corp default and one department's own, made once."""

from __future__ import annotations

import pytest

from customers.models import TransferJob, TransferPolicy
from scrm.demo.services import demo_tables_clear
from scrm.demo.transfers import ROUND_ROBIN_DEPARTMENT, demo_transfer_policies
from scrm.org.models import Staff
from tests.factories import DepartmentFactory, StaffFactory

pytestmark = pytest.mark.django_db


def test_a_corp_default_and_one_department_policy_made_once():
    area = DepartmentFactory(name=ROUND_ROBIN_DEPARTMENT)
    assert demo_transfer_policies() == 2
    assert demo_transfer_policies() == 0
    default = TransferPolicy.objects.get(department__isnull=True)
    assert (default.strategy, default.on_refusal) == ("least_loaded", "pool")
    own = TransferPolicy.objects.get(department=area)
    assert (own.strategy, own.on_refusal) == ("round_robin", "next")


def test_clearing_the_demo_deletes_transfer_jobs_before_the_staff_they_protect():
    handover, takeover = StaffFactory(), StaffFactory()
    TransferJob.objects.create(
        kind=TransferJob.Kind.ONJOB, trigger=TransferJob.Trigger.ADMIN, handover=handover, takeover=takeover
    )
    demo_transfer_policies()
    demo_tables_clear()
    assert not Staff.objects.exists()
    assert not TransferJob.objects.exists() and not TransferPolicy.objects.exists()
