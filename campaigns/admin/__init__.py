"""The campaigns admin, one module per concept."""

from . import (  # noqa: F401
    analytics,
    broadcasts,
    channels,
    content,
    groupcodes,
    groupsop,
    livecodes,
    moments,
    sop,
    stafftasks,
    welcome,
)
