"""REST API of content (filled in by its feature)."""

urlpatterns: list = []
