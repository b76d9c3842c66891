"""REST API of welcome messages and group welcome templates: CRUD through the admin's services.

A welcome message is written with its attachments as one document (``attachments`` replaces the
list when given). A file travels base64-encoded in ``file_base64`` with its ``file_name``; it is
kept with the attachment and uploaded to WeCom by the service, never returned. Group welcome
templates are written to WeCom before they are saved: WeCom's refusal is a 400 naming the reason.
"""

from __future__ import annotations

import base64
import binascii

from django.core.exceptions import ValidationError as DjangoValidationError
from django.core.validators import URLValidator
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from scrm.api.serializers import DetailUrlField, ModelSerializer
from scrm.api.viewsets import ModelViewSet

from ..models import GroupWelcomeTemplate, WelcomeAttachment, WelcomeMessage
from ..models.welcome import MAX_ATTACHMENTS, AttachmentKind
from ..selectors.welcome import group_welcome_template_list, welcome_message_list
from ..services.welcome import (
    group_welcome_template_delete,
    group_welcome_template_save,
    welcome_message_delete,
    welcome_message_save,
    welcome_preview,
)

#: The largest file WeCom takes as temporary media, in bytes (the model checks each kind's own).
FILE_MAX_BYTES = 20 << 20

ATTACHMENT_FIELDS = ["kind", "title", "link_url", "description", "pic_url", "appid", "page"]


class BlankableUrlField(serializers.CharField):
    """A URL, or the empty string for none. Checked here rather than by DRF's URLField, whose
    schema is a choice of a URL or an empty string that an empty string matches twice."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        if value:
            try:
                URLValidator()(value)
            except DjangoValidationError:
                raise serializers.ValidationError(_("Enter a valid URL.")) from None
        return value


@extend_schema_field(serializers.ListField(child=serializers.CharField()))
class WarningsField(serializers.Field):
    """The warn-only sensitive words the save found (``campaigns.services.content``); empty when
    reading."""

    def __init__(self, **kwargs):
        kwargs.update(read_only=True, source="*")
        kwargs.setdefault(
            "help_text", "Warn-only sensitive words the content holds: saved, but worth a second look."
        )
        super().__init__(**kwargs)

    def to_representation(self, value) -> list[str]:
        return list(getattr(value, "sensitive_warnings", None) or [])


class AttachmentFileMixin(serializers.Serializer):
    link_url = BlankableUrlField(max_length=2048, allow_blank=True, required=False)
    pic_url = BlankableUrlField(
        max_length=2048,
        allow_blank=True,
        required=False,
        help_text="Links: the thumbnail. Images: a URL from WeCom's uploadimg, instead of a file.",
    )
    file_name = serializers.CharField(max_length=255, required=False, allow_blank=True)
    file_base64 = serializers.CharField(
        write_only=True,
        required=False,
        help_text="The file's bytes, base64-encoded: jpg/png images and mp4 videos up to 10 MB, files 20 MB.",
    )
    file_size = serializers.IntegerField(read_only=True)
    media_uploaded_at = serializers.DateTimeField(read_only=True, allow_null=True)

    def validate_file_base64(self, value: str) -> bytes:
        if len(value) > FILE_MAX_BYTES * 4 // 3 + 4:
            raise serializers.ValidationError(_("At most 20 MB."))
        try:
            return base64.b64decode(value, validate=True)
        except (binascii.Error, ValueError):
            raise serializers.ValidationError(_("Not valid base64.")) from None

    def validate(self, attrs):
        content = attrs.pop("file_base64", None)
        if content is not None:
            if not attrs.get("file_name"):
                raise serializers.ValidationError({"file_name": [_("Name the file sent in file_base64.")]})
            attrs.update(file_content=content, file_size=len(content), media_id="", media_uploaded_at=None)
        return attrs


class WelcomeAttachmentSerializer(AttachmentFileMixin, ModelSerializer):
    id = serializers.IntegerField(
        required=False, help_text="An existing attachment's id keeps its stored file when none is sent."
    )

    class Meta:
        model = WelcomeAttachment
        fields = ["id", *ATTACHMENT_FIELDS, "file_name", "file_base64", "file_size", "media_uploaded_at"]


class WelcomePreviewAttachmentSerializer(serializers.Serializer):
    kind = serializers.CharField()
    title = serializers.CharField()
    url = serializers.CharField()
    description = serializers.CharField()


class WelcomePreviewSerializer(serializers.Serializer):
    text = serializers.CharField()
    attachments = WelcomePreviewAttachmentSerializer(many=True)


class WelcomeMessageSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:welcome-message-detail")
    attachments = WelcomeAttachmentSerializer(many=True, required=False)
    warnings = WarningsField()

    class Meta:
        model = WelcomeMessage
        fields = [
            "id",
            "url",
            "name",
            "scope",
            "department",
            "live_code",
            "text",
            "window_start",
            "window_end",
            "active",
            "attachments",
            "created_at",
            "updated_at",
            "warnings",
        ]
        read_only_fields = ["created_at", "updated_at"]

    def validate_attachments(self, value: list) -> list:
        if len(value) > MAX_ATTACHMENTS:
            raise serializers.ValidationError(
                _("At most %(count)s attachments.") % {"count": MAX_ATTACHMENTS}
            )
        return value


class WelcomeMessageViewSet(ModelViewSet):
    """Welcome messages for new customers: default, per department or per live code, with time
    windows; the most specific active one is sent on each add."""

    serializer_class = WelcomeMessageSerializer
    filterset_fields = ["scope", "active", "department", "live_code"]

    def get_queryset(self):
        return welcome_message_list().order_by("-id")

    def _save(self, serializer, message: WelcomeMessage) -> None:
        data = dict(serializer.validated_data)
        items = data.pop("attachments", None)
        for name, value in data.items():
            setattr(message, name, value)
        attachments = None
        if items is not None:
            existing = {a.pk: a for a in message.attachments.all()} if message.pk else {}
            attachments = []
            for item in items:
                item = dict(item)
                attachment = existing.get(item.pop("id", None)) or WelcomeAttachment()
                for name, value in item.items():
                    setattr(attachment, name, value)
                attachments.append(attachment)
        saved = welcome_message_save(message=message, attachments=attachments)
        serializer.instance = self.get_queryset().get(pk=saved.pk)
        serializer.instance.sensitive_warnings = saved.sensitive_warnings

    def perform_create(self, serializer):
        self._save(serializer, WelcomeMessage())

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        welcome_message_delete(message=instance)

    @extend_schema(
        summary="The message as a customer sees it, with sample names", responses=WelcomePreviewSerializer
    )
    @action(detail=True, filter_backends=[], pagination_class=None)
    def preview(self, request, pk=None):
        return Response(WelcomePreviewSerializer(welcome_preview(message=self.get_object())).data)


class GroupWelcomeTemplateSerializer(AttachmentFileMixin, ModelSerializer):
    url = DetailUrlField(view_name="api-v1:group-welcome-template-detail")
    kind = serializers.ChoiceField(
        choices=AttachmentKind.choices, allow_blank=True, required=False, help_text="The attachment, if any."
    )
    warnings = WarningsField()

    class Meta:
        model = GroupWelcomeTemplate
        fields = [
            "id",
            "url",
            "name",
            "text",
            "notify",
            *ATTACHMENT_FIELDS,
            "file_name",
            "file_base64",
            "file_size",
            "media_uploaded_at",
            "template_id",
            "synced_at",
            "created_at",
            "updated_at",
            "warnings",
        ]
        read_only_fields = ["template_id", "synced_at", "created_at", "updated_at"]


class GroupWelcomeTemplateViewSet(ModelViewSet):
    """Group welcome templates (WeCom keeps at most 100); written to WeCom on every save."""

    serializer_class = GroupWelcomeTemplateSerializer

    def get_queryset(self):
        return group_welcome_template_list().order_by("-id")

    def _save(self, serializer, template: GroupWelcomeTemplate) -> None:
        for name, value in serializer.validated_data.items():
            setattr(template, name, value)
        serializer.instance = group_welcome_template_save(template=template)

    def perform_create(self, serializer):
        self._save(serializer, GroupWelcomeTemplate())

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        group_welcome_template_delete(template=instance)


router = SimpleRouter()
router.register("welcome-messages", WelcomeMessageViewSet, basename="welcome-message")
router.register("group-welcome-templates", GroupWelcomeTemplateViewSet, basename="group-welcome-template")

urlpatterns = router.urls
