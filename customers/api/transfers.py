"""``/transfer-jobs/`` and ``/pool/``: transfer progress, on-job transfers and claims from the pool.

- ``GET /transfer-jobs/`` lists jobs (resigned, on-job, claims), newest first, filtered by kind,
  status and handover; the detail adds the items counted by status, the progress and the groups
  moved with the job. ``items`` lists a job's customers with their status and, for those that
  cannot move, the reason.
- ``POST /transfer-jobs/onjob/`` plans an on-job transfer (roles with ``add_transferjob``:
  administrators and marketing managers). Customers WeCom would refuse are kept as blocked items
  and listed in the answer with the reason.
- ``GET /pool/`` lists the customer pool, corp-wide for every role; ``POST /pool/claim/`` claims
  entries for a member. Roles that may change pool entries (administrators, marketing managers)
  claim for any member; everybody else only for their own staff record.

Jobs are scoped like customers: administrators and marketing managers see all, store managers
the jobs from or to their staff, guides those from or to themselves.
"""

from __future__ import annotations

from collections import defaultdict

from django.db.models import Count
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_field, extend_schema_view
from rest_framework import serializers, status
from rest_framework.decorators import action
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.generics import get_object_or_404
from rest_framework.response import Response

from customers.filters import IdListFilter
from customers.models import PoolEntry, Segment, TransferItem, TransferJob, TransferPolicy
from customers.models.transfers import IN_FLIGHT
from customers.selectors import transfer_job_counts, transfer_job_list
from customers.transfers.onjob import ONJOB_MAX_CUSTOMERS, ONJOB_MESSAGE_MAX, onjob_transfer_create
from customers.transfers.pool import CLAIM_REFUSALS, pool_claim, pool_list
from scrm.api.pagination import CursorPagination
from scrm.api.serializers import DetailUrlField, ModelSerializer
from scrm.api.viewsets import ReadOnlyViewSet
from scrm.org.api.serializers import StaffBriefSerializer
from scrm.org.models import Staff

from .serializers import CustomerBriefSerializer

#: Blocked customers listed in the answer to a new on-job transfer; the rest are in ``items``.
BLOCKED_LISTED = 1000
#: Entries one claim may name.
CLAIM_MAX_ENTRIES = 1000


# --- Reads, scoped --------------------------------------------------------------------------------


def transfer_job_group_counts(job_ids: list[int]) -> dict[int, dict[str, int]]:
    """``{job: {group transfer status: count}}`` (zeros included) through the groups app's reverse
    relation: this layer does not import the groups app."""
    relation = getattr(TransferJob, "group_transfers", None)
    if relation is None:
        return defaultdict(dict)
    statuses = relation.rel.related_model.Status.values
    counts: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(statuses, 0))
    rows = (
        TransferJob.objects.filter(id__in=job_ids, group_transfers__isnull=False)
        .order_by()
        .values("id", "group_transfers__status")
        .annotate(n=Count("group_transfers"))
        .values_list("id", "group_transfers__status", "n")
    )
    for job_id, group_status, n in rows:
        counts[job_id][group_status] = n
    return counts


# --- Serializers ----------------------------------------------------------------------------------


class TransferJobSerializer(ModelSerializer):
    url = DetailUrlField(view_name="api-v1:transfer-job-detail")
    handover = StaffBriefSerializer(read_only=True)
    takeover = StaffBriefSerializer(read_only=True, allow_null=True)
    strategy = serializers.ChoiceField(
        choices=TransferPolicy.Strategy.choices,
        allow_blank=True,
        read_only=True,
        help_text="The policy of a departed member's job; empty for on-job transfers and claims.",
    )
    customers = serializers.SerializerMethodField(
        help_text="Customers counted by item status (every status)."
    )
    total = serializers.SerializerMethodField(help_text="Customers in the job.")
    progress_percent = serializers.SerializerMethodField(
        help_text="Customers whose outcome is final (taken over, refused, blocked …), in percent."
    )
    groups = serializers.SerializerMethodField(
        help_text="Groups moved with the job, counted by status (every status; zeros when none)."
    )

    class Meta:
        model = TransferJob
        fields = [
            "id",
            "url",
            "kind",
            "status",
            "trigger",
            "handover",
            "takeover",
            "strategy",
            "on_refusal",
            "segment",
            "transfer_message",
            "created_by",
            "customers",
            "total",
            "progress_percent",
            "groups",
            "created_at",
            "started_at",
            "finished_at",
        ]
        read_only_fields = fields

    def _counts(self, job: TransferJob) -> dict[str, int]:
        counts = self.context.get("job_counts")
        if counts is None:
            counts = self.context["job_counts"] = transfer_job_counts([job.pk])
        return counts[job.pk]

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_customers(self, job) -> dict[str, int]:
        return dict(self._counts(job))

    def get_total(self, job) -> int:
        return sum(self._counts(job).values())

    def get_progress_percent(self, job) -> int:
        counts = self._counts(job)
        total = sum(counts.values())
        if not total:
            return 100 if job.status == TransferJob.Status.DONE else 0
        moving = sum(counts.get(s, 0) for s in IN_FLIGHT)
        return (total - moving) * 100 // total

    @extend_schema_field(serializers.DictField(child=serializers.IntegerField()))
    def get_groups(self, job) -> dict[str, int]:
        counts = self.context.get("group_counts")
        if counts is None:
            counts = self.context["group_counts"] = transfer_job_group_counts([job.pk])
        return dict(counts[job.pk])


class TransferItemSerializer(ModelSerializer):
    customer = CustomerBriefSerializer(read_only=True)
    takeover = StaffBriefSerializer(read_only=True, allow_null=True)
    reason = serializers.ChoiceField(choices=TransferItem.Reason.choices, allow_blank=True, read_only=True)
    reason_text = serializers.SerializerMethodField(
        help_text="Why the customer is blocked, pooled or failed."
    )

    class Meta:
        model = TransferItem
        fields = [
            "id",
            "customer",
            "follow",
            "takeover",
            "batch",
            "status",
            "reason",
            "reason_text",
            "errcode",
            "attempt",
            "takeover_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_reason_text(self, item) -> str:
        return str(item.get_reason_display()) if item.reason else ""


class BlockedCustomerSerializer(serializers.Serializer):
    customer = CustomerBriefSerializer()
    reason = serializers.ChoiceField(choices=TransferItem.Reason.choices)
    reason_text = serializers.CharField()
    errcode = serializers.IntegerField(allow_null=True)


class TransferJobCreatedSerializer(TransferJobSerializer):
    blocked = serializers.SerializerMethodField(
        help_text=f"Customers who cannot move, with the reason (the first {BLOCKED_LISTED}; "
        "all of them: items?status=blocked)."
    )

    class Meta(TransferJobSerializer.Meta):
        fields = [*TransferJobSerializer.Meta.fields, "blocked"]
        read_only_fields = fields

    @extend_schema_field(BlockedCustomerSerializer(many=True))
    def get_blocked(self, job):
        items = (
            job.items.filter(status=TransferItem.Status.BLOCKED)
            .select_related("customer")
            .order_by("id")[:BLOCKED_LISTED]
        )
        rows = [
            {
                "customer": item.customer,
                "reason": item.reason,
                "reason_text": str(item.get_reason_display()),
                "errcode": item.errcode,
            }
            for item in items
        ]
        return BlockedCustomerSerializer(rows, many=True, context=self.context).data


class OnjobTransferSerializer(serializers.Serializer):
    handover = serializers.PrimaryKeyRelatedField(
        queryset=Staff.objects.all(), help_text="The member whose customers move (staff id)."
    )
    takeover = serializers.PrimaryKeyRelatedField(
        queryset=Staff.objects.all(), help_text="The colleague who takes them over (staff id)."
    )
    customer_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        required=False,
        max_length=ONJOB_MAX_CUSTOMERS,
        help_text="The customers to transfer (ids); or give a segment.",
    )
    segment = serializers.PrimaryKeyRelatedField(
        queryset=Segment.objects.all(),
        required=False,
        allow_null=True,
        help_text="Transfer the customers the segment matches now (of the handover's).",
    )
    message = serializers.CharField(
        max_length=ONJOB_MESSAGE_MAX,
        required=False,
        allow_blank=True,
        default="",
        help_text="Shown to the customers; WeCom's default text when empty.",
    )


class PoolEntrySerializer(ModelSerializer):
    customer = CustomerBriefSerializer(read_only=True)
    holder = serializers.SerializerMethodField(
        help_text="The member who still holds the customer in WeCom (a departed member's)."
    )

    class Meta:
        model = PoolEntry
        fields = ["id", "customer", "follow", "holder", "reason", "entered_at"]
        read_only_fields = fields

    @extend_schema_field(StaffBriefSerializer(allow_null=True))
    def get_holder(self, entry):
        if entry.follow_id is None:
            return None
        return StaffBriefSerializer(entry.follow.staff, context=self.context).data


class PoolClaimSerializer(serializers.Serializer):
    staff = serializers.PrimaryKeyRelatedField(
        queryset=Staff.objects.all(),
        required=False,
        help_text="Who claims (staff id); yours when left out. Only administrators and marketing "
        "managers claim for somebody else.",
    )
    entry_ids = serializers.ListField(
        child=serializers.IntegerField(min_value=1),
        min_length=1,
        max_length=CLAIM_MAX_ENTRIES,
        help_text="Pool entries to claim, in order; beyond today's limit they are refused.",
    )


class ClaimRefusalSerializer(serializers.Serializer):
    id = serializers.IntegerField(help_text="The pool entry.")
    reason = serializers.ChoiceField(choices=list(CLAIM_REFUSALS))
    message = serializers.CharField()


class PoolClaimResultSerializer(serializers.Serializer):
    jobs = serializers.ListField(
        child=serializers.IntegerField(),
        help_text="Transfer jobs started: one per member holding the customers.",
    )
    claimed = serializers.ListField(child=serializers.IntegerField(), help_text="Entries claimed.")
    refused = ClaimRefusalSerializer(many=True)


# --- Views ----------------------------------------------------------------------------------------


class TransferJobFilterSet(filters.FilterSet):
    kind = filters.MultipleChoiceFilter(choices=TransferJob.Kind.choices, label=_("Kind"))
    status = filters.MultipleChoiceFilter(choices=TransferJob.Status.choices, label=_("Status"))
    handover = IdListFilter(queryset=Staff.objects.all(), label=_("Handover (staff ids)"))
    takeover = IdListFilter(queryset=Staff.objects.all(), label=_("Takeover (staff ids)"))

    class Meta:
        model = TransferJob
        fields = []


class IdPagination(CursorPagination):
    ordering = "id"


class PoolPagination(CursorPagination):
    ordering = ("-entered_at", "-id")


def _choice_param(request, name: str, choices: list[str]) -> str | None:
    value = request.query_params.get(name)
    if value and value not in choices:
        raise ValidationError({name: [_("One of: %(values)s.") % {"values": ", ".join(choices)}]})
    return value or None


@extend_schema_view(
    list=extend_schema(summary="Transfer jobs: departed members', on-job transfers and claims"),
    retrieve=extend_schema(summary="A transfer job with its customers counted by status"),
)
class TransferJobViewSet(ReadOnlyViewSet):
    serializer_class = TransferJobSerializer
    filterset_class = TransferJobFilterSet

    def get_queryset(self):
        return transfer_job_list(user=self.request.user)

    def list(self, request, *args, **kwargs):
        page = self.paginate_queryset(self.filter_queryset(self.get_queryset()))
        ids = [job.pk for job in page]
        context = {
            **self.get_serializer_context(),
            "job_counts": transfer_job_counts(ids),
            "group_counts": transfer_job_group_counts(ids),
        }
        return self.get_paginated_response(TransferJobSerializer(page, many=True, context=context).data)

    @extend_schema(
        summary="A job's customers, with their status and why a customer cannot move",
        responses=TransferItemSerializer(many=True),
        parameters=[
            OpenApiParameter("status", str, enum=TransferItem.Status.values),
            OpenApiParameter("reason", str, enum=TransferItem.Reason.values),
        ],
    )
    @action(
        detail=True,
        filter_backends=[],
        pagination_class=IdPagination,
        serializer_class=TransferItemSerializer,
    )
    def items(self, request, pk=None):
        job = self.get_object()
        rows = job.items.select_related("customer", "takeover")
        for name, choices in (("status", TransferItem.Status.values), ("reason", TransferItem.Reason.values)):
            value = _choice_param(request, name, choices)
            if value:
                rows = rows.filter(**{name: value})
        page = self.paginate_queryset(rows)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        summary="Transfer chosen customers, or a segment's, to a colleague (on-job transfer)",
        request=OnjobTransferSerializer,
        responses={201: TransferJobCreatedSerializer},
    )
    @action(
        detail=False,
        methods=["post"],
        filter_backends=[],
        pagination_class=None,
        serializer_class=OnjobTransferSerializer,
        required_permissions=["customers.add_transferjob"],
    )
    def onjob(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        job = onjob_transfer_create(
            handover=data["handover"],
            takeover=data["takeover"],
            customer_ids=data.get("customer_ids"),
            segment=data.get("segment"),
            message=data.get("message", ""),
            actor=request.user,
            trigger=TransferJob.Trigger.API,
        )
        job = get_object_or_404(self.get_queryset(), pk=job.pk)
        body = TransferJobCreatedSerializer(job, context=self.get_serializer_context()).data
        return Response(body, status=status.HTTP_201_CREATED)


@extend_schema_view(
    list=extend_schema(summary="The customer pool (公海): customers waiting to be claimed"),
    retrieve=extend_schema(summary="A customer waiting in the pool"),
)
class PoolViewSet(ReadOnlyViewSet):
    serializer_class = PoolEntrySerializer
    filter_backends = []
    pagination_class = PoolPagination

    def get_queryset(self):
        return pool_list(user=self.request.user)

    @extend_schema(
        summary="Claim customers from the pool, within the member's daily limit",
        request=PoolClaimSerializer,
        responses=PoolClaimResultSerializer,
    )
    @action(
        detail=False,
        methods=["post"],
        pagination_class=None,
        serializer_class=PoolClaimSerializer,
        # Any role may claim for itself; claiming for others is checked below.
        required_permissions=[],
    )
    def claim(self, request):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        staff = self._claimer(request, serializer.validated_data.get("staff"))
        result = pool_claim(
            staff=staff,
            entry_ids=serializer.validated_data["entry_ids"],
            actor=request.user,
            trigger=TransferJob.Trigger.API,
        )
        body = {
            "jobs": [job.pk for job in result.jobs],
            "claimed": result.claimed,
            "refused": [
                {"id": entry_id, "reason": reason, "message": str(CLAIM_REFUSALS[reason])}
                for entry_id, reason in result.refused
            ],
        }
        return Response(PoolClaimResultSerializer(body).data)

    @staticmethod
    def _claimer(request, staff: Staff | None) -> Staff:
        own = Staff.objects.filter(user=request.user).first()
        if staff is None:
            if own is None:
                raise ValidationError(
                    {"staff": [_("Your login has no staff record: name the member who claims.")]}
                )
            return own
        if (own is None or staff.pk != own.pk) and not request.user.has_perm("customers.change_poolentry"):
            raise PermissionDenied(_("You may claim customers for yourself only."))
        return staff
