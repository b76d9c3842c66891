"""REST API of campaigns: each concept's module brings its own routes."""

from . import analytics, groupcodes, livecodes, welcome

urlpatterns = [
    *livecodes.urlpatterns,
    *welcome.urlpatterns,
    *groupcodes.urlpatterns,
    *analytics.urlpatterns,
]
