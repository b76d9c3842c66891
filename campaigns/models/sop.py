"""Customer SOP rules (PRODUCT.md E1): triggers, steps at offsets, enrolments and their occurrences."""

from __future__ import annotations

__all__: list[str] = []
