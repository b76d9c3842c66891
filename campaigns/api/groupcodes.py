"""REST API of group live codes: CRUD through the same services as the admin.

``groups`` (write) lists the code's group ids in order; ``chats`` (read) shows each group with its
place and status. Creating or changing a code writes its WeCom join way first: a refusal is a 400
naming what WeCom said, and nothing is saved.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import Prefetch
from django.utils import timezone
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from groups.api.serializers import GroupChatBriefSerializer
from groups.models import GroupChat
from scrm.api.serializers import DetailUrlField, ModelSerializer
from scrm.api.viewsets import ModelViewSet

from ..models import GroupCode, GroupCodeChat, GroupWelcomeTemplate
from ..selectors.groupcodes import groupcode_joins_by_day, groupcode_list, groupcode_members_by_group
from ..services.groupcodes import GroupCodeEntry, groupcode_delete, groupcode_save


class GroupCodeChatSerializer(ModelSerializer):
    group = GroupChatBriefSerializer(read_only=True)
    member_count = serializers.IntegerField(source="group.member_count", read_only=True)

    class Meta:
        model = GroupCodeChat
        fields = ["group", "position", "status", "member_count", "auto_created", "full_at", "added_at"]
        read_only_fields = fields


class GroupCodeSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:group-code-detail")
    state = serializers.CharField(
        source="channel.state",
        max_length=30,
        help_text="Put by WeCom on every member who joins through the code; unique, at most 30 characters.",
    )
    groups = serializers.PrimaryKeyRelatedField(
        queryset=GroupChat.objects.all(),
        many=True,
        write_only=True,
        help_text="The code's groups in order (ids); the first 5 open ones are in the QR.",
    )
    chats = GroupCodeChatSerializer(many=True, read_only=True)
    welcome_template = serializers.PrimaryKeyRelatedField(
        queryset=GroupWelcomeTemplate.objects.all(), allow_null=True, required=False
    )
    wecom_chat_ids = serializers.ListField(child=serializers.CharField(), read_only=True)

    class Meta:
        model = GroupCode
        fields = [
            "id",
            "url",
            "name",
            "state",
            "status",
            "member_cap",
            "auto_create_room",
            "room_base_name",
            "room_base_id",
            "welcome_template",
            "groups",
            "chats",
            "config_id",
            "qr_code",
            "wecom_chat_ids",
            "synced_at",
            "sync_error",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["config_id", "qr_code", "synced_at", "sync_error", "created_at", "updated_at"]

    def validate_groups(self, groups: list[GroupChat]) -> list[GroupChat]:
        if not groups:
            raise serializers.ValidationError(_("Give the code at least one group."))
        if len({g.pk for g in groups}) != len(groups):
            raise serializers.ValidationError(_("A group is listed twice."))
        return groups

    def validate(self, attrs):
        if self.instance is None and "groups" not in attrs:
            raise serializers.ValidationError({"groups": [_("Give the code at least one group.")]})
        return attrs


class GroupCodeJoinsQuerySerializer(serializers.Serializer):
    days = serializers.IntegerField(
        min_value=1, max_value=366, default=30, help_text="Days back from today (in TIME_ZONE)."
    )


class GroupCodeGroupJoinsSerializer(serializers.Serializer):
    group = serializers.IntegerField(source="seat.group_id")
    chat_id = serializers.CharField(source="seat.group.chat_id")
    status = serializers.CharField(source="seat.status")
    members = serializers.IntegerField(help_text="The group's size as WeCom last reported it.")
    joined = serializers.IntegerField(help_text="Members who ever joined through the code.")
    still_in = serializers.IntegerField(help_text="Of those, the ones still in the group.")


class GroupCodeDayJoinsSerializer(serializers.Serializer):
    day = serializers.DateField()
    group = serializers.IntegerField(source="group_id")
    joins = serializers.IntegerField()
    still_in = serializers.IntegerField()


class GroupCodeJoinsSerializer(serializers.Serializer):
    groups = GroupCodeGroupJoinsSerializer(many=True)
    days = GroupCodeDayJoinsSerializer(many=True)


class GroupCodeViewSet(ModelViewSet):
    serializer_class = GroupCodeSerializer

    def get_queryset(self):
        chats = GroupCodeChat.objects.select_related("group").order_by("position", "id")
        return groupcode_list(user=self.request.user).prefetch_related(Prefetch("chats", queryset=chats))

    def _save(self, serializer, code: GroupCode) -> None:
        data = dict(serializer.validated_data)
        state = data.pop("channel", {}).get("state") or (code.channel.state if code.channel_id else "")
        groups = data.pop("groups", None)
        for name, value in data.items():
            setattr(code, name, value)
        if groups is None:  # a partial update without groups keeps them and their statuses
            entries = [GroupCodeEntry(group=seat.group) for seat in code.chats.select_related("group")]
        else:
            entries = [GroupCodeEntry(group=group) for group in groups]
        serializer.instance = groupcode_save(code=code, state=state, entries=entries)
        # Read the code back as saved (its groups' statuses were decided by the service).
        serializer.instance = self.get_queryset().get(pk=serializer.instance.pk)

    def perform_create(self, serializer):
        self._save(serializer, GroupCode())

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        groupcode_delete(code=instance)

    @extend_schema(
        summary="Joins through a group code, per group and by day",
        parameters=[GroupCodeJoinsQuerySerializer],
        responses=GroupCodeJoinsSerializer,
    )
    @action(detail=True, filter_backends=[], pagination_class=None, serializer_class=GroupCodeJoinsSerializer)
    def joins(self, request, pk=None):
        code = self.get_object()
        query = GroupCodeJoinsQuerySerializer(data=request.query_params)
        query.is_valid(raise_exception=True)
        today = timezone.localdate()
        first_day = today - timedelta(days=query.validated_data["days"] - 1)
        data = {
            "groups": groupcode_members_by_group(code=code),
            "days": groupcode_joins_by_day(code=code, first_day=first_day, last_day=today),
        }
        return Response(GroupCodeJoinsSerializer(data).data)


router = SimpleRouter()
router.register("group-codes", GroupCodeViewSet, basename="group-code")

urlpatterns = router.urls
