"""Sandbox player actions: acquisition."""

from __future__ import annotations
