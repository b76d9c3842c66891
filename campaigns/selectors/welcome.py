"""Reads of welcome messages: which message an add gets, and the lists the admin and API show."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from customers.models import Follow
from scrm.org.models import Department

from ..models import GroupWelcomeTemplate, LiveCode, WelcomeAttachment, WelcomeMessage, WelcomeSend

__all__ = [
    "group_welcome_template_list",
    "welcome_message_choose",
    "welcome_message_list",
    "welcome_send_list",
]


def _department_wecom_ids(department: Department | None) -> list[int]:
    """The WeCom ids of ``department`` and its ancestors, from its materialised path."""
    if department is None:
        return []
    return [int(part) for part in department.path.strip("/").split("/") if part.isdigit()]


def welcome_message_choose(
    *, follow: Follow, live_code: LiveCode | None, at: datetime
) -> WelcomeMessage | None:
    """The message for an add of ``follow`` at ``at``: the most specific active one.

    Specificity: the live code's own message, then that of the staff member's main department or
    its nearest ancestor, then a default. Within the same level, a message whose time window holds
    the add's local time beats one without a window; a message whose window does not hold it is
    out. Ties go to the newest. One query whatever the number of messages (a handful per level).
    """
    staff = follow.staff
    department = staff.main_department if staff.main_department_id else None
    wecom_ids = _department_wecom_ids(department)
    scopes = Q(scope=WelcomeMessage.Scope.DEFAULT)
    if wecom_ids:
        scopes |= Q(scope=WelcomeMessage.Scope.DEPARTMENT, department__wecom_id__in=wecom_ids)
    if live_code is not None:
        scopes |= Q(scope=WelcomeMessage.Scope.LIVE_CODE, live_code=live_code)
    candidates = list(
        WelcomeMessage.objects.filter(scopes, active=True)
        .select_related("department")
        .prefetch_related(Prefetch("attachments", queryset=WelcomeAttachment.objects.defer("file_content")))
    )
    moment = timezone.localtime(at).time()
    depth = {wecom_id: position for position, wecom_id in enumerate(wecom_ids, start=1)}

    def rank(message: WelcomeMessage) -> tuple[int, int, int, int]:
        if message.scope == WelcomeMessage.Scope.LIVE_CODE:
            level = 1000
        elif message.scope == WelcomeMessage.Scope.DEPARTMENT:
            level = depth.get(message.department.wecom_id, 0)
        else:
            level = 0
        return (level, int(message.has_window), int(message.updated_at.timestamp()), message.pk)

    eligible = [m for m in candidates if m.window_contains(moment)]
    return max(eligible, key=rank, default=None)


def welcome_message_list() -> QuerySet[WelcomeMessage]:
    """Every welcome message, with what the lists show of it."""
    return WelcomeMessage.objects.select_related("department", "live_code").prefetch_related(
        Prefetch("attachments", queryset=WelcomeAttachment.objects.defer("file_content"))
    )


def welcome_send_list() -> QuerySet[WelcomeSend]:
    """The send record, newest first, with the customer, staff member and message of each row."""
    return WelcomeSend.objects.select_related("follow__customer", "follow__staff", "message", "live_code")


def group_welcome_template_list() -> QuerySet[GroupWelcomeTemplate]:
    return GroupWelcomeTemplate.objects.defer("file_content")
