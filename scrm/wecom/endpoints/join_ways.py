"""Group join ways: group live codes (WECOM.md §6.3)."""

from __future__ import annotations

from .base import EndpointsBase


class JoinWaysApi(EndpointsBase):
    pass
