"""The benchmarks' urlconf: the product's URLs plus two baselines that exist only here.

- ``bench/bare-customers/``: a bare DRF cursor-paginated list of the same table with the same tag
  filter (no data scope, no FilterSet, a minimal serializer): P4's baseline.
- ``bench/empty/``: an empty response through the same middleware: what any request costs.
"""

from __future__ import annotations

from django.http import HttpResponse
from django.urls import include, path
from rest_framework import generics, pagination, serializers

from customers.models import Customer


class BareCustomerSerializer(serializers.ModelSerializer):
    tag_ids = serializers.ListField(child=serializers.IntegerField(), read_only=True)

    class Meta:
        model = Customer
        fields = [
            "id",
            "external_userid",
            "name",
            "avatar",
            "type",
            "gender",
            "unionid",
            "first_added_at",
            "lifecycle_stage",
            "tag_ids",
        ]


class BarePagination(pagination.CursorPagination):
    ordering = "-id"
    page_size = 100


class BareCustomerList(generics.ListAPIView):
    serializer_class = BareCustomerSerializer
    pagination_class = BarePagination
    filter_backends = []

    def get_queryset(self):
        customers = Customer.objects.all()
        tag = self.request.query_params.get("tags_any")
        return customers.filter(tag_ids__has_any=[int(tag)]) if tag else customers


def empty(request):
    return HttpResponse(b"")


urlpatterns = [
    path("bench/bare-customers/", BareCustomerList.as_view(), name="bench-bare-customers"),
    path("bench/empty/", empty, name="bench-empty"),
    path("", include("scrm.urls")),
]
