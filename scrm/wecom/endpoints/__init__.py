"""The client's typed methods, one mixin per area of WECOM.md (see :mod:`.base`)."""

from .contact_ways import ContactWaysApi
from .contacts import ContactsApi
from .groups import GroupsApi
from .join_ways import JoinWaysApi
from .mass_messages import MassMessagesApi
from .media import MediaApi
from .messages import MessagesApi
from .moments import MomentsApi
from .statistics import StatisticsApi
from .tags import TagsApi
from .transfers import TransfersApi
from .welcome_templates import WelcomeTemplatesApi

__all__ = [
    "ContactWaysApi",
    "ContactsApi",
    "GroupsApi",
    "JoinWaysApi",
    "MassMessagesApi",
    "MediaApi",
    "MessagesApi",
    "MomentsApi",
    "StatisticsApi",
    "TagsApi",
    "TransfersApi",
    "WelcomeTemplatesApi",
]
