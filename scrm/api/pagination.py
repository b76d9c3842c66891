"""Cursor pagination for every list: no COUNT(*), no OFFSET (QUALITY.md trap 8)."""

from __future__ import annotations

from django.core.exceptions import ValidationError as DjangoValidationError
from django.utils.translation import gettext as _
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError


class CursorPagination(pagination.CursorPagination):
    ordering = "-id"
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        try:
            size = int(raw)
        except ValueError:
            raise ValidationError({self.page_size_query_param: [_("A whole number is required.")]}) from None
        if not 1 <= size <= self.max_page_size:
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        _("Must be between 1 and %(max)d.") % {"max": self.max_page_size}
                    ]
                }
            )
        return size

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(
                    {"minimum": 1, "maximum": self.max_page_size, "default": self.page_size}
                )
        return parameters

    def paginate_queryset(self, queryset, request, view=None):
        self._model = queryset.model  # decode_cursor checks the cursor's position against it
        return super().paginate_queryset(queryset, request, view)

    def decode_cursor(self, request):
        # A cursor is opaque to clients, but a tampered one must be a 400 naming the parameter:
        # DRF answers 404, and a position the database cannot compare would be a 500.
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            cursor = None
            valid = False
        else:
            valid = cursor is None or cursor.position is None or self._position_is_valid(cursor.position)
        if not valid:
            raise ValidationError({self.cursor_query_param: [_("Invalid cursor.")]})
        return cursor

    def _position_is_valid(self, position: str) -> bool:
        field = self._model._meta.get_field(self.ordering[0].lstrip("-"))
        try:
            field.clean(position, None)  # to_python and the backend's range validators
        except DjangoValidationError:
            return False
        return True
