"""REST API of campaigns: each concept's module brings its own routes."""

from . import (
    analytics,
    broadcasts,
    content,
    groupcodes,
    groupsop,
    livecodes,
    moments,
    sop,
    stafftasks,
    welcome,
)

urlpatterns = [
    *livecodes.urlpatterns,
    *welcome.urlpatterns,
    *groupcodes.urlpatterns,
    *analytics.urlpatterns,
    *content.urlpatterns,
    *broadcasts.urlpatterns,
    *moments.urlpatterns,
    *sop.urlpatterns,
    *groupsop.urlpatterns,
    *stafftasks.urlpatterns,
]
