from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CustomersConfig(AppConfig):
    """Customers, follows, tags, the timeline and notes."""

    name = "customers"
    verbose_name = _("Customers")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from scrm.org.signals import staff_departed

        # Importing registers the callback handlers (scrm.wecom.events) and the "customers" sync
        # step (scrm.wecom.sync); both registries ignore a second registration.
        from . import handlers, sync  # noqa: F401
        from .transfers.departures import staff_departed_receive, transfers_nightly_schedule_ensure
        from .transfers.dispatch import transfer_dispatch_schedule_ensure
        from .transfers.results import transfer_results_schedule_ensure

        # Departed staff: each departure the org layer records queues a plan of their customers,
        # and the nightly reassignment's beat schedule exists after every migrate.
        staff_departed.connect(staff_departed_receive, dispatch_uid="customers.departure_plan")
        post_migrate.connect(
            transfers_nightly_schedule_ensure,
            sender=self,
            dispatch_uid="customers.transfers_nightly_schedule",
        )
        # The transfers' sweep (batches cut off mid-call, lost sends) and WeCom's results poll.
        post_migrate.connect(
            transfer_dispatch_schedule_ensure,
            sender=self,
            dispatch_uid="customers.transfer_dispatch_schedule",
        )
        post_migrate.connect(
            transfer_results_schedule_ensure, sender=self, dispatch_uid="customers.transfer_results_schedule"
        )
