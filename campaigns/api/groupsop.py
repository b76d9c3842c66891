"""REST API of group SOP rules: CRUD through ``group_sop_rule_save``, and each rule's runs.

A rule is written with its targets (ids of groups, owners, group tags and stores) and attachments
as one document (``attachments`` replaces the list when given; files travel base64-encoded in
``file_base64``). A bad schedule, no target or a blocked word is a 400 naming the field.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.routers import SimpleRouter

from groups.models import GroupChat, GroupTag
from scrm.api.pagination import CursorPagination
from scrm.api.serializers import DetailUrlField, ModelSerializer
from scrm.api.viewsets import ModelViewSet
from scrm.org.models import Department, Staff

from ..models import GroupSopAttachment, GroupSopRule, GroupSopRun
from ..models.welcome import MAX_ATTACHMENTS
from ..selectors.groupsop import group_sop_rule_list, group_sop_run_list
from ..services.groupsop import group_sop_rule_delete, group_sop_rule_save
from .welcome import ATTACHMENT_FIELDS, AttachmentFileMixin

TARGETS = ("groups", "owners", "group_tags", "stores")


class GroupSopAttachmentSerializer(AttachmentFileMixin, ModelSerializer):
    id = serializers.IntegerField(
        required=False, help_text="An existing attachment's id keeps its stored file when none is sent."
    )

    class Meta:
        model = GroupSopAttachment
        fields = ["id", *ATTACHMENT_FIELDS, "file_name", "file_base64", "file_size", "media_uploaded_at"]


class GroupSopRuleSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:group-sop-rule-detail")
    weekdays = serializers.ListField(
        child=serializers.IntegerField(min_value=0, max_value=6),
        required=False,
        max_length=7,
        help_text="Weekly schedules: 0 = Monday … 6 = Sunday.",
    )
    material_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1), required=False, max_length=9
    )
    groups = serializers.PrimaryKeyRelatedField(queryset=GroupChat.objects.all(), many=True, required=False)
    owners = serializers.PrimaryKeyRelatedField(
        queryset=Staff.objects.all(), many=True, required=False, help_text="Every group these staff own."
    )
    group_tags = serializers.PrimaryKeyRelatedField(
        queryset=GroupTag.objects.all(),
        many=True,
        required=False,
        help_text="Every group with one of these tags.",
    )
    stores = serializers.PrimaryKeyRelatedField(
        queryset=Department.objects.all(),
        many=True,
        required=False,
        help_text="Every group of these departments or below them.",
    )
    attachments = GroupSopAttachmentSerializer(many=True, required=False)

    class Meta:
        model = GroupSopRule
        fields = [
            "id",
            "url",
            "name",
            "active",
            "schedule_kind",
            "weekdays",
            "time_of_day",
            "cron",
            "time_zone",
            *TARGETS,
            "action",
            "text",
            "attachments",
            "material_ids",
            "last_scheduled_for",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["last_scheduled_for", "created_at", "updated_at"]

    def validate_attachments(self, value: list) -> list:
        if len(value) > MAX_ATTACHMENTS:
            raise serializers.ValidationError(f"At most {MAX_ATTACHMENTS} attachments.")
        return value


class GroupSopRunSerializer(ModelSerializer):
    class Meta:
        model = GroupSopRun
        fields = [
            "id",
            "scheduled_for",
            "due_at",
            "status",
            "reason",
            "groups_count",
            "tasks_count",
            "broadcast",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class RunPagination(CursorPagination):
    ordering = "-scheduled_for"


class GroupSopRuleViewSet(ModelViewSet):
    """Recurring posts to groups (PRODUCT.md C3, E2): weekdays and a time, or a cron expression; as
    a task for each group owner or as a group broadcast. Each occurrence is one run."""

    serializer_class = GroupSopRuleSerializer
    filterset_fields = ["active", "action", "schedule_kind"]

    def get_queryset(self):
        return group_sop_rule_list().order_by("-id")

    def _save(self, serializer, rule: GroupSopRule) -> None:
        data = dict(serializer.validated_data)
        targets = {name: data.pop(name, None) for name in TARGETS}
        items = data.pop("attachments", None)
        for name, value in data.items():
            setattr(rule, name, value)
        # A new rule is judged on its content as sent: no attachments given means none.
        attachments = None if rule.pk else []
        if items is not None:
            existing = {a.pk: a for a in rule.attachments.all()} if rule.pk else {}
            attachments = []
            for item in items:
                item = dict(item)
                attachment = existing.get(item.pop("id", None)) or GroupSopAttachment()
                for name, value in item.items():
                    setattr(attachment, name, value)
                attachments.append(attachment)
        group_sop_rule_save(rule=rule, attachments=attachments, by=self.request.user, **targets)
        serializer.instance = self.get_queryset().get(pk=rule.pk)

    def perform_create(self, serializer):
        self._save(serializer, GroupSopRule())

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    @extend_schema(summary="The rule's occurrences, newest first", responses=GroupSopRunSerializer(many=True))
    @action(
        detail=True,
        filter_backends=[],
        pagination_class=RunPagination,
        serializer_class=GroupSopRunSerializer,
    )
    def runs(self, request, pk=None):
        rule = self.get_object()
        page = self.paginate_queryset(group_sop_run_list(rule=rule))
        return self.get_paginated_response(GroupSopRunSerializer(page, many=True).data)

    def perform_destroy(self, instance):
        group_sop_rule_delete(rule=instance)


router = SimpleRouter()
router.register("group-sop-rules", GroupSopRuleViewSet, basename="group-sop-rule")

urlpatterns = router.urls
