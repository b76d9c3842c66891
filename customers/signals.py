"""Signals the customers layer sends to the apps above it (groups, campaigns)."""

from django.dispatch import Signal

#: A transfer job's customers were planned (items written, committed). Argument: ``job`` (a
#: ``TransferJob``). The groups app plans the handover's groups of a resigned job on it.
transfer_job_planned = Signal()

#: Customers were taken over (status 1): each old follow closed as transferred and the
#: successor's follow opened, inside the sending transaction. Argument: ``moves``, a list of
#: ``FollowMove``. Campaigns moves open staff tasks and SOP enrolments on it.
follows_transferred = Signal()
