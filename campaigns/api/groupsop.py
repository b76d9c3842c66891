"""REST API of group SOP (filled in by its feature)."""

urlpatterns: list = []
