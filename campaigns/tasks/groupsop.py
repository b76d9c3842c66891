"""Tasks of group SOP."""

__all__: list[str] = []
