from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ScrmConfig(AppConfig):
    """The project package: shared fields, API plumbing, health and admin helpers."""

    name = "scrm"
    verbose_name = _("SCRM")
