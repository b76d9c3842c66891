"""Temporary media and image upload (``media/upload``, ``media/uploadimg``)."""

from __future__ import annotations

from .base import EndpointsBase


class MediaApi(EndpointsBase):
    pass
