"""REST API of staff live codes: CRUD through the admin's services, and the status of a code.

A code is written as one document: ``members``, ``hours`` and ``special_dates`` are nested lists
that replace the code's own when given (left as they are when omitted in a PATCH). Saving writes
WeCom's contact way: a new code WeCom refuses is not kept (400 naming the reason); a changed code
is kept and WeCom's refusal is in ``sync_error`` (retried by the minute review).
"""

from __future__ import annotations

from django.db.models import Prefetch
from django.utils.translation import gettext as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from customers.models import Tag
from scrm.api.serializers import DetailUrlField, ModelSerializer
from scrm.api.viewsets import ModelViewSet
from scrm.org.models import Department, Staff

from ..models import LiveCode, LiveCodeHours, LiveCodeMember, LiveCodeSpecialDate
from ..selectors.livecodes import livecode_list
from ..services.eligibility import CAPPED
from ..services.livecodes import LiveCodeSyncError, livecode_delete, livecode_evaluate, livecode_save

__all__ = ["LiveCodeViewSet", "urlpatterns"]


class LiveCodeMemberSerializer(ModelSerializer):
    staff = serializers.PrimaryKeyRelatedField(queryset=Staff.objects.all())
    userid = serializers.CharField(source="staff.userid", read_only=True)
    weight = serializers.IntegerField(min_value=1, max_value=100, default=1)

    class Meta:
        model = LiveCodeMember
        fields = ["staff", "userid", "weight", "daily_cap", "is_backup"]


class LiveCodeHoursSerializer(ModelSerializer):
    class Meta:
        model = LiveCodeHours
        fields = ["weekday", "start", "end"]
        validators: list = []  # the order of start and end is checked with a clear message

    def validate(self, attrs):
        if attrs["start"] >= attrs["end"]:
            raise serializers.ValidationError(_("Working hours must end after they start."))
        return attrs


class LiveCodeSpecialDateSerializer(ModelSerializer):
    class Meta:
        model = LiveCodeSpecialDate
        fields = ["first_day", "last_day", "closed", "start", "end"]
        validators: list = []

    def validate(self, attrs):
        if attrs["first_day"] > attrs["last_day"]:
            raise serializers.ValidationError(_("A special date range must end on or after its start."))
        start, end = attrs.get("start"), attrs.get("end")
        if not attrs.get("closed") and start and end and start >= end:
            raise serializers.ValidationError(_("Special hours must end after they start."))
        return attrs


class LiveCodeSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:live-code-detail")
    state = serializers.CharField(
        max_length=30,
        help_text="WeCom echoes it on every add; at most 30 characters, unique across channels.",
    )
    departments = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Department.objects.all(), required=False
    )
    tags = serializers.PrimaryKeyRelatedField(
        many=True, queryset=Tag.objects.filter(deleted=False), required=False
    )
    members = LiveCodeMemberSerializer(many=True, required=False)
    hours = LiveCodeHoursSerializer(many=True, required=False)
    special_dates = LiveCodeSpecialDateSerializer(many=True, required=False)

    class Meta:
        model = LiveCode
        fields = [
            "id",
            "url",
            "name",
            "state",
            "status",
            "strategy",
            "departments",
            "daily_cap",
            "skip_verify",
            "auto_accept_from",
            "auto_accept_until",
            "exclusive",
            "tags",
            "remark_template",
            "description_template",
            "members",
            "hours",
            "special_dates",
            "config_id",
            "qr_code",
            "wecom_users",
            "synced_at",
            "sync_error",
            "next_review_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = [
            "config_id",
            "qr_code",
            "wecom_users",
            "synced_at",
            "sync_error",
            "next_review_at",
            "created_at",
            "updated_at",
        ]

    def validate_exclusive(self, value: bool) -> bool:
        code = self.instance
        if code is not None and code.config_id and value != code.exclusive:
            raise serializers.ValidationError(
                _("WeCom sets exclusive routing only when the way is created: make a new code to change it.")
            )
        return value

    def to_representation(self, instance):
        data = super().to_representation(instance)
        data["state"] = instance.channel.state
        return data


class SeatStatusSerializer(serializers.Serializer):
    staff = serializers.IntegerField(source="seat.staff_id")
    userid = serializers.CharField(source="seat.userid")
    name = serializers.CharField(source="seat.name")
    is_backup = serializers.BooleanField(source="seat.is_backup")
    weight = serializers.IntegerField(source="seat.weight")
    adds_today = serializers.IntegerField(source="seat.adds_today")
    cap = serializers.IntegerField()
    reason = serializers.ChoiceField(
        choices=["live", "not_picked", "backup_waiting", "off_duty", "capped", "inactive", "no_contact"]
    )
    detail = serializers.SerializerMethodField()

    def get_detail(self, status) -> str:
        if status.reason == CAPPED:
            return f"{status.reason_label} ({status.seat.adds_today}/{status.cap})"
        return status.reason_label


class LiveCodeStatusSerializer(serializers.Serializer):
    users = serializers.ListField(child=serializers.CharField(), help_text="Who the way should list now.")
    wecom_users = serializers.ListField(child=serializers.CharField(), help_text="Who WeCom lists now.")
    nobody_live = serializers.BooleanField(help_text="Nobody can take customers: WeCom keeps its last list.")
    backups_live = serializers.BooleanField()
    on_duty = serializers.BooleanField()
    skip_verify = serializers.BooleanField()
    next_review_at = serializers.DateTimeField(allow_null=True)
    sync_error = serializers.CharField()
    members = SeatStatusSerializer(many=True)


class LiveCodeViewSet(ModelViewSet):
    """Staff live codes: a permanent QR over a pool of staff, distributed within daily caps."""

    serializer_class = LiveCodeSerializer
    filterset_fields = ["status", "strategy"]

    def get_queryset(self):
        return livecode_list().prefetch_related(
            "departments",
            "tags",
            Prefetch("members", queryset=LiveCodeMember.objects.select_related("staff").order_by("id")),
            "hours",
            "special_dates",
        )

    def _save(self, serializer, code: LiveCode) -> None:
        data = dict(serializer.validated_data)
        state = data.pop("state", None) or (code.channel.state if code.channel_id else "")
        related = {
            name: data.pop(name, None)
            for name in ("departments", "tags", "members", "hours", "special_dates")
        }
        for name, value in data.items():
            setattr(code, name, value)
        creating = code.pk is None
        try:
            livecode_save(
                code=code,
                state=state,
                departments=related["departments"],
                tags=related["tags"],
                members=[dict(m) for m in related["members"]] if related["members"] is not None else None,
                hours=[dict(h) for h in related["hours"]] if related["hours"] is not None else None,
                special_dates=(
                    [dict(d) for d in related["special_dates"]]
                    if related["special_dates"] is not None
                    else None
                ),
            )
        except LiveCodeSyncError as error:
            if creating:
                raise ValidationError({"wecom": [str(error)]}) from error
        serializer.instance = self.get_queryset().get(pk=code.pk)

    def perform_create(self, serializer):
        self._save(serializer, LiveCode())

    def perform_update(self, serializer):
        self._save(serializer, serializer.instance)

    def perform_destroy(self, instance):
        try:
            livecode_delete(code=instance)
        except LiveCodeSyncError as error:
            raise ValidationError({"wecom": [str(error)]}) from error

    @extend_schema(summary="Who is live now, and why the others are not", responses=LiveCodeStatusSerializer)
    @action(detail=True, filter_backends=[], pagination_class=None)
    def status(self, request, pk=None):
        code = self.get_object()
        result = livecode_evaluate(code=code)
        data = {
            "users": list(result.users),
            "wecom_users": list(code.wecom_users or ()),
            "nobody_live": not result.users,
            "backups_live": result.backups_live,
            "on_duty": result.on_duty,
            "skip_verify": result.skip_verify,
            "next_review_at": code.next_review_at,
            "sync_error": code.sync_error,
            "members": list(result.seats),
        }
        return Response(LiveCodeStatusSerializer(data).data)


router = SimpleRouter()
router.register("live-codes", LiveCodeViewSet, basename="live-code")

urlpatterns = router.urls
