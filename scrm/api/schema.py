"""OpenAPI extensions: how the schema describes our API key and our writable nested fields.

Imported by ``scrm.api.viewsets`` so that the extensions are registered before any schema is built.
"""

from __future__ import annotations

from django.db.models import QuerySet
from drf_spectacular.contrib.django_filters import DjangoFilterExtension
from drf_spectacular.extensions import OpenApiAuthenticationExtension, OpenApiSerializerFieldExtension
from drf_spectacular.plumbing import build_basic_type
from drf_spectacular.types import OpenApiTypes


class ApiKeyScheme(OpenApiAuthenticationExtension):
    """``Authorization: Bearer scrm_…`` or ``X-Api-Key: scrm_…``: either header, not both."""

    target_class = "scrm.org.authentication.ApiKeyAuthentication"
    name = ["apiKeyBearer", "apiKeyHeader"]

    def get_security_definition(self, auto_schema):
        return [
            {
                "type": "http",
                "scheme": "bearer",
                "bearerFormat": "scrm_<prefix>_<secret>",
                "description": "An API key created in the admin or with `manage.py create_api_key`.",
            },
            {
                "type": "apiKey",
                "in": "header",
                "name": "X-Api-Key",
                "description": "The same key, in its own header.",
            },
        ]

    def get_security_requirement(self, auto_schema):
        return [{"apiKeyBearer": []}, {"apiKeyHeader": []}]


class NestedPrimaryKeyRelatedFieldSchema(OpenApiSerializerFieldExtension):
    """Written as an id, read back as the related object's brief serializer."""

    target_class = "scrm.api.serializers.NestedPrimaryKeyRelatedField"

    def map_serializer_field(self, auto_schema, direction):
        if direction == "request":
            return build_basic_type(OpenApiTypes.INT)
        component = auto_schema.resolve_serializer(self.target.brief_serializer, direction)
        return component.ref


class IdFilterExtension(DjangoFilterExtension):
    """Filters that take ids of a queryset's objects but filter through a method (``tags_any``,
    ``department``) are typed by that queryset's primary key, not guessed from the view's model."""

    priority = 1

    def _get_schema_from_model_field(self, auto_schema, filter_field, model):
        queryset = getattr(filter_field, "queryset", None)
        if filter_field.method and isinstance(queryset, QuerySet):
            return auto_schema._map_model_field(queryset.model._meta.pk, direction=None)
        return super()._get_schema_from_model_field(auto_schema, filter_field, model)
