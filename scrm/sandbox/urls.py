from django.urls import path

from . import views

app_name = "sandbox"

urlpatterns = [
    path("cgi-bin/<path:path>", views.api, name="api"),
]
