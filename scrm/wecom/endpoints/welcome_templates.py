"""Group welcome templates (WECOM.md §7.2)."""

from __future__ import annotations

from .base import EndpointsBase


class WelcomeTemplatesApi(EndpointsBase):
    pass
