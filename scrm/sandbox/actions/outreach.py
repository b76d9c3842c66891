"""Sandbox player actions: outreach."""

from __future__ import annotations
