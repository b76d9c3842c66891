"""REST API authentication by API key: ``Authorization: Bearer scrm_…`` or ``X-Api-Key: scrm_…``."""

from __future__ import annotations

from django.utils.translation import gettext as _
from rest_framework import authentication, exceptions

from .services import api_key_authenticate


class ApiKeyAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request):
        raw = request.headers.get("X-Api-Key", "")
        if not raw:
            header = authentication.get_authorization_header(request).decode(errors="replace").split()
            if not header or header[0].lower() not in ("bearer", "api-key"):
                return None
            if len(header) != 2:
                raise exceptions.AuthenticationFailed(
                    _("Malformed Authorization header: expected 'Bearer <key>'.")
                )
            raw = header[1]
        key = api_key_authenticate(raw)
        if key is None:
            raise exceptions.AuthenticationFailed(_("Invalid, revoked or expired API key."))
        return key.user, key

    def authenticate_header(self, request) -> str:
        return self.keyword
