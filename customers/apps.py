from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    """Customers, follows, tags, the timeline and notes."""

    name = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        # Importing registers the callback handlers (scrm.wecom.events) and the "customers" sync
        # step (scrm.wecom.sync); both registries ignore a second registration.
        from . import handlers, sync  # noqa: F401
