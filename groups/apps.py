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
