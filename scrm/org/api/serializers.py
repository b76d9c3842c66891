from __future__ import annotations

from rest_framework import serializers

from scrm.api.serializers import DetailUrlField
from scrm.org.models import Department, Staff


class DepartmentBriefSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api-v1:department-detail")

    class Meta:
        model = Department
        fields = ["id", "url", "name", "is_store"]
        read_only_fields = fields


class DepartmentSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api-v1:department-detail")
    parent = DepartmentBriefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = Department
        fields = [
            "id",
            "url",
            "wecom_id",
            "name",
            "parent",
            "order",
            "is_store",
            "path",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields


class StaffBriefSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api-v1:staff-detail")

    class Meta:
        model = Staff
        fields = ["id", "url", "userid", "name"]
        read_only_fields = fields


class StaffSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api-v1:staff-detail")
    main_department = DepartmentBriefSerializer(read_only=True, allow_null=True)
    departments = DepartmentBriefSerializer(many=True, read_only=True)

    class Meta:
        model = Staff
        fields = [
            "id",
            "url",
            "userid",
            "name",
            "main_department",
            "departments",
            "position",
            "mobile",
            "email",
            "gender",
            "avatar",
            "status",
            "departed_at",
            "wecom_created_at",
            "contact_enabled",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields
