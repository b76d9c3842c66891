"""The WeCom app message telling each successor what a job hands them (at most once).

Once a job has no batch left to hand over, each colleague taking over gets one text message:
"N customers of <handover> will join you within 24 hours" (and "You also become the owner of M
groups" when the job moves groups to them). One :class:`TransferNotice` row per job and colleague
is claimed (``claimed_at``, committed) before the call and stamped ``sent_at`` after it, as the
staff task notices are: a call WeCom refuses gives the claim back for the sweep to try again; a
timeout or a crash between the claim and the call loses that message rather than send it twice.
Customers handed over later in the same job (after a refusal elsewhere) are not announced again.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db.models import Count, Exists, OuterRef
from django.utils import timezone, translation
from django.utils.translation import ngettext

from scrm.org.models import Staff
from scrm.wecom.client import WecomClient, wecom_client
from scrm.wecom.errors import Timeout, WecomError

from ..models import TransferItem, TransferJob, TransferNotice

logger = logging.getLogger(__name__)

#: Group transfers that did not, or will not, give the colleague the group.
GROUPS_NOT_MOVING = ("failed", "no_owner", "canceled")
#: Notices given back after a refusal are tried again this long after their job was created.
RETRY_WINDOW = timedelta(days=3)


def transfer_notice_text(*, customers: int, groups: int, handover: str) -> str:
    """The message, in ``LANGUAGE_CODE`` (the caller activates it)."""
    parts = []
    if customers:
        parts.append(
            ngettext(
                "%(count)d customer of %(name)s will join you within 24 hours.",
                "%(count)d customers of %(name)s will join you within 24 hours.",
                customers,
            )
            % {"count": customers, "name": handover}
        )
    if groups:
        parts.append(
            ngettext(
                "You also become the owner of %(count)d group of %(name)s.",
                "You also become the owner of %(count)d groups of %(name)s.",
                groups,
            )
            % {"count": groups, "name": handover}
        )
    return " ".join(parts)


def _counts(job: TransferJob) -> dict[int, tuple[int, int]]:
    """``staff id → (customers, groups)`` the job hands each colleague."""
    customers = dict(
        TransferItem.objects.filter(
            job=job, status__in=(TransferItem.Status.WAITING, TransferItem.Status.DONE)
        )
        .order_by()
        .values_list("takeover_id")
        .annotate(n=Count("id"))
    )
    # Read through the reverse relation: the groups app sits above this one.
    groups = dict(
        job.group_transfers.exclude(status__in=GROUPS_NOT_MOVING)
        .exclude(new_owner__isnull=True)
        .order_by()
        .values_list("new_owner_id")
        .annotate(n=Count("id"))
    )
    return {
        staff_id: (customers.get(staff_id, 0), groups.get(staff_id, 0))
        for staff_id in set(customers) | set(groups)
        if staff_id is not None
    }


def transfer_notices_send(job_id: int, *, client: WecomClient | None = None) -> int:
    """One app message per colleague taking over in this job, at most once; returns how many were
    sent now. Colleagues no longer active get none."""
    job = TransferJob.objects.select_related("handover").filter(pk=job_id).first()
    if job is None or job.status == TransferJob.Status.CANCELED:
        return 0
    counts = _counts(job)
    active = dict(
        Staff.objects.filter(pk__in=list(counts), status=Staff.Status.ACTIVE).values_list("pk", "userid")
    )
    TransferNotice.objects.bulk_create(
        [
            TransferNotice(job=job, staff_id=staff_id, customers=n_customers, groups=n_groups)
            for staff_id, (n_customers, n_groups) in counts.items()
            if staff_id in active
        ],
        ignore_conflicts=True,  # one row per job and colleague, whoever writes it first
    )
    sent = 0
    for staff_id, userid in sorted(active.items()):
        n_customers, n_groups = counts[staff_id]
        now = timezone.now()
        claimed = TransferNotice.objects.filter(
            job=job, staff_id=staff_id, claimed_at__isnull=True, sent_at__isnull=True
        ).update(claimed_at=now, customers=n_customers, groups=n_groups)
        if not claimed:
            continue  # sent, or being sent, already
        with translation.override(settings.LANGUAGE_CODE):
            text = transfer_notice_text(customers=n_customers, groups=n_groups, handover=job.handover.name)
        notice = TransferNotice.objects.filter(job=job, staff_id=staff_id)
        client = client or wecom_client("agent")
        try:
            result = client.message_send(
                agentid=int(settings.WECOM_AGENT_ID),
                msgtype="text",
                content={"content": text},
                touser=[userid],
            )
        except Timeout as error:
            # The message may have gone out: keep the claim (at most once) rather than send twice.
            logger.warning("transfer notice to %s timed out; not sent again", userid)
            notice.update(error=str(error)[:300])
            continue
        except WecomError as error:
            # WeCom answered with a refusal: nothing was sent, so the sweep tries again.
            logger.warning("transfer notice to %s refused: %s", userid, error)
            notice.update(claimed_at=None, error=str(error)[:300])
            continue
        if userid in (result.get("invaliduser") or "").split("|"):
            logger.warning("transfer notice: WeCom does not know %s", userid)
            notice.update(error=f"invaliduser {userid}")
        notice.update(sent_at=timezone.now())
        sent += 1
    return sent


def transfer_notices_due() -> list[int]:
    """Jobs of the last few days whose hand-over is over but a colleague was not told: a notice
    given back after a refusal, or none written (two batches finishing at the same moment can
    each see the other still open). The sweep sends them."""
    since = timezone.now() - RETRY_WINDOW
    given_back = TransferNotice.objects.filter(
        claimed_at__isnull=True, sent_at__isnull=True, job__created_at__gte=since
    ).values_list("job_id", flat=True)
    unwritten = (
        TransferItem.objects.filter(
            job__created_at__gte=since,
            job__status__in=(TransferJob.Status.WAITING, TransferJob.Status.DONE),
            status__in=(TransferItem.Status.WAITING, TransferItem.Status.DONE),
            takeover__status=Staff.Status.ACTIVE,
        )
        .exclude(
            Exists(TransferNotice.objects.filter(job_id=OuterRef("job_id"), staff_id=OuterRef("takeover_id")))
        )
        .values_list("job_id", flat=True)
    )
    return sorted(set(given_back) | set(unwritten.distinct()))
