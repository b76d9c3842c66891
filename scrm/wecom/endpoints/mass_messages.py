"""Mass messages to customers and groups, and their results (WECOM.md §8)."""

from __future__ import annotations

from .base import EndpointsBase


class MassMessagesApi(EndpointsBase):
    pass
