"""Tasks of moments."""

__all__: list[str] = []
