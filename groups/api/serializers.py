from __future__ import annotations

from rest_framework import serializers

from customers.api.serializers import CustomerBriefSerializer
from groups.models import GroupChat, GroupMember, GroupTag
from scrm.api.serializers import DetailUrlField
from scrm.org.api.serializers import DepartmentBriefSerializer, StaffBriefSerializer


class GroupTagSerializer(serializers.ModelSerializer):
    class Meta:
        model = GroupTag
        fields = ["id", "name"]
        read_only_fields = fields


class GroupChatBriefSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api-v1:group-detail")

    class Meta:
        model = GroupChat
        fields = ["id", "url", "chat_id", "name"]
        read_only_fields = fields


class GroupChatSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api-v1:group-detail")
    owner = StaffBriefSerializer(read_only=True, allow_null=True)
    store = DepartmentBriefSerializer(read_only=True, allow_null=True)
    admin_userids = serializers.ListField(child=serializers.CharField(), read_only=True)
    tags = GroupTagSerializer(many=True, read_only=True)

    class Meta:
        model = GroupChat
        fields = [
            "id",
            "url",
            "chat_id",
            "name",
            "owner",
            "owner_userid",
            "admin_userids",
            "notice",
            "kind",
            "store",
            "tags",
            "status",
            "member_count",
            "created_at",
            "dismissed_at",
            "synced_at",
        ]
        read_only_fields = fields


class GroupMemberSerializer(serializers.ModelSerializer):
    url = DetailUrlField(view_name="api-v1:group-member-detail")
    group = GroupChatBriefSerializer(read_only=True)
    customer = CustomerBriefSerializer(read_only=True, allow_null=True)
    staff = StaffBriefSerializer(read_only=True, allow_null=True)

    class Meta:
        model = GroupMember
        fields = [
            "id",
            "url",
            "group",
            "member_id",
            "kind",
            "customer",
            "staff",
            "unionid",
            "name",
            "group_nickname",
            "joined_at",
            "join_scene",
            "inviter_userid",
            "state",
            "left_at",
            "quit_scene",
        ]
        read_only_fields = fields
