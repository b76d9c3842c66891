"""Acquisition and outreach: channels, live codes, welcome messages, group codes, analytics,
content, broadcasts, moments, SOP rules and staff tasks."""

from .analytics import *  # noqa: F403
from .broadcasts import *  # noqa: F403
from .channels import *  # noqa: F403
from .content import *  # noqa: F403
from .groupcodes import *  # noqa: F403
from .groupsop import *  # noqa: F403
from .livecodes import *  # noqa: F403
from .moments import *  # noqa: F403
from .sop import *  # noqa: F403
from .stafftasks import *  # noqa: F403
from .welcome import *  # noqa: F403
