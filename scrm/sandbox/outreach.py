"""The outreach state machines on WeCom's side (WECOM.md §19 items 5 and 8).

- A mass message waits as "not sent" for each sender until the member confirms it in the client
  (:func:`mass_message_send`); each recipient then ends sent (1), not a friend (2) or over the
  receive cap (3) by the corp's receive rule.
- A moment waits unpublished for each executor until the member publishes it
  (:func:`moment_publish`); publishing fixes who sees it.
- A customer transfer waits (status 2) until the simulated clock passes its ``takeover_time``
  (:func:`transfers_settle`, run after each clock advance and before transfer results are read),
  unless the customer refuses first (:func:`transfer_refuse`).

The endpoints (``api/mass_messages.py``, ``api/moments.py``, ``api/transfers.py``) and the player
actions (``actions/outreach.py``) share these functions.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from django.db import transaction
from django.db.models import Count
from django.utils.translation import gettext as _

from .callbacks import callback_emit
from .clock import on_clock_advance, sandbox_time
from .models import (
    SandboxFollow,
    SandboxGroupChat,
    SandboxMassMessage,
    SandboxMassRecipient,
    SandboxMassTask,
    SandboxMember,
    SandboxMoment,
    SandboxMomentCustomer,
    SandboxMomentTask,
    SandboxOutreachRules,
    SandboxTransfer,
)
from .player import PlayerError

#: WeCom's natural days, weeks and months are China's.
WECOM_TZ = ZoneInfo("Asia/Shanghai")
#: A transfer is taken over automatically this long after it started (WECOM.md §10.1).
TAKEOVER_DELAY = 24 * 3600
BATCH = 1000


# --- rules --------------------------------------------------------------------------------------------


def outreach_rules() -> SandboxOutreachRules:
    """The corp-wide outreach rules (created with WeCom's defaults on first use)."""
    rules, _ = SandboxOutreachRules.objects.get_or_create(pk=1)
    return rules


def outreach_rules_set(
    *, receive_cap: str | None = None, member_customer_limit: int | None = None
) -> SandboxOutreachRules:
    """Change the mass-message receive rule and/or the per-member customer limit."""
    rules = outreach_rules()
    if receive_cap is not None:
        if receive_cap not in SandboxOutreachRules.ReceiveCap.values:
            raise ValueError(f"unknown receive cap {receive_cap!r}")
        rules.receive_cap = receive_cap
    if member_customer_limit is not None:
        rules.member_customer_limit = member_customer_limit
    rules.save()
    return rules


def receive_window(rule: str, now: int) -> tuple[int, int]:
    """``(period start, cap)`` of the receive rule for the natural period holding ``now``."""
    local = datetime.fromtimestamp(now, WECOM_TZ)
    day = local.replace(hour=0, minute=0, second=0, microsecond=0)
    if rule == SandboxOutreachRules.ReceiveCap.DAY_1:
        return int(day.timestamp()), 1
    if rule == SandboxOutreachRules.ReceiveCap.WEEK_7:
        return int((day - timedelta(days=day.weekday())).timestamp()), 7
    month = int(day.replace(day=1).timestamp())
    if rule == SandboxOutreachRules.ReceiveCap.MONTH_4:
        return month, 4
    return month, calendar.monthrange(local.year, local.month)[1]


# --- mass messages ------------------------------------------------------------------------------------


@transaction.atomic
def mass_message_send(
    *, corp_id: str, msgid: str, userid: str, targets: Sequence[str] | None = None
) -> dict[str, int]:
    """The member confirms their task in the client: send to all their recipients, or to ``targets``.

    Recipients left out stay "not sent" (0). Returns how many were sent, not friends, over the cap.
    """
    message = SandboxMassMessage.objects.filter(corp_id=corp_id, msgid=msgid).first()
    if message is None:
        raise PlayerError(_("No mass message %(msgid)s.") % {"msgid": msgid})
    if message.canceled:
        raise PlayerError(_("The mass message was canceled."))
    task = SandboxMassTask.objects.select_for_update().filter(message=message, userid=userid).first()
    if task is None:
        raise PlayerError(_("%(userid)s has no task for this mass message.") % {"userid": userid})
    if task.status:
        raise PlayerError(_("%(userid)s already sent this mass message.") % {"userid": userid})
    pending = SandboxMassRecipient.objects.filter(message=message, userid=userid, status=0)
    if targets is not None:
        wanted = set(targets)
        pending = pending.filter(target__in=wanted)
    recipients = list(pending.order_by("id"))
    if targets is not None:
        unknown = wanted - {r.target for r in recipients}
        if unknown:
            raise PlayerError(
                _("Not recipients of the task of %(userid)s: %(ids)s.")
                % {"userid": userid, "ids": ", ".join(sorted(unknown))}
            )
    now = sandbox_time()
    rules = outreach_rules()
    start, cap = receive_window(rules.receive_cap, now)
    counts = {"sent": 0, "not_friend": 0, "over_cap": 0}
    for chunk_start in range(0, len(recipients), BATCH):
        chunk = recipients[chunk_start : chunk_start + BATCH]
        ids = [r.target for r in chunk]
        reachable = _reachable(message, userid, ids)
        received = dict(
            SandboxMassRecipient.objects.filter(
                corp_id=corp_id, target__in=ids, status=1, send_time__gte=start
            )
            .values_list("target")
            .annotate(n=Count("id"))
        )
        for r in chunk:
            r.send_time = now
            if r.target not in reachable:
                r.status = 2
                counts["not_friend"] += 1
            elif received.get(r.target, 0) >= cap:
                r.status = 3
                counts["over_cap"] += 1
            else:
                r.status = 1
                received[r.target] = received.get(r.target, 0) + 1
                counts["sent"] += 1
        SandboxMassRecipient.objects.bulk_update(chunk, ["status", "send_time"])
    task.status = 2
    task.send_time = now
    task.save(update_fields=["status", "send_time"])
    return counts


def _reachable(message: SandboxMassMessage, userid: str, targets: list[str]) -> set[str]:
    """The targets the member can still reach: their customers, or groups they own."""
    if message.chat_type == "group":
        chats = SandboxGroupChat.objects.filter(corp_id=message.corp_id, chat_id__in=targets, owner=userid)
        return set(chats.values_list("chat_id", flat=True))
    follows = SandboxFollow.objects.filter(
        member__corp_id=message.corp_id, member__userid=userid, contact__external_userid__in=targets
    )
    return set(follows.values_list("contact__external_userid", flat=True))


# --- moments ------------------------------------------------------------------------------------------


@transaction.atomic
def moment_publish(*, corp_id: str, moment_id: str, userid: str) -> dict[str, int]:
    """The member publishes the corp's moment: their customers (with an audience tag, when the
    moment has audience tags) can see it from now on. Returns how many customers that is."""
    moment = SandboxMoment.objects.filter(corp_id=corp_id, moment_id=moment_id).first()
    if moment is None:
        raise PlayerError(_("No moment %(moment_id)s.") % {"moment_id": moment_id})
    if moment.canceled:
        raise PlayerError(_("The moment was canceled."))
    task = SandboxMomentTask.objects.select_for_update().filter(moment=moment, userid=userid).first()
    if task is None:
        raise PlayerError(_("%(userid)s is not asked to publish this moment.") % {"userid": userid})
    if task.publish_status:
        raise PlayerError(_("%(userid)s already published this moment.") % {"userid": userid})
    tags = set(moment.audience_tags)
    follows = SandboxFollow.objects.filter(member__corp_id=corp_id, member__userid=userid).order_by("id")
    audience = [
        SandboxMomentCustomer(moment=moment, userid=userid, external_userid=external_userid)
        for external_userid, tag_ids in follows.values_list("contact__external_userid", "tag_ids").iterator(
            chunk_size=BATCH
        )
        if not tags or tags.intersection(tag_ids or ())
    ]
    SandboxMomentCustomer.objects.bulk_create(audience, batch_size=BATCH)
    task.publish_status = 1
    task.publish_time = sandbox_time()
    task.save(update_fields=["publish_status", "publish_time"])
    # A member can only publish a moment whose creation finished.
    SandboxMoment.objects.filter(pk=moment.pk, job_status__lt=3).update(job_status=3)
    return {"customers": len(audience)}


@transaction.atomic
def moment_react(
    *, corp_id: str, moment_id: str, userid: str, external_userid: str, like: bool
) -> dict[str, int]:
    """A customer who can see ``userid``'s published moment comments on it or likes it."""
    task = (
        SandboxMomentTask.objects.select_for_update()
        .filter(moment__corp_id=corp_id, moment__moment_id=moment_id, userid=userid, publish_status=1)
        .first()
    )
    if task is None:
        raise PlayerError(_("%(userid)s has not published this moment.") % {"userid": userid})
    if not SandboxMomentCustomer.objects.filter(
        moment_id=task.moment_id, userid=userid, external_userid=external_userid
    ).exists():
        raise PlayerError(
            _("%(external_userid)s cannot see this moment.") % {"external_userid": external_userid}
        )
    reaction = {"external_userid": external_userid, "create_time": sandbox_time()}
    if like:
        if any(r.get("external_userid") == external_userid for r in task.likes):
            raise PlayerError(
                _("%(external_userid)s already likes it.") % {"external_userid": external_userid}
            )
        task.likes = [*task.likes, reaction]
    else:
        task.comments = [*task.comments, reaction]
    task.save(update_fields=["likes", "comments"])
    return {"comments": len(task.comments), "likes": len(task.likes)}


# --- transfers ----------------------------------------------------------------------------------------


def transfers_settle(*, corp_id: str | None = None) -> int:
    """Take over every waiting transfer whose 24 h have passed on the simulated clock.

    The follow moves to the takeover member (``add_way`` 202, the handover's follow removed) and
    an on-job transfer tells us with ``del_external_contact`` / ``DELETE_BY_TRANSFER`` for the
    handover member (WECOM.md §10.4). A takeover member at the customer limit ends the transfer
    in status 4 with ``transfer_fail`` / ``customer_limit_exceed``. Returns how many were settled.
    """
    due = SandboxTransfer.objects.filter(status=2, takeover_time__lte=sandbox_time())
    if corp_id is not None:
        due = due.filter(corp_id=corp_id)
    if not due.exists():
        return 0
    settled = 0
    limit = outreach_rules().member_customer_limit
    while True:
        with transaction.atomic():
            chunk = list(due.select_for_update().order_by("id")[:BATCH])
            if not chunk:
                return settled
            _settle_chunk(chunk, limit)
            settled += len(chunk)


def _settle_chunk(chunk: list[SandboxTransfer], limit: int) -> None:
    corps = {t.corp_id for t in chunk}
    userids = {t.handover_userid for t in chunk} | {t.takeover_userid for t in chunk}
    members = {
        (m.corp_id, m.userid): m for m in SandboxMember.objects.filter(corp_id__in=corps, userid__in=userids)
    }
    holding = dict(
        SandboxFollow.objects.filter(member__in=[m.pk for m in members.values()])
        .values_list("member_id")
        .annotate(n=Count("id"))
    )
    follows = {
        (f.member_id, f.contact.external_userid): f
        for f in SandboxFollow.objects.select_related("contact").filter(
            member__in=[m.pk for m in members.values()],
            contact__corp_id__in=corps,
            contact__external_userid__in={t.external_userid for t in chunk},
        )
    }
    created: list[SandboxFollow] = []
    removed: list[int] = []
    for transfer in chunk:
        handover = members.get((transfer.corp_id, transfer.handover_userid))
        takeover = members.get((transfer.corp_id, transfer.takeover_userid))
        old = follows.get((handover.pk, transfer.external_userid)) if handover else None
        if takeover is None or old is None:
            # The customer left the handover member (or the member was deleted) meanwhile:
            # there is nothing to hand over, which WeCom reports as a refusal.
            transfer.status = 3
            _transfer_fail(transfer, "customer_refused")
            continue
        if holding.get(takeover.pk, 0) >= limit:
            transfer.status = 4
            _transfer_fail(transfer, "customer_limit_exceed")
            continue
        if (takeover.pk, transfer.external_userid) not in follows:
            new = SandboxFollow(
                member=takeover,
                contact=old.contact,
                remark=old.remark,
                description=old.description,
                createtime=transfer.takeover_time,
                add_way=202,
                oper_userid=handover.userid,
                remark_corp_name=old.remark_corp_name,
                remark_mobiles=old.remark_mobiles,
                tag_ids=old.tag_ids,
            )
            created.append(new)
            follows[(takeover.pk, transfer.external_userid)] = new
            holding[takeover.pk] = holding.get(takeover.pk, 0) + 1
        removed.append(old.pk)
        follows.pop((handover.pk, transfer.external_userid), None)
        holding[handover.pk] = holding.get(handover.pk, 1) - 1
        transfer.status = 1
        if transfer.kind == SandboxTransfer.Kind.ONJOB:
            callback_emit(
                corp_id=transfer.corp_id,
                event="change_external_contact",
                change_type="del_external_contact",
                fields={
                    "UserID": transfer.handover_userid,
                    "ExternalUserID": transfer.external_userid,
                    "Source": "DELETE_BY_TRANSFER",
                },
            )
    SandboxFollow.objects.filter(pk__in=removed).delete()
    SandboxFollow.objects.bulk_create(created)
    SandboxTransfer.objects.bulk_update(chunk, ["status"])


def _transfer_fail(transfer: SandboxTransfer, reason: str) -> None:
    # UserID names the takeover member: the one whose takeover failed (docs/decisions.md).
    callback_emit(
        corp_id=transfer.corp_id,
        event="change_external_contact",
        change_type="transfer_fail",
        fields={
            "UserID": transfer.takeover_userid,
            "ExternalUserID": transfer.external_userid,
            "FailReason": reason,
        },
    )


@transaction.atomic
def transfer_refuse(*, corp_id: str, external_userid: str) -> dict[str, str]:
    """The customer refuses the transfer waiting for them: status 3 and ``transfer_fail``."""
    transfers_settle(corp_id=corp_id)
    transfer = (
        SandboxTransfer.objects.select_for_update()
        .filter(corp_id=corp_id, external_userid=external_userid, status=2)
        .first()
    )
    if transfer is None:
        raise PlayerError(
            _("No transfer of %(external_userid)s is waiting.") % {"external_userid": external_userid}
        )
    transfer.status = 3
    transfer.save(update_fields=["status"])
    _transfer_fail(transfer, "customer_refused")
    return {"handover_userid": transfer.handover_userid, "takeover_userid": transfer.takeover_userid}


on_clock_advance(transfers_settle)
