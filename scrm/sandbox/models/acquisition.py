"""The WeCom side of acquisition: contact ways, join ways, welcome codes and templates, media,
statistics."""

from __future__ import annotations

from django.db import models  # noqa: F401
