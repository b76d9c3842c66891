from __future__ import annotations

from groups.filters import GroupChatFilterSet, GroupMemberFilterSet
from groups.selectors import group_list, group_member_list
from scrm.api.viewsets import ReadOnlyViewSet

from .serializers import GroupChatSerializer, GroupMemberSerializer


class GroupChatViewSet(ReadOnlyViewSet):
    serializer_class = GroupChatSerializer
    filterset_class = GroupChatFilterSet

    def get_queryset(self):
        return group_list(user=self.request.user).prefetch_related("tags")


class GroupMemberViewSet(ReadOnlyViewSet):
    serializer_class = GroupMemberSerializer
    filterset_class = GroupMemberFilterSet

    def get_queryset(self):
        return group_member_list(user=self.request.user)
