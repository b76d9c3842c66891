"""REST API of broadcasts: drafts written through ``broadcast_save``, then launch, cancel, remind
and sync as actions; a launched broadcast is read-only (400 on any change).

A broadcast is written with its attachments as one document (``attachments`` replaces the list
when given; files travel base64-encoded in ``file_base64``). ``preview`` counts what planning
would give now (targeted, eligible, left out by reason, no longer friends) without writing rows.
The detail carries the funnel; ``senders`` and ``recipients`` list the progress with cursor
pagination (a broadcast may have a million recipients).
"""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from customers.models import Segment
from scrm.api.pagination import CursorPagination
from scrm.api.serializers import DetailUrlField, ModelSerializer
from scrm.api.viewsets import ModelViewSet
from scrm.org.models import Staff
from scrm.wecom.errors import WecomError

from ..models import Broadcast, BroadcastAttachment, BroadcastRecipient
from ..selectors.broadcasts import broadcast_list, broadcast_recipients, broadcast_senders
from ..services.broadcast_dispatch import broadcast_cancel, broadcast_remind
from ..services.broadcasts import (
    SENDER_RULES,
    broadcast_delete,
    broadcast_launch,
    broadcast_preview,
    broadcast_save,
    broadcast_sync_request,
)
from .welcome import ATTACHMENT_FIELDS, AttachmentFileMixin


class BroadcastAttachmentSerializer(AttachmentFileMixin, ModelSerializer):
    id = serializers.IntegerField(
        required=False, help_text="An existing attachment's id keeps its stored file when none is sent."
    )

    class Meta:
        model = BroadcastAttachment
        fields = ["id", *ATTACHMENT_FIELDS, "file_name", "file_base64", "file_size", "media_uploaded_at"]


class BroadcastFunnelSerializer(serializers.Serializer):
    targeted = serializers.IntegerField()
    eligible = serializers.IntegerField()
    handed = serializers.IntegerField(help_text="Handed to WeCom (add_msg_template accepted them).")
    confirmed = serializers.IntegerField(help_text="In tasks the senders confirmed in the WeCom client.")
    delivered = serializers.IntegerField()


class BroadcastSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:broadcast-detail")
    segment = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.all(), allow_null=True, required=False
    )
    rules = serializers.JSONField(
        required=False,
        help_text=(
            "Customers: segment rules (customers.segments format), narrowing the segment when both "
            'are given. Groups: {"owners": [staff ids], "group_tags": [ids], "stores": [department '
            'ids], "groups": [group ids]}; a group matching any of them is targeted.'
        ),
    )
    sender_rule = serializers.ChoiceField(
        choices=list(SENDER_RULES), required=False, help_text="Who sends to a customer several staff follow."
    )
    attachments = BroadcastAttachmentSerializer(many=True, required=False)
    funnel = serializers.SerializerMethodField()

    class Meta:
        model = Broadcast
        fields = [
            "id",
            "url",
            "name",
            "kind",
            "status",
            "text",
            "segment",
            "rules",
            "sender_rule",
            "scheduled_at",
            "origin",
            "attachments",
            "funnel",
            "error",
            "planned_at",
            "started_at",
            "finished_at",
            "canceled_at",
            "results_synced_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "status",
            "origin",
            "error",
            "planned_at",
            "started_at",
            "finished_at",
            "canceled_at",
            "results_synced_at",
            "created_at",
            "updated_at",
        ]

    @extend_schema_field(BroadcastFunnelSerializer)
    def get_funnel(self, obj: Broadcast) -> dict:
        return {
            name: getattr(obj, name) for name in ("targeted", "eligible", "handed", "confirmed", "delivered")
        }


class BroadcastPreviewSerializer(serializers.Serializer):
    targeted = serializers.IntegerField()
    eligible = serializers.IntegerField()
    suppressed = serializers.DictField(child=serializers.IntegerField(), help_text="Left out, by reason.")
    suppressed_total = serializers.IntegerField()
    no_longer_friends = serializers.IntegerField()


class BroadcastSenderSerializer(ModelSerializer):
    batches = serializers.IntegerField()
    recipients = serializers.IntegerField()
    handed_batches = serializers.IntegerField()
    confirmed_batches = serializers.IntegerField()
    failed_batches = serializers.IntegerField()
    msgid = serializers.CharField(
        help_text="WeCom's msgid of the sender's latest batch (empty until handed)."
    )
    confirmed = serializers.SerializerMethodField()

    class Meta:
        model = Staff
        fields = [
            "id",
            "userid",
            "name",
            "batches",
            "recipients",
            "handed_batches",
            "confirmed_batches",
            "failed_batches",
            "msgid",
            "confirmed",
        ]

    def get_confirmed(self, obj) -> bool:
        return obj.batches > 0 and obj.confirmed_batches == obj.batches


class BroadcastRecipientSerializer(ModelSerializer):
    name = serializers.SerializerMethodField()
    sender_userid = serializers.CharField(source="sender.userid", default=None, allow_null=True)

    class Meta:
        model = BroadcastRecipient
        fields = [
            "id",
            "target",
            "customer",
            "group",
            "name",
            "sender",
            "sender_userid",
            "status",
            "reason",
            "handed_at",
            "sent_at",
        ]

    def get_name(self, obj) -> str:
        item = obj.customer or obj.group
        return str(item) if item else ""


class BroadcastErrorSerializer(serializers.Serializer):
    detail = serializers.CharField()


class BroadcastRemindSerializer(serializers.Serializer):
    reminded = serializers.IntegerField(help_text="How many sender tasks were reminded.")


class IdPagination(CursorPagination):
    ordering = "id"


def _wecom_refused(error: WecomError) -> ValidationError:
    return ValidationError({"detail": _("WeCom refused: %(error)s") % {"error": error}})


class BroadcastViewSet(ModelViewSet):
    """Mass messages to customers or groups (PRODUCT.md D2, D3): drafts, then launched (now or at
    ``scheduled_at``), planned with the contact policy and handed to WeCom by sender."""

    serializer_class = BroadcastSerializer
    filterset_fields = ["status", "kind", "origin"]

    def get_queryset(self):
        return broadcast_list(user=self.request.user).order_by("-id")

    def _save(self, serializer, broadcast: Broadcast) -> None:
        data = dict(serializer.validated_data)
        items = data.pop("attachments", None)
        for name, value in data.items():
            setattr(broadcast, name, value)
        attachments = None
        if items is not None:
            existing = {a.pk: a for a in broadcast.attachments.all()} if broadcast.pk else {}
            attachments = []
            for item in items:
                item = dict(item)
                attachment = existing.get(item.pop("id", None)) or BroadcastAttachment()
                for name, value in item.items():
                    setattr(attachment, name, value)
                attachments.append(attachment)
        broadcast_save(broadcast=broadcast, attachments=attachments)
        serializer.instance = self.get_queryset().get(pk=broadcast.pk)

    def perform_create(self, serializer):
        self._save(serializer, Broadcast(origin=Broadcast.Origin.API, created_by=self.request.user))

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        broadcast_delete(broadcast=instance)

    def _state(self, broadcast: Broadcast, code: int = status.HTTP_200_OK) -> Response:
        fresh = self.get_queryset().get(pk=broadcast.pk)
        return Response(BroadcastSerializer(fresh, context=self.get_serializer_context()).data, status=code)

    @extend_schema(
        summary="What planning would give now: targeted, eligible, left out by reason",
        responses=BroadcastPreviewSerializer,
    )
    @action(detail=True, filter_backends=[], pagination_class=None)
    def preview(self, request, pk=None):
        return Response(BroadcastPreviewSerializer(broadcast_preview(broadcast=self.get_object())).data)

    @extend_schema(
        summary="Launch a draft: now, or at its scheduled_at (after quiet hours)",
        request=None,
        responses={202: BroadcastSerializer, 400: BroadcastErrorSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        filter_backends=[],
        pagination_class=None,
        required_permissions=["campaigns.change_broadcast"],
    )
    def launch(self, request, pk=None):
        broadcast = broadcast_launch(broadcast=self.get_object())
        return self._state(broadcast, status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Stop a broadcast: nothing more is handed over; handed messages are canceled",
        request=None,
        responses={200: BroadcastSerializer, 400: BroadcastErrorSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        filter_backends=[],
        pagination_class=None,
        required_permissions=["campaigns.change_broadcast"],
    )
    def cancel(self, request, pk=None):
        broadcast = self.get_object()
        try:
            broadcast_cancel(broadcast=broadcast)
        except WecomError as error:
            raise _wecom_refused(error) from None
        except DjangoValidationError as error:
            raise ValidationError({"detail": " ".join(error.messages)}) from None
        return self._state(broadcast)

    @extend_schema(
        summary="Remind the senders who have not confirmed (at most 3 times in 24 hours)",
        request=None,
        responses={200: BroadcastRemindSerializer, 400: BroadcastErrorSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        filter_backends=[],
        pagination_class=None,
        required_permissions=["campaigns.change_broadcast"],
    )
    def remind(self, request, pk=None):
        try:
            reminded = broadcast_remind(broadcast=self.get_object())
        except WecomError as error:
            raise _wecom_refused(error) from None
        except DjangoValidationError as error:
            raise ValidationError({"detail": " ".join(error.messages)}) from None
        return Response({"reminded": reminded})

    @extend_schema(
        summary="Read the senders' confirmations and the recipients' results from WeCom (queued)",
        request=None,
        responses={202: BroadcastSerializer, 400: BroadcastErrorSerializer},
    )
    @action(
        detail=True,
        methods=["post"],
        filter_backends=[],
        pagination_class=None,
        required_permissions=["campaigns.change_broadcast"],
    )
    def sync(self, request, pk=None):
        broadcast = self.get_object()
        broadcast_sync_request(broadcast=broadcast)
        return self._state(broadcast, status.HTTP_202_ACCEPTED)

    @extend_schema(
        summary="Progress per sender: batches handed over and confirmed in the client",
        responses=BroadcastSenderSerializer(many=True),
    )
    @action(
        detail=True,
        filter_backends=[],
        pagination_class=IdPagination,
        serializer_class=BroadcastSenderSerializer,
    )
    def senders(self, request, pk=None):
        broadcast = self.get_object()
        page = self.paginate_queryset(broadcast_senders(broadcast=broadcast, user=request.user))
        return self.get_paginated_response(BroadcastSenderSerializer(page, many=True).data)

    @extend_schema(
        summary="The recipients, with their sender and status or why they were left out",
        responses=BroadcastRecipientSerializer(many=True),
        parameters=[
            OpenApiParameter("status", str, enum=BroadcastRecipient.Status.values),
            OpenApiParameter("reason", str, enum=BroadcastRecipient.Reason.values),
        ],
    )
    @action(
        detail=True,
        filter_backends=[],
        pagination_class=IdPagination,
        serializer_class=BroadcastRecipientSerializer,
    )
    def recipients(self, request, pk=None):
        broadcast = self.get_object()
        filters = {}
        for name, choices in (
            ("status", BroadcastRecipient.Status.values),
            ("reason", BroadcastRecipient.Reason.values),
        ):
            value = request.query_params.get(name)
            if value and value not in choices:
                raise ValidationError({name: [_("One of: %(values)s.") % {"values": ", ".join(choices)}]})
            filters[name] = value or None
        rows = broadcast_recipients(broadcast=broadcast, user=request.user, **filters)
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(BroadcastRecipientSerializer(page, many=True).data)


router = SimpleRouter()
router.register("broadcasts", BroadcastViewSet, basename="broadcast")

urlpatterns = router.urls
