"""The campaigns admin, one module per concept."""

from . import analytics, channels, groupcodes, livecodes, welcome  # noqa: F401
