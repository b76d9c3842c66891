"""「联系我」 contact ways: staff live codes (WECOM.md §5)."""

from __future__ import annotations

from .base import EndpointsBase


class ContactWaysApi(EndpointsBase):
    pass
