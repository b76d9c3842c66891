"""REST API of moments (filled in by its feature)."""

urlpatterns: list = []
