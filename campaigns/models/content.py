"""Content library (素材 / 话术, PRODUCT.md D1): materials in folders with tags, scripts in
categories, and the sensitive-word list checked when content is saved and before it is sent."""

from __future__ import annotations

__all__: list[str] = []
