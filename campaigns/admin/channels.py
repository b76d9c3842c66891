"""Admin of acquisition channels: the names behind WeCom's ``state``. Readable by every role."""

from __future__ import annotations

from django.contrib import admin
from django.urls import reverse
from django.utils.html import format_html
from django.utils.http import urlencode
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from scrm.admin import ScrmModelAdmin

from ..models import Channel


@admin.register(Channel)
class ChannelAdmin(ScrmModelAdmin):
    list_display = ("name", "state", "created_at", "customers_link", "analytics_link")
    search_fields = ("name", "=state")
    search_help_text = _("Name, or a whole state.")
    fields = ("name", "state", "description")

    @display(description=_("customers"))
    def customers_link(self, obj):
        # The customer list filtered by this state: counted there, within the reader's own scope.
        url = reverse("admin:customers_customer_changelist")
        return format_html('<a href="{}?{}">{}</a>', url, urlencode({"channel": obj.state}), _("customers"))

    @display(description=_("analytics"))
    def analytics_link(self, obj):
        url = reverse("admin:campaigns_channelday_changelist")
        return format_html('<a href="{}?{}">{}</a>', url, urlencode({"state": obj.state}), _("analytics"))
