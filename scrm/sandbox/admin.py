"""Admin of the sandbox: a look at the WeCom side, the call record, and the fault switches."""

from __future__ import annotations

from django.contrib import admin
from unfold.admin import ModelAdmin

from .models import SandboxCall, SandboxFaults, SandboxMember


@admin.register(SandboxCall)
class SandboxCallAdmin(ModelAdmin):
    list_display = ["created_at", "method", "path", "errcode", "fault", "corp_id"]
    list_filter = ["path", "errcode", "fault"]
    show_full_result_count = False

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


@admin.register(SandboxFaults)
class SandboxFaultsAdmin(ModelAdmin):
    list_display = ["__str__", "error_rate", "error_codes", "latency_ms", "fail_next", "fail_errcode"]


@admin.register(SandboxMember)
class SandboxMemberAdmin(ModelAdmin):
    list_display = ["userid", "name", "corp_id", "status", "contact_enabled"]
    search_fields = ["userid", "name"]
