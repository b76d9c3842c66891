from django.urls import path

from .api import api
from .console import console, console_play, player_list, player_run, sandbox_only

app_name = "sandbox"

urlpatterns = [
    path("", console, name="console"),
    path("play/<str:name>/", console_play, name="console-play"),
    path("player/", player_list, name="player"),
    path("player/<str:name>/", player_run, name="player-run"),
    path("cgi-bin/<path:path>", sandbox_only(api), name="api"),
]
