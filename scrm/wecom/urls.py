from django.urls import path

from . import views

app_name = "wecom"

urlpatterns = [
    path("callback/", views.callback, name="callback"),
]
