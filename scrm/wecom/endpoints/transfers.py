"""On-job and resigned transfers of customers and groups (WECOM.md §10)."""

from __future__ import annotations

from .base import EndpointsBase


class TransfersApi(EndpointsBase):
    pass
