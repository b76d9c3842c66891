"""Channel analytics: figures per day from the follows, the rollup, retention with a fixed clock,
the data scope, and reading today's adds live."""

from __future__ import annotations

from datetime import date, datetime, timedelta

import pytest
from django.utils import timezone

from campaigns.models import ChannelDay, ChannelRollup
from campaigns.selectors.analytics import channel_analytics
from campaigns.services.analytics import (
    NIGHTLY_TASK_NAME,
    channel_days_rollup,
    channel_rollup_execute,
    channel_rollup_nightly,
    channel_rollup_request,
    channel_rollup_schedule_ensure,
    local_today,
)
from customers.models import CustomerEvent, Follow
from customers.wecom import follows_end
from tests.factories import FollowFactory, StaffFactory

pytestmark = pytest.mark.django_db

D = date(2026, 3, 2)  # a Monday


def at(day: date, hour: int = 12, minute: int = 0) -> datetime:
    """A time of ``day`` in the project's time zone."""
    return timezone.make_aware(datetime(day.year, day.month, day.day, hour, minute))


def plus(days: int) -> date:
    return D + timedelta(days=days)


def end(follow: Follow, status: str, when: datetime) -> None:
    """End a follow the way the deletion callbacks do (customers.handlers.contact_deleted)."""
    event_type = {
        Follow.Status.DELETED_BY_CUSTOMER: CustomerEvent.Type.DELETED_BY_CUSTOMER,
        Follow.Status.DELETED_BY_STAFF: CustomerEvent.Type.DELETED_BY_STAFF,
        Follow.Status.TRANSFERRED: CustomerEvent.Type.TRANSFERRED,
    }[status]
    assert follows_end(
        follow_ids=[follow.pk], status=status, when=when, event_type=event_type, source="callback"
    )


def day_of(result, day: date):
    [item] = [item for item in result.days if item.day == day]
    return item


@pytest.fixture
def history(company):
    """Channel ``spring`` over two staff members (sa in the East, sb in the West) around day D."""
    sa, sb = company.sa, company.sb
    f = {}
    f["a1"] = FollowFactory(staff=sa, state="spring", added_at=at(D, 9))
    f["a2"] = FollowFactory(staff=sa, state="spring", added_at=at(D, 10))
    f["b1"] = FollowFactory(staff=sb, state="spring", added_at=at(D, 23, 59))
    f["b2"] = FollowFactory(staff=sb, state="spring", added_at=at(plus(1), 0, 0))
    f["old"] = FollowFactory(staff=sb, state="spring", added_at=at(plus(-10)))
    f["other"] = FollowFactory(staff=sa, state="summer", added_at=at(D, 11))
    f["none"] = FollowFactory(staff=sa, state="", added_at=at(D, 11))
    end(f["a2"], Follow.Status.DELETED_BY_CUSTOMER, at(plus(2), 8))
    end(f["b1"], Follow.Status.DELETED_BY_STAFF, at(plus(2), 9))
    end(f["old"], Follow.Status.DELETED_BY_CUSTOMER, at(D, 7))
    end(f["other"], Follow.Status.DELETED_BY_STAFF, at(D, 12))
    return f


def read(user, *, state="spring", first=D, last=None, now=None):
    return channel_analytics(
        user=user, state=state, first_day=first, last_day=last or plus(3), now=now or at(plus(3))
    )


# --- Figures per day -------------------------------------------------------------------------------


def test_adds_deletions_and_net_per_day_read_live(company, history):
    """Without any rollup, the recent days are computed from the follows themselves."""
    result = read(company.users.admin, first=plus(1), last=plus(3))
    assert [(i.day, i.adds, i.deleted_by_customer, i.deleted_by_staff, i.net) for i in result.days] == [
        (plus(1), 1, 0, 0, 1),
        (plus(2), 0, 1, 1, -2),
        (plus(3), 0, 0, 0, 0),
    ]
    assert all(item.live for item in result.days)
    assert (result.totals.adds, result.totals.deletions, result.totals.net) == (1, 2, -1)


def test_the_rollup_gives_the_same_figures_as_the_follows(company, history):
    run = channel_rollup_nightly(now=at(plus(3), 0, 30))
    assert run.status == ChannelRollup.Status.DONE
    assert (run.first_day, run.last_day) == (plus(3 - 31), plus(2))

    result = read(company.users.admin, first=plus(-1), last=plus(3))
    figures = [(i.day, i.adds, i.deleted_by_customer, i.deleted_by_staff, i.net, i.live) for i in result.days]
    assert figures == [
        (plus(-1), 0, 0, 0, 0, False),
        (D, 3, 1, 0, 2, False),  # the deletion of a follow added ten days before counts on D
        (plus(1), 1, 0, 0, 1, False),
        (plus(2), 0, 1, 1, -2, False),
        (plus(3), 0, 0, 0, 0, True),
    ]
    # Every channel at once, and a channel of its own; follows without a state are in none.
    everything = read(company.users.admin, state=None, first=D, last=D)
    assert (everything.days[0].adds, everything.days[0].deleted_by_staff) == (4, 1)
    summer = read(company.users.admin, state="summer", first=D, last=D)
    assert (summer.days[0].adds, summer.days[0].deleted_by_staff, summer.days[0].net) == (1, 1, 0)


def test_a_day_is_the_local_day(company, history, settings):
    """23:59 belongs to D and 00:00 to the next day, in TIME_ZONE (Asia/Shanghai by default)."""
    assert settings.TIME_ZONE == "Asia/Shanghai"
    result = read(company.users.admin, first=D, last=plus(1))
    assert [item.adds for item in result.days] == [3, 1]


# --- Retention with a fixed clock ------------------------------------------------------------------


@pytest.fixture
def cohort(company):
    """Five adds on D at 10:00 of channel ``autumn``, ending at different times."""
    made = [FollowFactory(staff=company.sa, state="autumn", added_at=at(D, 10)) for _ in range(5)]
    end(made[1], Follow.Status.DELETED_BY_CUSTOMER, at(D, 20))  # gone within a day
    end(made[2], Follow.Status.DELETED_BY_STAFF, at(plus(3)))  # after 1 day, before 7
    end(made[3], Follow.Status.DELETED_BY_CUSTOMER, at(plus(10)))  # after 7 days, before 30
    end(made[4], Follow.Status.TRANSFERRED, at(plus(2)))  # handed to a colleague: still a customer
    return made


def retention(user, now: datetime) -> list:
    [item] = channel_analytics(user=user, state="autumn", first_day=D, last_day=D, now=now).days
    return [(item.retained(n), item.retention(n)) for n in (1, 7, 30)]


def test_retention_shows_only_once_its_days_have_passed(company, cohort):
    admin = company.users.admin
    # The day after: no add of D has had a full day yet.
    assert retention(admin, at(plus(1), 23, 59)) == [(None, None)] * 3
    assert retention(admin, at(plus(2), 0, 1)) == [(4, 0.8), (None, None), (None, None)]
    # Older days come from the nightly rollup.
    channel_rollup_nightly(now=at(plus(8), 0, 30))
    assert retention(admin, at(plus(8), 9)) == [(4, 0.8), (3, 0.6), (None, None)]
    channel_rollup_nightly(now=at(plus(31), 0, 30))
    assert retention(admin, at(plus(31), 9)) == [(4, 0.8), (3, 0.6), (2, 0.4)]


def test_retention_from_the_rollup_is_final_after_the_night_it_became_known(company, cohort):
    admin = company.users.admin
    channel_rollup_nightly(now=at(plus(5), 0, 30))
    row = ChannelDay.objects.get(state="autumn", day=D)
    assert (row.adds, row.retained_1, row.retained_7, row.retained_30) == (5, 4, None, None)
    channel_rollup_nightly(now=at(plus(31), 0, 30))
    row.refresh_from_db()
    assert (row.retained_1, row.retained_7, row.retained_30) == (4, 3, 2)
    assert retention(admin, at(plus(40))) == [(4, 0.8), (3, 0.6), (2, 0.4)]


def test_the_nightly_run_also_closes_days_it_missed(company, cohort):
    channel_rollup_nightly(now=at(plus(5), 0, 30))
    # Weeks without a nightly run: D's 30-day retention is still open and older than 31 days.
    run = channel_rollup_nightly(now=at(plus(60), 0, 30))
    assert run.first_day == D
    assert ChannelDay.objects.get(state="autumn", day=D).retained_30 == 2


# --- The rollup ------------------------------------------------------------------------------------


def rows() -> list[tuple]:
    return list(
        ChannelDay.objects.order_by("state", "day", "staff_id").values_list(
            "state",
            "day",
            "staff_id",
            "adds",
            "deleted_by_customer",
            "deleted_by_staff",
            "retained_1",
            "retained_7",
            "retained_30",
        )
    )


def test_the_rollup_is_idempotent_and_drops_rows_that_lost_their_figures(company, history):
    now = at(plus(40))
    assert channel_days_rollup(first_day=plus(-10), last_day=plus(2), now=now) == 7
    first = rows()
    assert ("spring", D, company.sa.pk, 2, 0, 0, 2, 1, 1) in first
    # sb on D: b1 added at 23:59 (deleted by staff two days later) and the old follow's deletion.
    assert ("spring", D, company.sb.pk, 1, 1, 0, 1, 0, 0) in first
    assert channel_days_rollup(first_day=plus(-10), last_day=plus(2), now=now) == 7
    assert rows() == first

    # A follow that moved to another day (history corrected) leaves no row behind.
    Follow.objects.filter(pk=history["b2"].pk).update(added_at=at(plus(-5)))
    channel_days_rollup(first_day=plus(-10), last_day=plus(2), now=now)
    assert not ChannelDay.objects.filter(day=plus(1)).exists()
    assert ChannelDay.objects.get(day=plus(-5)).adds == 1


def test_a_rebuild_runs_once_and_records_its_progress(company, history, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks() as callbacks:
        run = channel_rollup_request(first_day=plus(-10), last_day=plus(2))
    assert len(callbacks) == 1  # the task is queued after commit
    run = channel_rollup_execute(run_id=run.pk)
    assert (run.status, run.days_done, run.days_total, run.percent, run.rows) == ("done", 13, 13, 100, 7)
    assert channel_rollup_execute(run_id=run.pk) is None  # a redelivered task does nothing


@pytest.mark.parametrize(
    ("first", "last", "message"),
    [
        (5, 1, "must not be after"),
        (-1, 0, "Only past days"),
        (-4000, -1, "At most"),
    ],
)
def test_a_rebuild_refuses_bad_ranges(company, first, last, message):
    from django.core.exceptions import ValidationError

    today = local_today()
    with pytest.raises(ValidationError, match=message):
        channel_rollup_request(first_day=today + timedelta(days=first), last_day=today + timedelta(days=last))


def test_the_nightly_schedule_is_created_once_by_name(db):
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.filter(name=NIGHTLY_TASK_NAME).delete()
    assert channel_rollup_schedule_ensure() is True
    assert channel_rollup_schedule_ensure() is False
    task = PeriodicTask.objects.get(name=NIGHTLY_TASK_NAME)
    assert (task.task, task.queue) == ("campaigns.tasks.analytics.channel_rollup_nightly_run", "bulk")
    from celery import current_app

    assert task.task in current_app.tasks


# --- Data scope ------------------------------------------------------------------------------------


def test_each_role_sees_the_figures_of_its_own_staff(company, history):
    channel_rollup_nightly(now=at(plus(3), 0, 30))
    users = company.users

    def adds_on_d(user) -> tuple[int, int]:
        item = day_of(read(user, first=D, last=D), D)
        return item.adds, item.deletions

    assert adds_on_d(users.admin) == adds_on_d(users.marketing) == (3, 1)
    assert adds_on_d(users.store_manager) == (2, 0)  # the East: sa only
    assert adds_on_d(users.guide_a) == (2, 0)
    assert adds_on_d(users.guide_b) == (1, 1)
    assert adds_on_d(users.nobody) == (0, 0)
    # The live days are scoped alike.
    assert day_of(read(users.guide_a, first=plus(1), last=plus(2)), plus(2)).deletions == 1
    assert day_of(read(users.guide_b, first=plus(1), last=plus(2)), plus(2)).deletions == 1


# --- Today's adds, without waiting for the night ---------------------------------------------------


def test_todays_adds_show_at_once_even_after_a_rollup(company):
    staff = StaffFactory(main_department=company.store_a)
    yesterday = local_today() - timedelta(days=1)
    channel_rollup_nightly()
    assert ChannelRollup.objects.get().last_day == yesterday
    for _ in range(7):
        FollowFactory(staff=staff, state="window")
    result = channel_analytics(
        user=company.users.admin, state="window", first_day=yesterday, last_day=local_today()
    )
    assert [(item.adds, item.live) for item in result.days] == [(0, False), (7, True)]


def test_the_tasks_run_the_rollups(company, history, django_capture_on_commit_callbacks):
    from campaigns.tasks import channel_rollup_nightly_run
    from scrm.celery import app as celery_app

    before = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    try:
        with django_capture_on_commit_callbacks(execute=True):
            run = channel_rollup_request(first_day=plus(-10), last_day=plus(2))
        run.refresh_from_db()
        assert (run.status, run.rows) == ("done", 7)
        assert channel_rollup_nightly_run.delay().get() == "done"
    finally:
        celery_app.conf.task_always_eager = before
