"""Broadcast dispatch: sender batches handed to WeCom exactly once, results synced back.

Interface (planning, the admin and the API call these):
- :func:`broadcast_dispatch` groups a planned broadcast's eligible recipients into batches and
  enqueues one send per batch;
- :func:`broadcast_results_sync` reads ``get_groupmsg_task`` / ``get_groupmsg_send_result``;
- :func:`broadcast_remind` and :func:`broadcast_cancel` are the admin's and API's commands.
"""

from __future__ import annotations

from ..models import Broadcast


def broadcast_dispatch(*, broadcast_id: int) -> int:
    """Batch the pending recipients by sender (≤ the call size) and enqueue their sends; returns the
    number of batches. Safe to run twice."""
    raise NotImplementedError


def broadcast_results_sync(*, broadcast_id: int) -> None:
    """Sync per-sender confirmation and per-recipient status from WeCom into rows and the funnel."""
    raise NotImplementedError


def broadcast_remind(*, broadcast: Broadcast) -> int:
    """Remind the senders who have not confirmed (≤3 per message in 24 hours); returns how many
    messages were reminded. Raises ``ValidationError`` with the reason when none may be."""
    raise NotImplementedError


def broadcast_cancel(*, broadcast: Broadcast) -> None:
    """Stop a broadcast: nothing more is handed over; handed messages are canceled at WeCom."""
    raise NotImplementedError
