from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class GroupsConfig(AppConfig):
    """Customer group chats and their members."""

    name = "groups"
    verbose_name = _("Groups")

    def ready(self) -> None:
        from scrm.wecom import events, sync

        from . import handlers
        from .segments import segment_rules_register
        from .sync import groups_sync

        segment_rules_register()  # groups_any, in_any_group (customers.segments' registry)

        sync.register_sync_step("groups", order=sync.ORDER_GROUPS)(groups_sync)
        order = events.ORDER_GROUPS
        events.register("change_external_chat", "create", order=order)(handlers.chat_created)
        events.register("change_external_chat", "update", order=order)(handlers.chat_updated)
        events.register("change_external_chat", "dismiss", order=order)(handlers.chat_dismissed)
        events.register("change_contact", "delete_user", order=order)(handlers.owner_departed)

        # Group ownership transfers: a resigned job's groups planned with its customers, and
        # sent every 30 minutes (scrm.schedules; created once after migrate).
        from django.db.models.signals import post_migrate

        from customers.signals import transfer_job_planned
        from customers.transfers.planning import preview_extras

        from .transfers import departure_preview_groups, group_transfers_schedule_ensure, job_planned_receiver

        transfer_job_planned.connect(job_planned_receiver, dispatch_uid="groups.group_transfers_plan")
        if departure_preview_groups not in preview_extras:
            preview_extras.append(departure_preview_groups)
        post_migrate.connect(
            group_transfers_schedule_ensure, sender=self, dispatch_uid="groups.group_transfers_schedule"
        )

        from .admin_transfers import group_transfer_section_register

        group_transfer_section_register()  # the groups on a transfer job's admin page
