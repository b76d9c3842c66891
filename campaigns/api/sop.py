"""REST API of customer SOPs: rules written with their steps as one document, and each rule's
enrolments (cursor-paginated, kept to the reader's data scope).

``steps`` replaces the rule's steps when given, in order; a step with its ``id`` keeps its row
(and its attachments unless ``attachments`` is given). Attachments travel like those of welcome
messages (a file base64-encoded in ``file_base64``).
"""

from __future__ import annotations

from django.utils.translation import gettext as _
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.routers import SimpleRouter

from scrm.api.pagination import CursorPagination
from scrm.api.serializers import DetailUrlField, ModelSerializer
from scrm.api.viewsets import ModelViewSet

from ..models import SopEnrolment, SopRule, SopStep, SopStepAttachment
from ..models.welcome import MAX_ATTACHMENTS
from ..selectors.sop import sop_enrolment_list, sop_rule_list
from ..services.sop import sop_rule_delete, sop_rule_save
from .welcome import ATTACHMENT_FIELDS, AttachmentFileMixin


class SopStepAttachmentSerializer(AttachmentFileMixin, ModelSerializer):
    id = serializers.IntegerField(
        required=False, help_text="An existing attachment's id keeps its stored file when none is sent."
    )

    class Meta:
        model = SopStepAttachment
        fields = ["id", *ATTACHMENT_FIELDS, "file_name", "file_base64", "file_size", "media_uploaded_at"]


class SopStepSerializer(ModelSerializer):
    id = serializers.IntegerField(required=False, help_text="An existing step's id keeps its row.")
    day = serializers.IntegerField(
        min_value=0,
        max_value=3650,
        required=False,
        allow_null=True,
        help_text="Day N at `at_time`; 0 is the day of enrolment.",
    )
    hours = serializers.IntegerField(
        min_value=0,
        max_value=24 * 3650,
        required=False,
        allow_null=True,
        help_text="Or: N hours after enrolment.",
    )
    material_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, help_text="Content library materials."
    )
    attachments = SopStepAttachmentSerializer(many=True, required=False)

    class Meta:
        model = SopStep
        fields = [
            "id",
            "position",
            "day",
            "at_time",
            "hours",
            "action",
            "title",
            "text",
            "material_ids",
            "attachments",
        ]
        read_only_fields = ["position"]

    def validate_attachments(self, value: list) -> list:
        if len(value) > MAX_ATTACHMENTS:
            raise serializers.ValidationError(
                _("At most %(count)s attachments.") % {"count": MAX_ATTACHMENTS}
            )
        return value


class SopRuleSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:sop-rule-detail")
    steps = SopStepSerializer(many=True, required=False)
    active_enrolments = serializers.IntegerField(read_only=True)

    class Meta:
        model = SopRule
        fields = [
            "id",
            "url",
            "name",
            "active",
            "trigger",
            "channel",
            "live_code",
            "trigger_tag",
            "segment",
            "allow_reenrol",
            "exit_on_follow_deleted",
            "exit_tag_removed",
            "goal_tag",
            "time_zone",
            "steps",
            "active_enrolments",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["created_at", "updated_at"]


class SopEnrolmentSerializer(ModelSerializer):
    customer_name = serializers.CharField(source="customer.name", read_only=True)
    staff_name = serializers.CharField(source="staff.name", read_only=True)

    class Meta:
        model = SopEnrolment
        fields = [
            "id",
            "customer",
            "customer_name",
            "staff",
            "staff_name",
            "sequence",
            "anchor_at",
            "status",
            "exit_reason",
            "exited_at",
        ]
        read_only_fields = fields


class SopEnrolmentPagination(CursorPagination):
    ordering = "-id"


class SopRuleViewSet(ModelViewSet):
    """Customer SOPs: a trigger, steps at offsets (staff tasks or broadcasts), exit conditions."""

    serializer_class = SopRuleSerializer
    filterset_fields = ["trigger", "active"]

    def get_queryset(self):
        return sop_rule_list(user=self.request.user).order_by("-id")

    def _save(self, serializer, rule: SopRule) -> None:
        data = dict(serializer.validated_data)
        items = data.pop("steps", None)
        for name, value in data.items():
            setattr(rule, name, value)
        steps = None
        if items is not None:
            existing = {s.pk: s for s in rule.steps.all()} if rule.pk else {}
            steps = []
            for item in items:
                item = dict(item)
                attachment_items = item.pop("attachments", None)
                step_id = item.pop("id", None)
                if step_id is not None and step_id not in existing:
                    raise ValidationError(
                        {"steps": [_("Step %(id)s is not a step of this SOP.") % {"id": step_id}]}
                    )
                step = existing.get(step_id) or SopStep()
                for name, value in item.items():
                    setattr(step, name, value)
                attachments = None
                if attachment_items is not None:
                    saved = {a.pk: a for a in step.attachments.all()} if step.pk else {}
                    attachments = []
                    for attachment_item in attachment_items:
                        attachment_item = dict(attachment_item)
                        attachment = saved.get(attachment_item.pop("id", None)) or SopStepAttachment()
                        for name, value in attachment_item.items():
                            setattr(attachment, name, value)
                        attachments.append(attachment)
                steps.append((step, attachments))
        rule = sop_rule_save(rule=rule, steps=steps, user=self.request.user)
        serializer.instance = self.get_queryset().get(pk=rule.pk)

    def perform_create(self, serializer):
        self._save(serializer, SopRule())

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        sop_rule_delete(rule=instance)

    @extend_schema(
        summary="The rule's enrolments, newest first",
        parameters=[
            OpenApiParameter(
                "status",
                OpenApiTypes.STR,
                enum=[s.value for s in SopEnrolment.Status],
                description="Only these.",
            )
        ],
        responses=SopEnrolmentSerializer(many=True),
    )
    @action(
        detail=True,
        filter_backends=[],
        pagination_class=SopEnrolmentPagination,
        serializer_class=SopEnrolmentSerializer,
    )
    def enrolments(self, request, pk=None):
        rows = sop_enrolment_list(user=request.user, rule=self.get_object())
        status = request.query_params.get("status")
        if status is not None:
            if status not in SopEnrolment.Status.values:
                raise ValidationError(
                    {"status": [_("One of: %(values)s.") % {"values": ", ".join(SopEnrolment.Status.values)}]}
                )
            rows = rows.filter(status=status)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)


router = SimpleRouter()
router.register("sop-rules", SopRuleViewSet, basename="sop-rule")

urlpatterns = router.urls
