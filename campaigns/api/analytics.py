"""REST API of channel analytics: read-only figures per day for a channel or a live code.

``GET /api/v1/channel-analytics/?state=…|live_code=…&from=YYYY-MM-DD&to=YYYY-MM-DD``: one row per
day (at most 366), so the answer is bounded and not paginated. Any role may read; the figures
cover the staff in the caller's data scope (``campaigns.selectors.analytics``).
"""

from __future__ import annotations

from datetime import timedelta

from django.urls import path
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from scrm.api.permissions import RolePermission

from ..models import RETENTION_DAYS, Channel, LiveCode
from ..selectors.analytics import MAX_RANGE_DAYS, channel_analytics
from ..services.analytics import local_today

DEFAULT_DAYS = 30

# "from" is a Python keyword: the query's fields are declared through type() so the parameters
# are named as clients write them.
ChannelAnalyticsQuerySerializer = type(
    "ChannelAnalyticsQuerySerializer",
    (serializers.Serializer,),
    {
        "__doc__": "The channel or live code, and the days.",
        "state": serializers.CharField(
            required=False,
            max_length=64,
            help_text=gettext_lazy("The channel's state. Omit for every channel."),
        ),
        "live_code": serializers.IntegerField(
            required=False, min_value=1, help_text=gettext_lazy("A live code's id, instead of a state.")
        ),
        "from": serializers.DateField(
            required=False, help_text=gettext_lazy("First day (YYYY-MM-DD); default: 30 days before `to`.")
        ),
        "to": serializers.DateField(
            required=False, help_text=gettext_lazy("Last day (YYYY-MM-DD); default: today.")
        ),
    },
)


def _query_validate(self, data):
    if data.get("state") and data.get("live_code"):
        raise serializers.ValidationError(_("Give a state or a live code, not both."))
    today = local_today()
    last = data.get("to") or today
    first = data.get("from") or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        raise serializers.ValidationError({"from": [_("Must not be after `to`.")]})
    if (last - first).days + 1 > MAX_RANGE_DAYS:
        raise serializers.ValidationError(
            {"from": [_("At most %(days)d days at a time.") % {"days": MAX_RANGE_DAYS}]}
        )
    if first > today:
        raise serializers.ValidationError({"from": [_("Must not be after today.")]})
    data["from"], data["to"] = first, min(last, today)
    if data.get("live_code"):
        state = LiveCode.objects.filter(pk=data["live_code"]).values_list("channel__state", flat=True).first()
        if state is None:
            raise serializers.ValidationError({"live_code": [_("No live code has this id.")]})
        data["state"] = state
    elif data.get("state") and not Channel.objects.filter(state=data["state"]).exists():
        raise serializers.ValidationError({"state": [_("No channel has this state.")]})
    return data


ChannelAnalyticsQuerySerializer.validate = _query_validate


class RetentionSerializer(serializers.Serializer):
    days = serializers.IntegerField()
    retained = serializers.IntegerField(allow_null=True, help_text="Null until these days have passed.")
    rate = serializers.FloatField(allow_null=True, help_text="retained / adds; null without adds.")


class ChannelDaySerializer(serializers.Serializer):
    day = serializers.DateField()
    adds = serializers.IntegerField()
    deleted_by_customer = serializers.IntegerField()
    deleted_by_staff = serializers.IntegerField()
    net = serializers.IntegerField()
    retention = serializers.SerializerMethodField()
    live = serializers.BooleanField(help_text="Computed at the request, not from the nightly rollup.")

    @extend_schema_field(RetentionSerializer(many=True))
    def get_retention(self, item) -> list[dict]:
        return RetentionSerializer(
            [
                {
                    "days": n,
                    "retained": item.retained(n),
                    "rate": None if item.retention(n) is None else round(item.retention(n), 4),
                }
                for n in RETENTION_DAYS
            ],
            many=True,
        ).data


class ChannelTotalsSerializer(serializers.Serializer):
    adds = serializers.IntegerField()
    deleted_by_customer = serializers.IntegerField()
    deleted_by_staff = serializers.IntegerField()
    net = serializers.IntegerField()


class ChannelAnalyticsSerializer(serializers.Serializer):
    state = serializers.CharField(allow_null=True)
    first_day = serializers.DateField()
    last_day = serializers.DateField()
    rolled_through = serializers.DateField(
        allow_null=True, help_text="The last day of the latest nightly rollup."
    )
    totals = ChannelTotalsSerializer()
    days = ChannelDaySerializer(many=True)


class ChannelAnalyticsView(APIView):
    permission_classes = [RolePermission]

    @extend_schema(
        summary="Adds, deletions, net and retention of a channel per day",
        parameters=[ChannelAnalyticsQuerySerializer],
        responses=ChannelAnalyticsSerializer,
    )
    def get(self, request):
        query = ChannelAnalyticsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        data = query.validated_data
        analytics = channel_analytics(
            user=request.user, state=data.get("state"), first_day=data["from"], last_day=data["to"]
        )
        return Response(ChannelAnalyticsSerializer(analytics).data)


urlpatterns = [
    path("channel-analytics/", ChannelAnalyticsView.as_view(), name="channel-analytics"),
]
