"""Staff live codes: pools, eligibility, distribution, the contact way, the count of each add.

WeCom rotates among the users of a multi-user contact way by itself, so distributing means
choosing *which* users the way lists. :func:`livecode_eligibility` decides that from a small
input (the pool, each member's adds today, the code's hours, a clock): a pure function, so every
rule is tested without a database or WeCom. The way is rewritten only when that list (or the
auto-accept flag, or the state) differs from what WeCom holds (``wecom_users``): after an add that
changed the picture, or at the next time boundary (``next_review_at``: an hours edge, an
auto-accept window edge, midnight), never on a timer for every code.

A paused code keeps its contact way (WeCom cannot pause one, and deleting it would kill every
printed poster): the way keeps the users it had, reviews stop, and adds through it are still
counted against each member's cap but get no auto tags, remark, description or code welcome.
Reactivating reviews the code at once.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Sequence
from contextlib import nullcontext
from datetime import date, datetime, time, timedelta

from django.core.exceptions import ValidationError
from django.db import connection, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from customers.models import CustomerEvent, Follow, FollowTag, Tag
from customers.services import customer_tag_ids_refresh
from scrm.org.models import Staff
from scrm.schedules import periodic_task_ensure
from scrm.wecom.client import wecom_client
from scrm.wecom.endpoints.contact_ways import CONTACT_WAY_MAX_MEMBERS
from scrm.wecom.errors import NoRelationship, NotFound, TagNotFound, TransientError, WecomError

from ..models import (
    Channel,
    LiveCode,
    LiveCodeHours,
    LiveCodeMember,
    LiveCodeSpecialDate,
    StaffAdd,
    StaffDailyAdds,
)
from ..selectors.livecodes import (
    livecode_ids_with_staff,
    livecode_pool,
    livecode_pool_size,
    staff_adds_on,
)
from .eligibility import (
    INACTIVE,
    NO_CONTACT,
    CapPolicy,
    Eligibility,
    Rules,
    Seat,
    Special,
    livecode_eligibility,
)

logger = logging.getLogger(__name__)

__all__ = [
    "LiveCodeSyncError",
    "livecode_evaluate",
    "livecode_sync",
    "livecode_delete",
    "livecode_channel_set",
    "livecode_validate",
    "livecode_save",
    "livecode_add_record",
    "livecode_add_apply",
    "livecode_reviews_due",
    "livecode_schedule_ensure",
    "template_render",
    "REMARK_MAX",
    "DESCRIPTION_MAX",
]

REMARK_MAX = 20  # externalcontact/remark, WECOM.md §3.5
DESCRIPTION_MAX = 150
PLACEHOLDERS = ("{customer}", "{staff}", "{code}")
_PLACEHOLDER = re.compile(r"\{[^{}]*\}")
#: Retry a failed write of a way after this long (the beat task picks it up).
RETRY_AFTER = timedelta(minutes=5)
REVIEW_TASK_NAME = "campaigns: live code reviews"

# --- From the database to the pure function ---------------------------------------------------------


def _rules_of(code: LiveCode) -> Rules:
    return Rules(
        strategy=code.strategy,
        daily_cap=code.daily_cap,
        skip_verify=code.skip_verify,
        auto_accept_from=code.auto_accept_from,
        auto_accept_until=code.auto_accept_until,
        hours=tuple((h.weekday, h.start, h.end) for h in code.hours.all()),
        specials=tuple(
            Special(s.first_day, s.last_day, s.closed, s.start, s.end) for s in code.special_dates.all()
        ),
    )


def _seat(staff: Staff, adds: dict[int, int], *, weight=1, daily_cap=None, is_backup=False) -> Seat:
    return Seat(
        staff_id=staff.pk,
        userid=staff.userid,
        name=staff.name,
        weight=weight,
        daily_cap=daily_cap,
        is_backup=is_backup,
        active=staff.status == Staff.Status.ACTIVE,
        contact_enabled=staff.contact_enabled,
        wecom_created_at=staff.wecom_created_at,
        adds_today=adds.get(staff.pk, 0),
    )


def livecode_evaluate(*, code: LiveCode, now: datetime | None = None) -> Eligibility:
    """The eligibility of ``code`` at ``now`` from its rows: a handful of queries, whatever the corp."""
    now = timezone.localtime(now or timezone.now())
    members, extra = livecode_pool(code)
    adds = staff_adds_on(staff_ids=[m.staff_id for m in members] + [s.pk for s in extra], day=now.date())
    seats = [
        _seat(m.staff, adds, weight=m.weight, daily_cap=m.daily_cap, is_backup=m.is_backup) for m in members
    ] + [_seat(s, adds) for s in extra]
    return livecode_eligibility(rules=_rules_of(code), seats=seats, now=now, policy=CapPolicy.from_settings())


# --- The contact way ----------------------------------------------------------------------------------


class LiveCodeSyncError(Exception):
    """WeCom refused or failed the write of a way; the message is for the person who saved."""


def _fallback_users(code: LiveCode, result: Eligibility) -> list[str]:
    """Nobody is live: keep what WeCom lists if those members can still take customers, else the
    pool's usable members (backups first) so a new way can exist at all."""
    usable = [s for s in result.seats if s.reason not in (INACTIVE, NO_CONTACT)]
    names = {s.seat.userid for s in usable}
    kept = [u for u in code.wecom_users if u in names]
    if kept:
        return kept
    backups = [s.seat.userid for s in usable if s.seat.is_backup]
    return backups or [s.seat.userid for s in usable]


def _wanted(code: LiveCode, result: Eligibility) -> list[str]:
    return list(result.users) or _fallback_users(code, result)


def _differs(code: LiveCode, users: list[str], skip_verify: bool) -> bool:
    return (
        set(users) != set(code.wecom_users or ())
        or code.wecom_skip_verify is not skip_verify
        or code.wecom_state != code.channel.state
    )


def _locked(code_id: int):
    """The code row, locked until the transaction ends on PostgreSQL.

    On SQLite (development, tests) no transaction is held across the WeCom request: the sandbox
    writes its call record in the same database file, and SQLite serialises writers anyway.
    """
    query = LiveCode.objects.select_related("channel")
    if connection.vendor == "postgresql":
        query = query.select_for_update(of=("self",))
    return query.filter(pk=code_id).first()


def _error_text(error: WecomError) -> str:
    return _("WeCom refused the contact way: %(error)s") % {"error": error}


def livecode_sync(*, code_id: int, now: datetime | None = None, force: bool = False) -> bool:
    """Create the code's contact way, or rewrite it when the computed list, the auto-accept flag or
    the state differ from WeCom's; returns whether WeCom was written.

    The code row is locked while it is recomputed and written, so two reviews of one code never
    interleave. A paused code with a way is left as it is. A WeCom error is kept on the code
    (``sync_error``), the review is retried in a few minutes, and :class:`LiveCodeSyncError` is
    raised for the caller to show.
    """
    now = timezone.localtime(now or timezone.now())
    atomic = transaction.atomic() if connection.vendor == "postgresql" else nullcontext()
    failure: str = ""
    with atomic:
        code = _locked(code_id)
        if code is None:
            return False
        if code.status == LiveCode.Status.PAUSED and code.config_id:
            LiveCode.objects.filter(pk=code.pk).update(next_review_at=None)
            return False
        result = livecode_evaluate(code=code, now=now)
        users = _wanted(code, result)
        changes: dict = {"next_review_at": result.next_review_at, "sync_error": ""}
        written = False
        try:
            if not users:
                failure = _("No member of this code can take customers: add active staff.")
            elif not code.config_id:
                way = wecom_client("contact").add_contact_way(
                    type=2,
                    scene=2,
                    user=users,
                    skip_verify=result.skip_verify,
                    state=code.channel.state,
                    is_exclusive=code.exclusive,
                    remark=code.name[:30],
                )
                changes.update(config_id=way["config_id"], qr_code=way.get("qr_code", ""))
                written = True
            elif force or _differs(code, users, result.skip_verify):
                wecom_client("contact").update_contact_way(
                    code.config_id,
                    user=users,
                    party=[],
                    skip_verify=result.skip_verify,
                    state=code.channel.state,
                )
                written = True
        except WecomError as error:
            if isinstance(error, TransientError):
                logger.warning("live code %s: %s", code.pk, error)
            failure = _error_text(error)
        if failure:
            changes = {"sync_error": failure, "next_review_at": now + RETRY_AFTER}
        elif written:
            changes.update(
                wecom_users=users,
                wecom_skip_verify=result.skip_verify,
                wecom_state=code.channel.state,
                synced_at=timezone.now(),
            )
        LiveCode.objects.filter(pk=code.pk).update(**changes)
    if failure:
        raise LiveCodeSyncError(failure)
    return written


def livecode_delete(*, code: LiveCode) -> None:
    """Delete the way in WeCom (its QR stops working), then the code. Its channel stays, so past
    adds keep their name in the analytics, and its state is not handed to another code."""
    if code.config_id:
        try:
            wecom_client("contact").del_contact_way(code.config_id)
        except NotFound:
            pass  # already gone in WeCom
        except WecomError as error:
            raise LiveCodeSyncError(_error_text(error)) from error
    code.delete()


def livecode_channel_set(*, code: LiveCode, state: str, name: str) -> Channel:
    """Give the (unsaved or saved) code its channel with ``state``; the state is unique across
    every channel, live codes' and group codes' alike.

    A new state is a new channel: the old one keeps the adds WeCom already attributed to it
    (``Follow.state`` holds the old value), so renaming it in place would part those adds from
    their channel and from the code's history in the analytics.
    """
    channel = code.channel if code.channel_id else None
    if channel is None or channel.state != state:
        channel = Channel.objects.create(state=state, name=name)
        code.channel = channel
    elif channel.name != name:
        channel.name = name
        channel.save(update_fields=["name"])
    return channel


def template_check(template: str, limit: int, field_name: str) -> list[str]:
    """Problems with a remark or description template: unknown placeholders, fixed text too long."""
    errors = []
    unknown = [p for p in _PLACEHOLDER.findall(template) if p not in PLACEHOLDERS]
    if unknown:
        errors.append(
            _("%(field)s: unknown placeholder %(names)s; use {customer}, {staff} or {code}.")
            % {"field": field_name, "names": ", ".join(unknown)}
        )
    fixed = _PLACEHOLDER.sub("", template)
    if len(fixed) > limit:
        errors.append(
            _("%(field)s: the fixed text is %(n)s characters; WeCom keeps at most %(limit)s once filled.")
            % {"field": field_name, "n": len(fixed), "limit": limit}
        )
    return errors


def livecode_validate(
    *,
    state: str,
    channel_id: int | None,
    staff_ids: Iterable[int],
    department_ids: Iterable[int],
    remark_template: str = "",
    description_template: str = "",
    auto_accept_from: time | None = None,
    auto_accept_until: time | None = None,
) -> dict[str, list[str]]:
    """Field errors for a code about to be saved, against WeCom's limits (shared by admin and API)."""
    errors: dict[str, list[str]] = {}
    state = (state or "").strip()
    if not state:
        errors.setdefault("state", []).append(_("A state is required: WeCom echoes it on every add."))
    elif len(state) > 30:
        errors.setdefault("state", []).append(
            _("The state is %(n)s characters; WeCom allows at most 30.") % {"n": len(state)}
        )
    elif Channel.objects.filter(state=state).exclude(pk=channel_id).exists():
        errors.setdefault("state", []).append(
            _("The state %(state)s is already used by another channel.") % {"state": state}
        )
    size = livecode_pool_size(staff_ids=staff_ids, department_ids=department_ids)
    if size == 0:
        errors.setdefault("departments", []).append(
            _("The pool is empty: name members or departments with active staff.")
        )
    elif size > CONTACT_WAY_MAX_MEMBERS:
        errors.setdefault("departments", []).append(
            _("The pool reaches %(n)s staff once departments are expanded; WeCom allows at most %(max)s.")
            % {"n": size, "max": CONTACT_WAY_MAX_MEMBERS}
        )
    for name, template, limit in (
        ("remark_template", remark_template, REMARK_MAX),
        ("description_template", description_template, DESCRIPTION_MAX),
    ):
        problems = template_check(template or "", limit, str(LiveCode._meta.get_field(name).verbose_name))
        if problems:
            errors.setdefault(name, []).extend(problems)
    if auto_accept_from and auto_accept_until and auto_accept_from == auto_accept_until:
        errors.setdefault("auto_accept_until", []).append(
            _("The auto-accept window starts and ends at the same time.")
        )
    return errors


def validation_raise(errors: dict[str, list[str]]) -> None:
    if errors:
        raise ValidationError(errors)


def _rows_check(hours: Sequence[dict] | None, special_dates: Sequence[dict] | None) -> dict[str, list[str]]:
    errors: dict[str, list[str]] = {}
    for row in hours or ():
        if not 0 <= int(row["weekday"]) <= 6:
            errors.setdefault("hours", []).append(_("A weekday is 0 (Monday) to 6 (Sunday)."))
        elif row["start"] >= row["end"]:
            errors.setdefault("hours", []).append(
                _("Working hours must end after they start (%(start)s–%(end)s).")
                % {"start": f"{row['start']:%H:%M}", "end": f"{row['end']:%H:%M}"}
            )
    for row in special_dates or ():
        if row["first_day"] > row["last_day"]:
            errors.setdefault("special_dates", []).append(
                _("A special date range must end on or after its start.")
            )
        start, end = row.get("start"), row.get("end")
        if not row.get("closed") and start and end and start >= end:
            errors.setdefault("special_dates", []).append(_("Special hours must end after they start."))
    return errors


def livecode_save(
    *,
    code: LiveCode,
    state: str,
    departments: Sequence | None = None,
    tags: Sequence | None = None,
    members: Sequence[dict] | None = None,
    hours: Sequence[dict] | None = None,
    special_dates: Sequence[dict] | None = None,
) -> LiveCode:
    """Validate and write a code with its pool and schedule, then create or rewrite its way.

    ``None`` leaves a related list as it is; a list replaces it. Members are dicts with ``staff``
    and optionally ``weight``, ``daily_cap``, ``is_backup``. A new code whose way WeCom refuses is
    not kept (:class:`LiveCodeSyncError`); a changed code is kept and its WeCom error shown.
    """
    creating = code.pk is None
    staff_ids = (
        [m["staff"].pk for m in members]
        if members is not None
        else list(code.members.values_list("staff_id", flat=True))
        if not creating
        else []
    )
    department_ids = (
        [d.pk for d in departments]
        if departments is not None
        else list(code.departments.values_list("pk", flat=True))
        if not creating
        else []
    )
    errors = livecode_validate(
        state=state,
        channel_id=code.channel_id,
        staff_ids=staff_ids,
        department_ids=department_ids,
        remark_template=code.remark_template,
        description_template=code.description_template,
        auto_accept_from=code.auto_accept_from,
        auto_accept_until=code.auto_accept_until,
    )
    for name, problems in _rows_check(hours, special_dates).items():
        errors.setdefault(name, []).extend(problems)
    if members is not None and len(set(staff_ids)) != len(staff_ids):
        errors.setdefault("members", []).append(_("A staff member is named twice."))
    validation_raise(errors)
    with transaction.atomic():
        livecode_channel_set(code=code, state=state.strip(), name=code.name)
        code.full_clean(exclude=["channel"])
        code.save()
        if departments is not None:
            code.departments.set(departments)
        if tags is not None:
            code.tags.set(tags)
        if members is not None:
            code.members.all().delete()
            code.members.bulk_create(
                [
                    LiveCodeMember(
                        code=code,
                        staff=m["staff"],
                        weight=m.get("weight") or 1,
                        daily_cap=m.get("daily_cap"),
                        is_backup=bool(m.get("is_backup")),
                    )
                    for m in members
                ]
            )
        if hours is not None:
            code.hours.all().delete()
            LiveCodeHours.objects.bulk_create([LiveCodeHours(code=code, **h) for h in hours])
        if special_dates is not None:
            code.special_dates.all().delete()
            LiveCodeSpecialDate.objects.bulk_create(
                [LiveCodeSpecialDate(code=code, **d) for d in special_dates]
            )
    try:
        livecode_sync(code_id=code.pk)
    except LiveCodeSyncError:
        if creating:
            channel = code.channel
            code.delete()
            channel.delete()
            code.pk = None
        raise
    code.refresh_from_db()
    return code


# --- Adds ---------------------------------------------------------------------------------------------


def _insert_returning(sql: str, params: list) -> list:
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _staff_add_insert(*, follow: Follow, code_id: int | None, day: date, added_at: datetime) -> bool:
    """INSERT … ON CONFLICT DO NOTHING RETURNING: True only for the first delivery of an add."""
    table = StaffAdd._meta.db_table
    added = StaffAdd._meta.get_field("added_at").get_db_prep_save(added_at, connection)
    rows = _insert_returning(
        f"INSERT INTO {table} (follow_id, staff_id, live_code_id, day, added_at) "  # noqa: S608
        "VALUES (%s, %s, %s, %s, %s) ON CONFLICT (follow_id, added_at) DO NOTHING RETURNING id",
        [follow.pk, follow.staff_id, code_id, day, added],
    )
    return bool(rows)


def _daily_bump(*, staff_id: int, day: date) -> int:
    """Count one more add into the staff member's day; the row lock makes concurrent adds add up."""
    table = StaffDailyAdds._meta.db_table
    rows = _insert_returning(
        f"INSERT INTO {table} (staff_id, day, count) VALUES (%s, %s, 1) "  # noqa: S608
        f"ON CONFLICT (staff_id, day) DO UPDATE SET count = {table}.count + 1 RETURNING count",
        [staff_id, day],
    )
    return rows[0][0]


def livecode_add_record(*, follow: Follow, state: str, added_at: datetime) -> LiveCode | None:
    """Count the add of ``follow`` once and attribute it to the live code of ``state``.

    Only the first delivery of an add counts (unique follow + add time), bumps the staff member's
    day, queues the code's tags and remark, and re-evaluates the codes whose pool holds the
    staff member: a code is rewritten only when its computed list differs from WeCom's. Returns
    the active code of ``state``, or None (no code, or paused).
    """
    code = LiveCode.objects.select_related("channel").filter(channel__state=state).first() if state else None
    active = code if code is not None and code.status == LiveCode.Status.ACTIVE else None
    day = timezone.localdate(added_at)
    with transaction.atomic():
        if not _staff_add_insert(
            follow=follow, code_id=code.pk if code else None, day=day, added_at=added_at
        ):
            return active  # WeCom's retry of an add already counted
        _daily_bump(staff_id=follow.staff_id, day=day)
        if active is not None and (
            active.remark_template or active.description_template or active.tags.exists()
        ):
            _after_commit("livecode_add_apply_task", follow_id=follow.pk, code_id=active.pk)
        for code_id in livecode_ids_with_staff(staff_id=follow.staff_id):
            other = (
                LiveCode.objects.select_related("channel").filter(pk=code_id).exclude(config_id="").first()
            )
            if other is None:
                continue
            result = livecode_evaluate(code=other)
            if _differs(other, _wanted(other, result), result.skip_verify):
                transaction.on_commit(lambda code_id=other.pk: _rewrite_now(code_id))
    return active


def _rewrite_now(code_id: int) -> None:
    """Rewrite a code's way right after the add that changed its eligible set committed.

    Runs in the process that handled the add, not as a queued task: until the way is rewritten
    WeCom keeps sending scans to a member who just reached their cap, so every second of queueing
    is a chance to overshoot it. A WeCom error is kept on the code and retried by the minute
    review; anything else hands the rewrite to a task.
    """
    try:
        livecode_sync(code_id=code_id)
    except LiveCodeSyncError as error:
        logger.warning("live code %s not rewritten: %s", code_id, error)
    except Exception:
        logger.exception("live code %s: rewrite queued after an error", code_id)
        _after_commit("livecode_review_task", code_id=code_id)


def _after_commit(task_name: str, **kwargs) -> None:
    from .. import tasks  # tasks import services: imported here to keep one direction

    task = getattr(tasks, task_name)
    transaction.on_commit(lambda: task.apply_async(kwargs=kwargs))


def template_render(template: str, *, customer: str, staff: str, code: str, limit: int) -> str:
    text = template.replace("{customer}", customer).replace("{staff}", staff).replace("{code}", code)
    return text.strip()[:limit]


def livecode_add_apply(*, follow_id: int, code_id: int) -> None:
    """Apply the code's auto tags (``mark_tag``) and remark/description to one new customer.

    Safe to run twice: adding a tag already on the pair changes nothing in WeCom or here, and the
    remark is set to the same text again. A customer who deleted the staff member since is skipped.
    """
    follow = Follow.objects.select_related("customer", "staff").filter(pk=follow_id).first()
    code = LiveCode.objects.filter(pk=code_id).first()
    if follow is None or code is None or follow.status != Follow.Status.ACTIVE:
        return
    client = wecom_client("contact")
    userid, external = follow.staff.userid, follow.customer.external_userid
    tags = list(code.tags.filter(deleted=False).exclude(wecom_id=None).exclude(wecom_id=""))
    try:
        if tags:
            try:
                client.mark_tag(userid, external, add_tag=[t.wecom_id for t in tags])
            except TagNotFound as error:
                # A tag deleted in WeCom since the code was saved: the remark still goes on.
                logger.warning("live code %s: auto tags not applied: %s", code_id, error)
            else:
                _auto_tags_record(follow=follow, code=code, tags=tags)
        values = {"customer": follow.customer.name, "staff": follow.staff.name, "code": code.name}
        remark = (
            template_render(code.remark_template, **values, limit=REMARK_MAX)
            if code.remark_template
            else None
        )
        description = (
            template_render(code.description_template, **values, limit=DESCRIPTION_MAX)
            if code.description_template
            else None
        )
        if remark is not None or description is not None:
            client.externalcontact_remark(userid, external, remark=remark, description=description)
            update = {k: v for k, v in (("remark", remark), ("description", description)) if v is not None}
            Follow.objects.filter(pk=follow.pk).update(**update, updated_at=timezone.now())
    except NoRelationship:
        logger.info("live code %s: %s no longer follows %s", code_id, external, userid)


def _auto_tags_record(*, follow: Follow, code: LiveCode, tags: list[Tag]) -> None:
    """Put the code's tags on the follow here too, with a "tagged" event on the customer's
    timeline for those it did not have (a second run finds them all and writes nothing)."""
    had = set(FollowTag.objects.filter(follow=follow, tag__in=tags).values_list("tag_id", flat=True))
    new = [t for t in tags if t.pk not in had]
    if not new:
        return
    with transaction.atomic():
        FollowTag.objects.bulk_create(
            [FollowTag(follow_id=follow.pk, tag_id=t.pk) for t in new], ignore_conflicts=True
        )
        customer_tag_ids_refresh([follow.customer_id])
        CustomerEvent.objects.create(
            customer_id=follow.customer_id,
            staff_id=follow.staff_id,
            type=CustomerEvent.Type.TAGGED,
            occurred_at=timezone.now(),
            source=CustomerEvent.Source.SYSTEM,
            payload={"tags": [{"id": t.pk, "name": t.name} for t in new], "live_code": code.name},
        )


# --- Time-based reviews ---------------------------------------------------------------------------------


def livecode_reviews_due(*, now: datetime | None = None, limit: int = 500) -> list[int]:
    """Claim the active codes whose ``next_review_at`` has come (indexed), pushing each a few
    minutes out so a slow review is not claimed twice; the review sets the real next time."""
    now = now or timezone.now()
    ids = list(
        LiveCode.objects.filter(status=LiveCode.Status.ACTIVE, next_review_at__lte=now)
        .order_by("next_review_at")
        .values_list("pk", flat=True)[:limit]
    )
    if ids:
        LiveCode.objects.filter(pk__in=ids).update(next_review_at=now + RETRY_AFTER)
    return ids


def livecode_schedule_ensure(**kwargs: object) -> bool:
    """Create the every-minute review schedule (realtime queue) unless one has its name."""
    return periodic_task_ensure(
        name=REVIEW_TASK_NAME,
        task="campaigns.tasks.livecodes.livecode_reviews_run",
        queue="realtime",
        description="Rewrites the live codes whose eligible staff change by time (hours, midnight).",
        every_seconds=60,
        using=kwargs.get("using"),
    )


# The schedule exists after every migrate (sent once per app; only the campaigns signal acts).
