"""The demo's reassignment policies, so that the staff-lifecycle pages of a fresh `make run` show a
corp default and a department that differs from it (PRODUCT.md E3).

Running it again adds nothing: the corp default and the department's policy are looked up first.
"""

from __future__ import annotations

from customers.models import TransferPolicy
from scrm.org.models import Department

#: The department whose departing staff's customers go round-robin to their store's colleagues
#: (the demo's departments have no leaders, so a "manager" policy would pool everyone).
ROUND_ROBIN_DEPARTMENT = "华东大区"


def demo_transfer_policies() -> int:
    """Create the demo's policies that are missing; returns how many were made."""
    made = 0
    if not TransferPolicy.objects.filter(department__isnull=True).exists():
        # Colleagues of the same store share a departed member's customers by their load; a
        # customer who refuses waits in the pool for whoever claims them.
        TransferPolicy.objects.create(
            strategy=TransferPolicy.Strategy.LEAST_LOADED, on_refusal=TransferPolicy.OnRefusal.POOL
        )
        made += 1
    department = Department.objects.filter(name=ROUND_ROBIN_DEPARTMENT).first()
    if department is not None and not TransferPolicy.objects.filter(department=department).exists():
        TransferPolicy.objects.create(
            department=department,
            strategy=TransferPolicy.Strategy.ROUND_ROBIN,
            on_refusal=TransferPolicy.OnRefusal.NEXT,
        )
        made += 1
    return made
