"""WeCom's server API, emulated under ``/sandbox/cgi-bin/…``.

Like WeCom, every answer is HTTP 200 JSON with ``errcode`` and ``errmsg`` (WECOM.md §0, §19).
One view (:mod:`.view`) receives every call: it records it, applies the injected faults, checks
the token and the app's rights, then runs the endpoint's handler from
:data:`.base.ENDPOINTS`. Each module of this package registers the endpoints of one area of
WECOM.md; importing the package registers them all.
"""

from . import (  # noqa: F401  (registers the endpoints)
    contact_ways,
    contacts,
    groups,
    join_ways,
    mass_messages,
    media,
    messages,
    moments,
    statistics,
    tags,
    transfers,
    welcome_templates,
)
from .view import api

__all__ = ["api"]
