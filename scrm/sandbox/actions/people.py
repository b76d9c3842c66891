"""Sandbox player actions: people."""

from __future__ import annotations
