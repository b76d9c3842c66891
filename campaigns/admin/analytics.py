"""Admin of channel analytics: a page with a chart and a table per day, a CSV export, rebuilds.

``ChannelDay`` is registered only to give the page its place (the sidebar, permissions): its
changelist is the analytics page, never a list of rollup rows. Viewing needs ``view_channelday``
(every role; the figures are scoped per staff member); rebuilding needs ``add_channelrollup``.
"""

from __future__ import annotations

import json
from datetime import date, timedelta

from django import forms
from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.http import HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.formats import date_format
from django.utils.http import urlencode
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _
from django.views.decorators.http import require_POST
from unfold.widgets import UnfoldAdminSelectWidget, UnfoldAdminSingleDateWidget

from scrm.admin import ScrmModelAdmin, csv_streaming_response

from ..models import RETENTION_DAYS, Channel, ChannelDay, ChannelRollup, LiveCode
from ..selectors.analytics import MAX_RANGE_DAYS, ChannelAnalytics, channel_analytics, channel_totals_list
from ..services.analytics import channel_rollup_request, local_today

DEFAULT_DAYS = 30


class AnalyticsForm(forms.Form):
    """What to show: one channel or live code (or every channel) over a range of days (GET)."""

    state = forms.ModelChoiceField(
        label=_("Channel"),
        queryset=Channel.objects.order_by("name"),
        to_field_name="state",
        required=False,
        empty_label=_("All channels"),
        widget=UnfoldAdminSelectWidget,
    )
    live_code = forms.ModelChoiceField(
        label=_("Live code"),
        queryset=LiveCode.objects.select_related("channel").order_by("name"),
        required=False,
        empty_label=_("Any"),
        widget=UnfoldAdminSelectWidget,
        help_text=_("Instead of a channel: the channel this code owns."),
    )

    def __init__(self, *args, today: date, **kwargs):
        super().__init__(*args, **kwargs)
        self.today = today
        # "from" is a keyword in Python: declared here so that the URL reads ?from=…&to=….
        self.fields["from"] = forms.DateField(
            label=_("From"), required=False, widget=UnfoldAdminSingleDateWidget
        )
        self.fields["to"] = forms.DateField(label=_("To"), required=False, widget=UnfoldAdminSingleDateWidget)

    def clean(self):
        data = super().clean()
        last = data.get("to") or self.today
        first = data.get("from") or last - timedelta(days=DEFAULT_DAYS - 1)
        if first > last:
            raise ValidationError(_("“From” must not be after “To”."))
        if (last - first).days + 1 > MAX_RANGE_DAYS:
            raise ValidationError(_("Choose at most %(days)d days.") % {"days": MAX_RANGE_DAYS})
        if data.get("live_code") and data.get("state") and data["live_code"].channel_id != data["state"].pk:
            raise ValidationError(_("Choose a channel or a live code, not both."))
        data["from"], data["to"] = first, last
        chosen = data.get("live_code").channel if data.get("live_code") else data.get("state")
        data["channel"] = chosen
        return data


class RebuildForm(forms.Form):
    first_day = forms.DateField(label=_("From"), widget=UnfoldAdminSingleDateWidget)
    last_day = forms.DateField(label=_("To"), widget=UnfoldAdminSingleDateWidget)


def _percent(value: float | None) -> str:
    return "" if value is None else f"{value * 100:.1f}%"


def _chart(analytics: ChannelAnalytics) -> tuple[str, str]:
    labels = [item.day.isoformat() for item in analytics.days]
    data = {
        "labels": labels,
        "datasets": [
            {
                "type": "line",
                "label": str(_("Net")),
                "data": [item.net for item in analytics.days],
                "borderColor": "var(--color-base-500)",
                "backgroundColor": "var(--color-base-500)",
            },
            {
                "label": str(_("Adds")),
                "data": [item.adds for item in analytics.days],
                "backgroundColor": "var(--color-primary-600)",
            },
            {
                "label": str(_("Deletions")),
                "data": [-item.deletions for item in analytics.days],
                "backgroundColor": "var(--color-primary-300)",
            },
        ],
    }
    options = {
        "maintainAspectRatio": False,
        "plugins": {"legend": {"display": True, "align": "end"}, "tooltip": {"enabled": True}},
        "scales": {
            "x": {"stacked": True, "grid": {"display": False}},
            "y": {"stacked": False, "ticks": {"precision": 0}},
        },
    }
    return json.dumps(data), json.dumps(options)


@admin.register(ChannelDay)
class ChannelAnalyticsAdmin(ScrmModelAdmin):
    """The analytics page in place of the rollup rows' changelist."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    def has_rebuild_permission(self, request) -> bool:
        return request.user.has_perm("campaigns.add_channelrollup")

    def get_urls(self):
        view = self.admin_site.admin_view
        return [
            path("export/", view(self.export_view), name="campaigns_channelday_export"),
            path("rebuild/", view(require_POST(self.rebuild_view)), name="campaigns_channelday_rebuild"),
            path("", view(self.changelist_view), name="campaigns_channelday_changelist"),
        ]

    def _read(self, request) -> tuple[AnalyticsForm, ChannelAnalytics | None]:
        form = AnalyticsForm(request.GET or None, today=local_today())
        if not form.is_bound:
            form = AnalyticsForm({}, today=local_today())
        if not form.is_valid():
            return form, None
        data = form.cleaned_data
        channel = data["channel"]
        analytics = channel_analytics(
            user=request.user,
            state=channel.state if channel else None,
            first_day=data["from"],
            last_day=data["to"],
        )
        return form, analytics

    def changelist_view(self, request, extra_context=None):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form, analytics = self._read(request)
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": _("Channel analytics"),
            "form": form,
            "analytics": analytics,
            "retention_days": RETENTION_DAYS,
            "can_rebuild": self.has_rebuild_permission(request),
            **(extra_context or {}),
        }
        if analytics is not None:
            chart, chart_options = _chart(analytics)
            channel = form.cleaned_data["channel"]
            context.update(
                channel=channel,
                chart=chart,
                chart_options=chart_options,
                rows=[
                    (item, [(kept, _percent(share)) for kept, share in item.retention_cells])
                    for item in reversed(analytics.days)
                ],
                export_url=f"{reverse('admin:campaigns_channelday_export')}?{request.GET.urlencode()}",
                has_channels=Channel.objects.exists(),
                by_channel=None if channel else self._by_channel(request, analytics),
            )
        if context["can_rebuild"]:
            yesterday = local_today() - timedelta(days=1)
            runs = list(ChannelRollup.objects.order_by("-id")[:5])
            context.update(
                rebuild_form=RebuildForm(
                    initial={"first_day": yesterday - timedelta(days=DEFAULT_DAYS), "last_day": yesterday}
                ),
                runs=runs,
                run_active=any(
                    run.status in (ChannelRollup.Status.QUEUED, ChannelRollup.Status.RUNNING) for run in runs
                ),
            )
        request.current_app = self.admin_site.name
        return TemplateResponse(request, "admin/campaigns/channelday/analytics.html", context)

    def _by_channel(self, request, analytics: ChannelAnalytics) -> list[tuple]:
        """Each channel's totals over the range, with a link to its own figures (states that no
        channel names, such as ways made outside this system, are listed without one)."""
        page = reverse("admin:campaigns_channelday_changelist")
        span = {"from": analytics.first_day.isoformat(), "to": analytics.last_day.isoformat()}
        return [
            (item, f"{page}?{urlencode({'state': item.state, **span})}" if item.name else None)
            for item in channel_totals_list(user=request.user, analytics=analytics)
        ]

    def export_view(self, request):
        if not self.has_view_permission(request):
            raise PermissionDenied
        form, analytics = self._read(request)
        if analytics is None:
            for error in form.non_field_errors() or [gettext("Check the filters.")]:
                self.message_user(request, error, messages.ERROR)
            return HttpResponseRedirect(
                f"{reverse('admin:campaigns_channelday_changelist')}?{request.GET.urlencode()}"
            )
        channel = form.cleaned_data["channel"]
        header = [
            _("day"),
            _("channel (state)"),
            _("adds"),
            _("deleted by customer"),
            _("deleted by staff"),
            _("net"),
        ]
        for n in RETENTION_DAYS:
            header += [
                _("retained after %(days)d days") % {"days": n},
                _("retention after %(days)d days") % {"days": n},
            ]
        state = channel.state if channel else ""

        def rows():
            for item in analytics.days:
                cells = [
                    item.day.isoformat(),
                    state,
                    item.adds,
                    item.deleted_by_customer,
                    item.deleted_by_staff,
                    item.net,
                ]
                for kept, share in item.retention_cells:
                    cells += [kept, _percent(share)]
                yield cells

        name = f"channel-analytics-{state or 'all'}-{analytics.first_day}-{analytics.last_day}.csv"
        return csv_streaming_response(name, header, rows())

    def rebuild_view(self, request):
        if not self.has_rebuild_permission(request):
            raise PermissionDenied
        form = RebuildForm(request.POST)
        back = reverse("admin:campaigns_channelday_changelist")
        if not form.is_valid():
            self.message_user(request, gettext("Give both days of the range to rebuild."), messages.ERROR)
            return HttpResponseRedirect(back)
        first, last = form.cleaned_data["first_day"], form.cleaned_data["last_day"]
        try:
            run = channel_rollup_request(first_day=first, last_day=last, trigger=ChannelRollup.Trigger.ADMIN)
        except ValidationError as error:
            for message in error.messages:
                self.message_user(request, message, messages.ERROR)
            return HttpResponseRedirect(back)
        self.message_user(
            request,
            gettext("Rebuild of %(first)s – %(last)s queued; its progress shows below.")
            % {"first": date_format(first), "last": date_format(last)},
            messages.SUCCESS,
        )
        return HttpResponseRedirect(f"{back}?{urlencode({'from': run.first_day, 'to': run.last_day})}")
