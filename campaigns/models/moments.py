"""Moments campaigns (朋友圈, PRODUCT.md D4, WECOM.md §9)."""

from __future__ import annotations

__all__: list[str] = []
