"""Tasks of broadcasts."""

__all__: list[str] = []
