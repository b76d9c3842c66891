from __future__ import annotations

from django.db.models import Prefetch
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.decorators import action
from rest_framework.response import Response

from customers import services
from customers.filters import CustomerFilterSet, FollowFilterSet
from customers.models import CustomerEvent, FollowTag
from customers.selectors import (
    customer_event_list,
    customer_list,
    customer_note_list,
    follow_list,
    tag_group_list,
    tag_list,
)
from scrm.api.pagination import CursorPagination
from scrm.api.viewsets import ModelViewSet, ReadOnlyViewSet

from .filters import TagFilterSet, TagGroupFilterSet
from .serializers import (
    CustomerBulkTagResultSerializer,
    CustomerBulkTagSerializer,
    CustomerEventSerializer,
    CustomerNoteSerializer,
    CustomerSerializer,
    FollowSerializer,
    TagGroupSerializer,
    TagSerializer,
)


class CustomerEventPagination(CursorPagination):
    ordering = ("-occurred_at", "-id")


class CustomerNotePagination(CursorPagination):
    ordering = ("-created_at", "-id")


class CustomerViewSet(ReadOnlyViewSet):
    serializer_class = CustomerSerializer
    filterset_class = CustomerFilterSet

    def get_queryset(self):
        # The follows of a page are loaded by the serializer in one query (follow_briefs).
        return customer_list(user=self.request.user)

    @extend_schema(
        summary="A customer's timeline, newest first", responses=CustomerEventSerializer(many=True)
    )
    @action(
        detail=True,
        filter_backends=[],
        pagination_class=CustomerEventPagination,
        serializer_class=CustomerEventSerializer,
    )
    def timeline(self, request, pk=None):
        events = customer_event_list(user=request.user, customer=self.get_object())
        page = self.paginate_queryset(events)
        return self.get_paginated_response(self.get_serializer(page, many=True).data)

    @extend_schema(
        methods=["GET"], summary="Notes on a customer", responses=CustomerNoteSerializer(many=True)
    )
    @extend_schema(
        methods=["POST"], summary="Write a note on a customer", responses={201: CustomerNoteSerializer}
    )
    @action(
        detail=True,
        methods=["get", "post"],
        filter_backends=[],
        pagination_class=CustomerNotePagination,
        serializer_class=CustomerNoteSerializer,
        required_permissions=["customers.add_customernote"],
    )
    def notes(self, request, pk=None):
        customer = self.get_object()
        if request.method == "GET":
            page = self.paginate_queryset(customer_note_list(user=request.user, customer=customer))
            return self.get_paginated_response(self.get_serializer(page, many=True).data)
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        note = services.customer_note_add(
            customer=customer,
            body=serializer.validated_data["body"],
            author=request.user,
            source=CustomerEvent.Source.API,
        )
        return Response(self.get_serializer(note).data, status=status.HTTP_201_CREATED)

    @extend_schema(summary="Tag customers", responses=CustomerBulkTagResultSerializer)
    @action(
        detail=False,
        methods=["post"],
        url_path="bulk-tag",
        filter_backends=[],
        pagination_class=None,
        serializer_class=CustomerBulkTagSerializer,
        required_permissions=["customers.change_customer"],
    )
    def bulk_tag(self, request):
        return self._bulk(request, services.customers_tag)

    @extend_schema(summary="Untag customers", responses=CustomerBulkTagResultSerializer)
    @action(
        detail=False,
        methods=["post"],
        url_path="bulk-untag",
        filter_backends=[],
        pagination_class=None,
        serializer_class=CustomerBulkTagSerializer,
        required_permissions=["customers.change_customer"],
    )
    def bulk_untag(self, request):
        return self._bulk(request, services.customers_untag)

    def _bulk(self, request, service):
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        changed = service(
            customer_ids=serializer.validated_data["customer_ids"],
            tags=serializer.validated_data["tag_ids"],
            by=request.user,
            source=CustomerEvent.Source.API,
        )
        return Response(CustomerBulkTagResultSerializer({"changed": changed}).data)


class FollowViewSet(ReadOnlyViewSet):
    serializer_class = FollowSerializer
    filterset_class = FollowFilterSet

    def get_queryset(self):
        links = FollowTag.objects.only("follow_id", "tag_id")
        return follow_list(user=self.request.user).prefetch_related(Prefetch("tag_links", queryset=links))


class TagGroupViewSet(ModelViewSet):
    serializer_class = TagGroupSerializer
    filterset_class = TagGroupFilterSet
    save_service = staticmethod(services.tag_group_save)
    delete_service = staticmethod(services.tag_group_delete)

    def get_queryset(self):
        return tag_group_list().prefetch_related(
            Prefetch("tags", queryset=tag_list().order_by("-order", "id"))
        )


class TagViewSet(ModelViewSet):
    serializer_class = TagSerializer
    filterset_class = TagFilterSet
    save_service = staticmethod(services.tag_save)
    delete_service = staticmethod(services.tag_delete)

    def get_queryset(self):
        return tag_list()
