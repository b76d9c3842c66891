"""REST API of stafftasks (filled in by its feature)."""

urlpatterns: list = []
