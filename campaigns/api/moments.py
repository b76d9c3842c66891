"""REST API of moments campaigns: drafts written through ``moment_save``, then launch, cancel and
sync as actions; a launched campaign is read-only (400 on any change).

A campaign is written with its attachments as one document (``attachments`` replaces the list
when given): up to 9 images, or 1 video, or 1 link. Files travel base64-encoded in
``file_base64`` with their ``file_name`` and are never returned. ``publishers`` lists, with
cursor pagination, the members asked to publish and whether they did.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from customers.models import Tag
from scrm.api.pagination import CursorPagination
from scrm.api.serializers import DetailUrlField, ModelSerializer
from scrm.api.viewsets import ModelViewSet
from scrm.org.models import Department, Staff

from ..models import MomentAttachment, MomentCampaign, MomentPublisher
from ..models.moments import MOMENT_KINDS
from ..selectors.moments import moment_campaign_detail_list, moment_campaign_list, moment_publisher_list
from ..services.moments import (
    moment_cancel,
    moment_delete,
    moment_launch_request,
    moment_save,
    moment_sync_request,
)
from .welcome import AttachmentFileMixin


class MomentAttachmentSerializer(AttachmentFileMixin, ModelSerializer):
    id = serializers.IntegerField(
        required=False, help_text="An existing attachment's id keeps its stored file when none is sent."
    )
    kind = serializers.ChoiceField(choices=[(k.value, k.label) for k in MOMENT_KINDS])
    title = serializers.CharField(
        max_length=128, required=False, allow_blank=True, help_text="Links: at most 64 bytes."
    )

    class Meta:
        model = MomentAttachment
        fields = [
            "id",
            "kind",
            "title",
            "link_url",
            "file_name",
            "file_base64",
            "file_size",
            "media_uploaded_at",
        ]


class MomentCampaignSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:moment-detail")
    attachments = MomentAttachmentSerializer(
        many=True, required=False, help_text="Up to 9 images, or 1 video, or 1 link."
    )
    staff = serializers.PrimaryKeyRelatedField(
        many=True, required=False, queryset=Staff.objects.all(), help_text="Staff who must publish it."
    )
    departments = serializers.PrimaryKeyRelatedField(
        many=True,
        required=False,
        queryset=Department.objects.all(),
        help_text="Departments whose members (and sub-departments') must publish it.",
    )
    tags = serializers.PrimaryKeyRelatedField(
        many=True,
        required=False,
        queryset=Tag.objects.filter(deleted=False),
        help_text="Corporate tags: customers with any of them see it; none: all customers.",
    )
    progress_percent = serializers.IntegerField(read_only=True)

    class Meta:
        model = MomentCampaign
        fields = [
            "id",
            "url",
            "name",
            "text",
            "attachments",
            "staff",
            "departments",
            "tags",
            "status",
            "jobid",
            "moment_id",
            "error",
            "invalid",
            "publishers_count",
            "published_count",
            "progress_percent",
            "customers_reached",
            "comments_count",
            "likes_count",
            "created_at",
            "updated_at",
            "launched_at",
            "job_done_at",
            "finished_at",
            "synced_at",
        ]
        read_only_fields = [
            "status",
            "jobid",
            "moment_id",
            "error",
            "invalid",
            "publishers_count",
            "published_count",
            "customers_reached",
            "comments_count",
            "likes_count",
            "created_at",
            "updated_at",
            "launched_at",
            "job_done_at",
            "finished_at",
            "synced_at",
        ]


class MomentPublisherSerializer(ModelSerializer):
    staff_name = serializers.CharField(source="staff.name", read_only=True, allow_null=True, default=None)

    class Meta:
        model = MomentPublisher
        fields = [
            "id",
            "userid",
            "staff",
            "staff_name",
            "publish_status",
            "published_at",
            "customers_visible",
            "customers_reached",
            "comments_count",
            "likes_count",
            "synced_at",
        ]


class MomentErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class PublisherPagination(CursorPagination):
    ordering = "id"


class MomentCampaignViewSet(ModelViewSet):
    """Moments campaigns (朋友圈): drafts, then launched to WeCom, where the staff publish them."""

    serializer_class = MomentCampaignSerializer
    filterset_fields = ["status"]

    def get_queryset(self):
        if self.action == "publishers":  # the campaign only, without what its detail shows
            return moment_campaign_list(user=self.request.user)
        return moment_campaign_detail_list(user=self.request.user).order_by("-id")

    def _save(self, serializer, campaign: MomentCampaign) -> None:
        data = dict(serializer.validated_data)
        items = data.pop("attachments", None)
        relations = {name: data.pop(name, None) for name in ("staff", "departments", "tags")}
        for name, value in data.items():
            setattr(campaign, name, value)
        attachments = None
        if items is not None:
            existing = {a.pk: a for a in campaign.attachments.defer("file_content")} if campaign.pk else {}
            attachments = []
            for item in items:
                item = dict(item)
                attachment = existing.get(item.pop("id", None)) or MomentAttachment()
                for name, value in item.items():
                    setattr(attachment, name, value)
                attachments.append(attachment)
        campaign = moment_save(
            campaign=campaign, attachments=attachments, user=self.request.user, **relations
        )
        serializer.instance = self.get_queryset().get(pk=campaign.pk)

    def perform_create(self, serializer):
        self._save(serializer, MomentCampaign())

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        moment_delete(campaign=instance)

    def _state(self, campaign: MomentCampaign, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=campaign.pk)
        return Response(self.get_serializer(fresh).data, status=code)

    @extend_schema(
        summary="Create the moment in WeCom (queued); the staff then publish it",
        request=None,
        responses={202: MomentCampaignSerializer, 400: MomentErrorSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        filter_backends=[],
        pagination_class=None,
        required_permissions=["campaigns.change_momentcampaign"],
    )
    def launch(self, request, pk=None):
        campaign = self.get_object()
        moment_launch_request(campaign=campaign)
        return self._state(campaign, status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Stop a launched moment that not everyone has published",
        request=None,
        responses={200: MomentCampaignSerializer, 400: MomentErrorSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        filter_backends=[],
        pagination_class=None,
        required_permissions=["campaigns.change_momentcampaign"],
    )
    def cancel(self, request, pk=None):
        campaign = moment_cancel(campaign=self.get_object())
        return self._state(campaign)

    @extend_schema(
        summary="Read who published it and whom it reached (queued)",
        request=None,
        responses={202: MomentCampaignSerializer, 400: MomentErrorSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        filter_backends=[],
        pagination_class=None,
        required_permissions=["campaigns.change_momentcampaign"],
    )
    def sync(self, request, pk=None):
        campaign = self.get_object()
        moment_sync_request(campaign=campaign)
        return self._state(campaign, status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="The members asked to publish it, and whether they did",
        responses=MomentPublisherSerializer(many=True),
    )
    @action(
        detail=True,
        filter_backends=[],
        pagination_class=PublisherPagination,
        serializer_class=MomentPublisherSerializer,
    )
    def publishers(self, request, pk=None):
        campaign = self.get_object()
        rows = moment_publisher_list(user=request.user, campaign=campaign)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(MomentPublisherSerializer(page, many=True).data)


router = SimpleRouter()
router.register("moments", MomentCampaignViewSet, basename="moment")

urlpatterns = router.urls
