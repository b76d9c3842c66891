from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    """Customers, follows, tags, the timeline and notes."""

    name = "customers"
    verbose_name = _("Customers")
