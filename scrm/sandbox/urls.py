from django.urls import path

from .api import api

app_name = "sandbox"

urlpatterns = [
    path("cgi-bin/<path:path>", api, name="api"),
]
