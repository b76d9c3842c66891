"""Group SOP rules (PRODUCT.md C3, E2): recurring posts to chosen groups, one occurrence per run."""

from __future__ import annotations

__all__: list[str] = []
