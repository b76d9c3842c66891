"""``/segments/``: saved audiences, their counts, samples and CSV exports, and ad-hoc counts.

Segments are company-wide definitions, like tags: every role reads them, and only roles with the
segment permissions (administrators, marketing managers) write them. What a segment matches is
counted, sampled and exported within the caller's scope: a guide counts their own customers.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.response import Response

from customers.models import Customer, Segment
from customers.segments import (
    segment_count,
    segment_count_refresh,
    segment_delete,
    segment_export_response,
    segment_rules_clean,
    segment_sample,
    segment_save,
)
from scrm.api.viewsets import ModelViewSet

MAX_SAMPLE = 100


def rules_validate(value):
    try:
        return segment_rules_clean(value)
    except DjangoValidationError as error:
        raise serializers.ValidationError(error.message_dict) from None


class SegmentSerializer(serializers.ModelSerializer):
    rules = serializers.JSONField(
        required=False,
        help_text="Rules in the segment format: tags_any/tags_all/tags_none, staff, departments, "
        "channels, added_after/added_before, gender, lifecycle_stages, groups_any, in_any_group, "
        "live_codes, spend_min/spend_max, last_order_after/last_order_before.",
    )

    class Meta:
        model = Segment
        fields = [
            "id",
            "name",
            "description",
            "rules",
            "created_by",
            "last_count",
            "last_counted_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_by", "last_count", "last_counted_at", "created_at", "updated_at"]

    def validate_rules(self, value):
        return rules_validate(value)


class SegmentRulesSerializer(serializers.Serializer):
    rules = serializers.JSONField(help_text="Rules in the segment format (see the segment's rules).")

    def validate_rules(self, value):
        return rules_validate(value)


class SegmentCountSerializer(serializers.Serializer):
    count = serializers.IntegerField()


class SegmentSampleSerializer(serializers.ModelSerializer):
    class Meta:
        model = Customer
        fields = ["id", "external_userid", "name", "gender", "lifecycle_stage"]


class SegmentSampleResultSerializer(serializers.Serializer):
    results = SegmentSampleSerializer(many=True)


class CSVRenderer(BaseRenderer):
    """Lets ``Accept: text/csv`` reach the export (which streams its own response)."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data if isinstance(data, bytes) else str(data).encode()


@extend_schema_view(
    list=extend_schema(summary="Segments"),
    retrieve=extend_schema(summary="A segment"),
    create=extend_schema(summary="Save a segment"),
    update=extend_schema(summary="Change a segment"),
    partial_update=extend_schema(summary="Change a segment"),
    destroy=extend_schema(summary="Delete a segment (not one a broadcast uses)"),
)
class SegmentViewSet(ModelViewSet):
    serializer_class = SegmentSerializer
    filter_backends = []
    delete_service = staticmethod(segment_delete)

    def get_queryset(self):
        return Segment.objects.all()

    def perform_create(self, serializer):
        segment = segment_save(Segment(**serializer.validated_data), by=self.request.user)
        segment_count_refresh(segment=segment)
        serializer.instance = segment

    def perform_update(self, serializer):
        segment = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(segment, name, value)
        segment_save(segment)
        segment_count_refresh(segment=segment)

    @extend_schema(
        summary="How many customers a segment matches, within your scope", responses=SegmentCountSerializer
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def count(self, request, pk=None):
        segment = self.get_object()
        return Response({"count": segment_count(segment.rules or {}, user=request.user)})

    @extend_schema(
        summary="The newest customers a segment matches, within your scope",
        parameters=[
            OpenApiParameter(
                "limit", OpenApiTypes.INT, description=f"1 to {MAX_SAMPLE}, 20 by default", required=False
            )
        ],
        responses=SegmentSampleResultSerializer,
    )
    @action(detail=True, methods=["get"], pagination_class=None)
    def sample(self, request, pk=None):
        segment = self.get_object()
        raw = request.query_params.get("limit", "20")
        if not raw.isdigit() or not 1 <= int(raw) <= MAX_SAMPLE:
            raise serializers.ValidationError(
                {"limit": [_("Must be between 1 and %(max)d.") % {"max": MAX_SAMPLE}]}
            )
        customers = segment_sample(segment.rules or {}, limit=int(raw), user=request.user)
        return Response(SegmentSampleResultSerializer({"results": customers}).data)

    @extend_schema(
        summary="The customers a segment matches as CSV (streamed), within your scope",
        responses={(200, "text/csv"): OpenApiResponse(OpenApiTypes.STR, description="CSV with a BOM")},
    )
    @action(detail=True, methods=["get"], pagination_class=None, renderer_classes=[JSONRenderer, CSVRenderer])
    def export(self, request, pk=None):
        segment = self.get_object()
        filename = f"segment-{slugify(segment.name) or segment.pk}-{timezone.localtime():%Y%m%d-%H%M}.csv"
        return segment_export_response(segment.rules or {}, user=request.user, filename=filename)

    @extend_schema(
        summary="Count ad-hoc rules, within your scope",
        request=SegmentRulesSerializer,
        responses=SegmentCountSerializer,
    )
    @action(
        detail=False,
        methods=["post"],
        url_path="count",
        url_name="count-rules",
        pagination_class=None,
        serializer_class=SegmentRulesSerializer,
        # Counting reads: every role may count what it may see.
        required_permissions=[],
    )
    def count_rules(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        return Response({"count": segment_count(serializer.validated_data["rules"], user=request.user)})
