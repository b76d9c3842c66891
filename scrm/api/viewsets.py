"""Base ViewSets: every endpoint needs a role; writes go through the services the ViewSet names."""

from __future__ import annotations

from collections.abc import Callable

from rest_framework import viewsets

from . import schema  # noqa: F401  (registers the OpenAPI extensions)
from .filters import FilterBackend
from .permissions import RolePermission


class _BaseViewSet:
    permission_classes = [RolePermission]
    filter_backends = [FilterBackend]
    # Set per action to replace the model permissions that RolePermission derives for writes.
    required_permissions: list[str] | None = None


class ReadOnlyViewSet(_BaseViewSet, viewsets.ReadOnlyModelViewSet):
    pass


class ModelViewSet(_BaseViewSet, viewsets.ModelViewSet):
    """Create, update and delete through the services named by ``save_service = staticmethod(…)``
    and ``delete_service``: the serializer validates, the service writes."""

    save_service: Callable
    delete_service: Callable

    def perform_create(self, serializer):
        model = serializer.Meta.model
        serializer.instance = self.save_service(model(**serializer.validated_data))

    def perform_update(self, serializer):
        instance = serializer.instance
        for name, value in serializer.validated_data.items():
            setattr(instance, name, value)
        serializer.instance = self.save_service(instance)

    def perform_destroy(self, instance):
        self.delete_service(instance)
