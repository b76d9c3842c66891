"""Serializer pieces shared by every app's API."""

from __future__ import annotations

from rest_framework import serializers


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
