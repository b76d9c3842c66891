"""Celery tasks of campaigns: thin wrappers that take ids and call one service.

Importing the package registers every task (Celery's autodiscovery imports ``campaigns.tasks``).
"""

from .analytics import *  # noqa: F403
from .broadcast_dispatch import *  # noqa: F403
from .broadcasts import *  # noqa: F403
from .content import *  # noqa: F403
from .groupcodes import *  # noqa: F403
from .groupsop import *  # noqa: F403
from .livecodes import *  # noqa: F403
from .moments import *  # noqa: F403
from .sop import *  # noqa: F403
from .stafftasks import *  # noqa: F403
from .welcome import *  # noqa: F403
