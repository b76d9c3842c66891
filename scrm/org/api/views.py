from __future__ import annotations

from scrm.api.viewsets import ReadOnlyViewSet
from scrm.org.filters import DepartmentFilterSet, StaffFilterSet
from scrm.org.selectors import department_list, staff_list

from .serializers import DepartmentSerializer, StaffSerializer


class DepartmentViewSet(ReadOnlyViewSet):
    serializer_class = DepartmentSerializer
    filterset_class = DepartmentFilterSet

    def get_queryset(self):
        return department_list(user=self.request.user)


class StaffViewSet(ReadOnlyViewSet):
    serializer_class = StaffSerializer
    filterset_class = StaffFilterSet

    def get_queryset(self):
        return staff_list(user=self.request.user).prefetch_related("departments")
