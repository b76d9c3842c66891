"""Customer moments (WECOM.md §9)."""

from __future__ import annotations

from .base import EndpointsBase


class MomentsApi(EndpointsBase):
    pass
