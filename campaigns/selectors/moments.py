"""Reads of moments campaigns, scoped by the reader (``scrm.org.scoping``).

Administrators and marketing managers see every campaign. Store managers and guides see the
campaigns that one of the staff in their scope publishes (a :class:`MomentPublisher` row, known
once WeCom created the moment) or is named on (the campaign's staff), and of those campaigns
only the publishers in their scope.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from scrm.org.scoping import scope_for

from ..models import MomentAttachment, MomentCampaign, MomentPublisher

__all__ = ["moment_campaign_detail_list", "moment_campaign_list", "moment_publisher_list"]


def moment_campaign_list(*, user) -> QuerySet[MomentCampaign]:
    """The campaigns ``user`` may read, newest first."""
    rows = MomentCampaign.objects.all()
    scope = scope_for(user)
    if scope.everything:
        return rows
    if scope.is_empty:
        return rows.none()
    staff = scope.staff()
    publishes = MomentPublisher.objects.filter(campaign=OuterRef("pk"), staff__in=staff)
    named = MomentCampaign.staff.through.objects.filter(momentcampaign=OuterRef("pk"), staff__in=staff)
    return rows.filter(Exists(publishes) | Exists(named))


def moment_campaign_detail_list(*, user) -> QuerySet[MomentCampaign]:
    """:func:`moment_campaign_list` with what the API and the admin show of each campaign
    (attachments without their files, the publishing staff, departments and tags)."""
    return moment_campaign_list(user=user).prefetch_related(
        "staff",
        "departments",
        "tags",
        Prefetch(
            "attachments", queryset=MomentAttachment.objects.defer("file_content").order_by("order", "id")
        ),
    )


def moment_publisher_list(*, user, campaign: MomentCampaign) -> QuerySet[MomentPublisher]:
    """The members asked to publish ``campaign`` that ``user`` may see, with their staff row."""
    rows = MomentPublisher.objects.filter(campaign=campaign).select_related("staff")
    scope = scope_for(user)
    if scope.everything:
        return rows
    return rows.filter(staff__in=scope.staff())
