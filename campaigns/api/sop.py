"""REST API of sop (filled in by its feature)."""

urlpatterns: list = []
