"""Serializer pieces shared by every app's API."""

from __future__ import annotations

import zoneinfo

from django.conf import settings
from django.db import models
from rest_framework import serializers
from rest_framework.reverse import reverse

_PK_PLACEHOLDER = "987654321987654321"


class NestedPrimaryKeyRelatedField(serializers.PrimaryKeyRelatedField):
    """A relation written as an id and read as the related object's brief serializer (NetBox style).

    ``PUT /tags/7/ {"group": 3}`` answers ``{"group": {"id": 3, "url": …, "name": …}}``.
    """

    def __init__(self, brief_serializer: type[serializers.Serializer], **kwargs):
        self.brief_serializer = brief_serializer
        super().__init__(**kwargs)

    def use_pk_only_optimization(self) -> bool:
        return False

    def to_representation(self, value):
        return self.brief_serializer(value, context=self.context).data


class SiteDateTimeField(serializers.DateTimeField):
    """A date-time in the site's ``TIME_ZONE`` (see ``ModelSerializer``)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("default_timezone", zoneinfo.ZoneInfo(settings.TIME_ZONE))
        super().__init__(*args, **kwargs)


def detail_url(context: dict, view_name: str, pk, format=None) -> str:
    """The detail URL of object ``pk``, reversed once per response and view, then filled in."""
    templates = context.setdefault("_detail_url_templates", {})
    key = (view_name, format)
    if key not in templates:
        templates[key] = reverse(
            view_name, kwargs={"pk": _PK_PLACEHOLDER}, request=context.get("request"), format=format
        )
    return templates[key].replace(_PK_PLACEHOLDER, str(pk))


class DetailUrlField(serializers.HyperlinkedIdentityField):
    """The object's detail URL, reversed once per response and view instead of once per row.

    A page of 100 customers with nested follows and staff would otherwise resolve the URL
    patterns several hundred times.
    """

    def get_url(self, obj, view_name, request, format):
        return None if obj.pk is None else detail_url(self.context, view_name, obj.pk, format)


class ModelSerializer(serializers.ModelSerializer):
    """DRF's ModelSerializer with date-times rendered in the site's time zone, looked up once.

    DRF looks the active time zone up for every value; on a page of 100 customers with their
    follows that is hundreds of lookups for the same answer (the project never switches zones
    per request: ``TIME_ZONE``).
    """

    serializer_field_mapping = {
        **serializers.ModelSerializer.serializer_field_mapping,
        models.DateTimeField: SiteDateTimeField,
    }
