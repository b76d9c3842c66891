from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrgConfig(AppConfig):
    """Departments and stores, staff, roles and the data scope of every queryset."""

    name = "scrm.org"
    label = "org"
    verbose_name = _("Organisation")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from scrm.wecom.events import ORDER_CUSTOMERS, register
        from scrm.wecom.sync import ORDER_ORG, register_sync_step

        from . import handlers
        from .roles import roles_sync
        from .sync import org_sync

        # Role groups and their permissions are kept in step with the code after every migrate.
        post_migrate.connect(roles_sync, dispatch_uid="org.roles_sync")

        register_sync_step("org", order=ORDER_ORG)(org_sync)
        # Staff come before anything that links to them (customers, groups): the first order.
        for change_type in ("create_user", "update_user"):
            register("change_contact", change_type, order=ORDER_CUSTOMERS)(handlers.member_changed)
        register("change_contact", "delete_user", order=ORDER_CUSTOMERS)(handlers.member_deleted)
        for change_type in ("create_party", "update_party"):
            register("change_contact", change_type, order=ORDER_CUSTOMERS)(handlers.party_changed)
        register("change_contact", "delete_party", order=ORDER_CUSTOMERS)(handlers.party_deleted)
