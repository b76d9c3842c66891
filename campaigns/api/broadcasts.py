"""REST API of broadcasts (filled in by its feature)."""

urlpatterns: list = []
