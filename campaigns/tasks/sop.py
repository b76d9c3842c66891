"""Tasks of sop."""

__all__: list[str] = []
