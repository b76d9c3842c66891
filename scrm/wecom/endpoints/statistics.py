"""Statistics: staff behaviour and group statistics (WECOM.md §11)."""

from __future__ import annotations

from .base import EndpointsBase


class StatisticsApi(EndpointsBase):
    pass
