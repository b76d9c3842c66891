"""Tasks of content."""

__all__: list[str] = []
