from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    """Acquisition and outreach: live codes, welcome messages, group codes, channel analytics."""

    name = "campaigns"
    verbose_name = _("Campaigns")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        # Importing registers the callback handlers (scrm.wecom.events); the registry ignores a
        # second registration.
        from . import handlers  # noqa: F401
        from .services.analytics import channel_rollup_schedule_ensure
        from .services.broadcast_dispatch import broadcast_dispatch_schedule_ensure
        from .services.broadcasts import broadcast_due_schedule_ensure
        from .services.groupsop import group_sop_schedule_ensure
        from .services.livecodes import livecode_schedule_ensure
        from .services.moments import moments_schedule_ensure
        from .services.segment_rules import segment_rules_register
        from .services.sop import sop_schedule_ensure
        from .services.stafftasks import staff_tasks_notice_schedule_ensure
        from .services.welcome import welcome_media_schedule_ensure

        segment_rules_register()  # live_codes, channel choices (customers.segments' registry)

        # Customers taken over bring their open staff tasks and SOP enrolments with them.
        from customers.signals import follows_transferred

        from .services.transfers import follows_transferred_receiver

        follows_transferred.connect(follows_transferred_receiver, dispatch_uid="campaigns.staff_work_move")

        # The beat schedules exist after every migrate (scrm.schedules): the live codes' review
        # every minute, the welcome attachments' media refresh every hour, the analytics rollup
        # every night. Sent for this app only, once the whole migration run is done.
        for ensure, uid in (
            (livecode_schedule_ensure, "campaigns.livecode_review_schedule"),
            (welcome_media_schedule_ensure, "campaigns.welcome_media_schedule"),
            (channel_rollup_schedule_ensure, "campaigns.channel_rollup_schedule"),
            (sop_schedule_ensure, "campaigns.sop_schedule"),
            (broadcast_dispatch_schedule_ensure, "campaigns.broadcast_dispatch_schedule"),
            (broadcast_due_schedule_ensure, "campaigns.broadcast_due_schedule"),
            (moments_schedule_ensure, "campaigns.moments_sync_schedule"),
            (group_sop_schedule_ensure, "campaigns.group_sop_schedule"),
            (staff_tasks_notice_schedule_ensure, "campaigns.staff_task_notice_schedule"),
        ):
            post_migrate.connect(ensure, sender=self, dispatch_uid=uid)
