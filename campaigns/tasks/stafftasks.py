"""Tasks of stafftasks."""

__all__: list[str] = []
