"""Acquisition and outreach: channels, live codes, welcome messages, group codes, analytics."""

from .analytics import *  # noqa: F403
from .channels import *  # noqa: F403
from .groupcodes import *  # noqa: F403
from .livecodes import *  # noqa: F403
from .welcome import *  # noqa: F403
