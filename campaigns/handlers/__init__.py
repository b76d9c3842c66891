"""WeCom event handlers of campaigns, registered at ``ORDER_CAMPAIGNS`` (after customers and groups).

Importing the package registers them; ``CampaignsConfig.ready()`` does.
"""

from . import contacts, groups, sop  # noqa: F401
