from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class CampaignsConfig(AppConfig):
    """Acquisition and outreach: live codes, welcome messages, broadcasts, SOPs."""

    name = "campaigns"
    verbose_name = _("Campaigns")
