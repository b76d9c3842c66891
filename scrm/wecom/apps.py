from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WecomConfig(AppConfig):
    """The WeCom connector: HTTP client, callback crypto, event parsing and the callback inbox."""

    name = "scrm.wecom"
    label = "wecom"
    verbose_name = _("WeCom connector")

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from .services import sweep_schedule_ensure
        from .sync import nightly_schedule_ensure

        # The nightly reconciliation schedule exists after every migrate; sent for this app
        # only, once the whole migration run (django_celery_beat's tables included) is done.
        post_migrate.connect(nightly_schedule_ensure, sender=self, dispatch_uid="wecom.nightly_schedule")
        # Likewise the inbox sweep's (every minute), which heals lost drains and killed workers.
        post_migrate.connect(sweep_schedule_ensure, sender=self, dispatch_uid="wecom.inbox_sweep_schedule")
