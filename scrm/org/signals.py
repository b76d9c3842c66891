"""Signals the org layer sends to the layers above it (which it must not import)."""

from django.dispatch import Signal

#: Members newly recorded as departed, sent after the transaction that recorded them commits.
#: Arguments: ``staff_ids`` (list of Staff ids) and ``trigger`` (a ``TransferJob.Trigger`` value:
#: "callback", "sync" or "unassigned").
staff_departed = Signal()
