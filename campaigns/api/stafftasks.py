"""REST API of the staff task inbox: a scoped list, and ``done`` / ``skip`` on one task.

Every role reads and finishes the tasks in its scope (a guide their own, a store manager those of
their staff, administrators and marketing managers all); a task out of scope is a 404. Tasks are
made by the SOP engines, never through the API.
"""

from __future__ import annotations

import django_filters
from django.utils.translation import gettext_lazy as _
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.routers import SimpleRouter

from customers.filters import IdListFilter
from scrm.api.serializers import DetailUrlField, ModelSerializer
from scrm.api.viewsets import ReadOnlyViewSet
from scrm.org.models import Staff

from ..models import StaffTask
from ..selectors.stafftasks import staff_task_list
from ..services.stafftasks import staff_task_finish


class StaffTaskFilterSet(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=StaffTask.Status.choices, label=_("Status"))
    kind = django_filters.MultipleChoiceFilter(choices=StaffTask.Kind.choices, label=_("Type"))
    staff = IdListFilter(queryset=Staff.objects.all(), label=_("Staff (ids)"))
    due_after = django_filters.IsoDateTimeFilter(
        field_name="due_at", lookup_expr="gte", label=_("Due at or after")
    )
    due_before = django_filters.IsoDateTimeFilter(
        field_name="due_at", lookup_expr="lt", label=_("Due before")
    )

    class Meta:
        model = StaffTask
        fields = ["status", "kind", "staff", "customer", "group"]


class StaffTaskSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:staff-task-detail")
    staff_name = serializers.CharField(source="staff.name", read_only=True)
    customer_name = serializers.CharField(
        source="customer.name", read_only=True, allow_null=True, default=None
    )
    group_name = serializers.CharField(source="group.name", read_only=True, allow_null=True, default=None)
    content = serializers.JSONField(
        read_only=True,
        help_text='What to send: {"text", "attachments": [{"kind", "title", "url", "description"}], '
        '"material_ids", and for group posts "groups": [{"id", "name", "chat_id"}]}.',
    )

    class Meta:
        model = StaffTask
        fields = [
            "id",
            "url",
            "staff",
            "staff_name",
            "customer",
            "customer_name",
            "group",
            "group_name",
            "kind",
            "title",
            "content",
            "due_at",
            "status",
            "status_changed_at",
            "note",
            "notified_at",
            "created_at",
        ]
        read_only_fields = fields


class StaffTaskFinishSerializer(serializers.Serializer):
    note = serializers.CharField(max_length=500, required=False, allow_blank=True, default="")


class StaffTaskViewSet(ReadOnlyViewSet):
    """Tasks for frontline staff (PRODUCT.md E4): send this to that customer, post this in that
    group, by a time. Made by customer and group SOP rules; finished by the person who did them."""

    serializer_class = StaffTaskSerializer
    filterset_class = StaffTaskFilterSet

    def get_queryset(self):
        return staff_task_list(user=self.request.user).order_by("-id")

    def _finish(self, request, status: str) -> Response:
        task = self.get_object()  # out of scope: 404
        data = StaffTaskFinishSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        staff_task_finish(task=task, status=status, note=data.validated_data["note"], by=request.user)
        return Response(
            StaffTaskSerializer(self.get_queryset().get(pk=task.pk), context={"request": request}).data
        )

    @extend_schema(
        summary="Mark an open task done", request=StaffTaskFinishSerializer, responses=StaffTaskSerializer
    )
    @action(detail=True, methods=["post"], filter_backends=[], required_permissions=[])
    def done(self, request, pk=None):
        return self._finish(request, StaffTask.Status.DONE)

    @extend_schema(
        summary="Skip an open task, saying why in the note",
        request=StaffTaskFinishSerializer,
        responses=StaffTaskSerializer,
    )
    @action(detail=True, methods=["post"], filter_backends=[], required_permissions=[])
    def skip(self, request, pk=None):
        return self._finish(request, StaffTask.Status.SKIPPED)


router = SimpleRouter()
router.register("staff-tasks", StaffTaskViewSet, basename="staff-task")

urlpatterns = router.urls
