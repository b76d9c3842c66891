"""``/api/v1/``: the list endpoints, so a browser or a new integrator can find their way."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.reverse import reverse

ENDPOINTS = [
    "customer",
    "follow",
    "tag-group",
    "tag",
    "segment",
    "transfer-job",
    "pool",
    "staff",
    "department",
    "group",
    "group-member",
    "live-code",
    "welcome-message",
    "group-welcome-template",
    "group-code",
    "broadcast",
    "material",
    "material-folder",
    "material-tag",
    "script",
    "script-category",
    "sensitive-word",
    "moment",
    "sop-rule",
    "group-sop-rule",
    "staff-task",
]


@extend_schema(exclude=True)
@api_view(["GET"])
@permission_classes([AllowAny])
def api_root(request, format=None):
    links = {name: reverse(f"api-v1:{name}-list", request=request, format=format) for name in ENDPOINTS}
    links["channel-analytics"] = reverse("api-v1:channel-analytics", request=request, format=format)
    links["schema"] = reverse("api-v1:schema", request=request)
    links["docs"] = reverse("api-v1:docs", request=request)
    return Response(links)
