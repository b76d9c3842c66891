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
        from .services.livecodes import livecode_schedule_ensure
        from .services.welcome import welcome_media_schedule_ensure

        # The beat schedules exist after every migrate (scrm.schedules): the live codes' review
        # every minute, the welcome attachments' media refresh every hour, the analytics rollup
        # every night. Sent for this app only, once the whole migration run is done.
        for ensure, uid in (
            (livecode_schedule_ensure, "campaigns.livecode_review_schedule"),
            (welcome_media_schedule_ensure, "campaigns.welcome_media_schedule"),
            (channel_rollup_schedule_ensure, "campaigns.channel_rollup_schedule"),
        ):
            post_migrate.connect(ensure, sender=self, dispatch_uid=uid)
