"""The WeCom side of outreach and staff lifecycle: mass messages, moments and transfers."""

from __future__ import annotations

from django.db import models  # noqa: F401
