"""The groups section of a transfer job's admin page: the handover's groups and where they went.

Registered in ``customers.admin_transfers.transfer_job_sections`` (the customers app shows the
job; the groups are ours to describe).
"""

from __future__ import annotations

from django.db.models import Case, Count, IntegerField, Value, When
from django.utils.formats import date_format
from django.utils.translation import gettext as _

from .models import GroupTransfer

#: Groups listed on the page; the counts cover all of them.
ROWS_SHOWN = 100

Status = GroupTransfer.Status


def group_transfer_section(job) -> dict | None:
    """``{"title", "counts", "columns", "rows"}`` for ``job``, or None when it moves no groups.
    Rows that need a look (failed, no new owner) come first, then the ones still to go."""
    transfers = GroupTransfer.objects.filter(job=job)
    labels = dict(Status.choices)
    counts = dict(
        transfers.order_by().values_list("status").annotate(n=Count("id")).values_list("status", "n")
    )
    if not counts:
        return None
    attention = Case(
        When(status__in=(Status.FAILED, Status.NO_OWNER), then=Value(0)),
        When(status__in=(Status.PLANNED, Status.SENDING), then=Value(1)),
        default=Value(2),
        output_field=IntegerField(),
    )
    rows = [
        {
            "group": t.group.name or t.group.chat_id,
            "new_owner": t.new_owner.name if t.new_owner_id else "-",
            "status": labels.get(t.status, t.status),
            "due_on": date_format(t.due_on, "SHORT_DATE_FORMAT"),
            "error": f"{t.errcode}: {t.error}" if t.errcode and t.error else (t.error or "-"),
        }
        for t in transfers.select_related("group", "new_owner").order_by(attention, "due_on", "pk")[
            :ROWS_SHOWN
        ]
    ]
    return {
        "title": _("Groups (%(count)s)") % {"count": sum(counts.values())},
        "counts": {
            str(labels.get(status, status)): counts[status] for status in Status.values if status in counts
        },
        "columns": [
            ("group", _("Group")),
            ("new_owner", _("New owner")),
            ("status", _("Status")),
            ("due_on", _("Goes out on")),
            ("error", _("Error")),
        ],
        "rows": rows,
    }


def group_transfer_section_register() -> None:
    """Add the section to the transfer job page's registry once."""
    from customers.admin_transfers import transfer_job_sections

    if group_transfer_section not in transfer_job_sections:
        transfer_job_sections.append(group_transfer_section)
