from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class WecomConfig(AppConfig):
    """The WeCom connector: HTTP client, callback crypto, event parsing and the callback inbox."""

    name = "scrm.wecom"
    label = "wecom"
    verbose_name = _("WeCom connector")
