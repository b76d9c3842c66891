"""What WeCom's servers would hold for each emulated corp.

These tables belong to the emulator only (prefix ``sb_``); our own apps never read them and
reach the sandbox only over HTTP, as they would reach real WeCom. One module per area:
:mod:`.core` (apps, tokens, address book, customers, tags, groups, call record, faults),
:mod:`.world` (clock, callback outbox), :mod:`.acquisition`, :mod:`.outreach`.
"""

from .acquisition import *  # noqa: F403
from .core import (
    SandboxAccessToken,
    SandboxApp,
    SandboxCall,
    SandboxDepartment,
    SandboxExternalContact,
    SandboxFaults,
    SandboxFollow,
    SandboxGroupChat,
    SandboxMember,
    SandboxTag,
    SandboxTagGroup,
)
from .outreach import *  # noqa: F403
from .world import SandboxCallback, SandboxClock

__all__ = [
    "SandboxAccessToken",
    "SandboxApp",
    "SandboxCall",
    "SandboxCallback",
    "SandboxClock",
    "SandboxDepartment",
    "SandboxExternalContact",
    "SandboxFaults",
    "SandboxFollow",
    "SandboxGroupChat",
    "SandboxMember",
    "SandboxTag",
    "SandboxTagGroup",
]
