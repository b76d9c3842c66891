from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class OrgConfig(AppConfig):
    """Departments and stores, staff, roles and the data scope of every queryset."""

    name = "scrm.org"
    label = "org"
    verbose_name = _("Organisation")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .roles import roles_sync

        # Role groups and their permissions are kept in step with the code after every migrate.
        post_migrate.connect(roles_sync, dispatch_uid="org.roles_sync")
