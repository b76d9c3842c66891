"""Who a live code lists, decided by a pure function over a small input and a fixed clock."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from campaigns.services.eligibility import (
    BACKUP_WAITING,
    CAPPED,
    INACTIVE,
    LIVE,
    NO_CONTACT,
    NOT_PICKED,
    OFF_DUTY,
    CapPolicy,
    Rules,
    Seat,
    Special,
    auto_accept_now,
    livecode_eligibility,
    next_boundary,
    seat_cap,
)
from campaigns.services.livecodes import template_check, template_render

TZ = ZoneInfo("Asia/Shanghai")
# A Wednesday (weekday 2).
NOON = datetime(2026, 11, 25, 12, 0, tzinfo=TZ)
POLICY = CapPolicy(new_account_days=30, new_account_cap=60, established_cap=200)
OLD = NOON - timedelta(days=400)
WORKDAYS = tuple((day, time(9), time(18)) for day in range(5))


def seat(n, **kwargs):
    kwargs.setdefault("wecom_created_at", OLD)
    return Seat(staff_id=n, userid=f"u{n}", name=f"Staff {n}", **kwargs)


def decide(rules=None, seats=(), now=NOON):
    return livecode_eligibility(rules=rules or Rules(), seats=list(seats), now=now, policy=POLICY)


def reasons(result):
    return {s.seat.userid: s.reason for s in result.seats}


# --- caps -----------------------------------------------------------------------------------------


def test_cap_precedence_member_then_code_then_account_age():
    assert seat_cap(seat(1, daily_cap=5), Rules(daily_cap=9), POLICY, NOON) == 5
    assert seat_cap(seat(1), Rules(daily_cap=9), POLICY, NOON) == 9
    assert seat_cap(seat(1), Rules(), POLICY, NOON) == 200
    young = seat(1, wecom_created_at=NOON - timedelta(days=29))
    assert seat_cap(young, Rules(), POLICY, NOON) == 60
    assert seat_cap(seat(1, wecom_created_at=NOON - timedelta(days=30)), Rules(), POLICY, NOON) == 200
    assert seat_cap(seat(1, wecom_created_at=None), Rules(), POLICY, NOON) == 60  # unknown: the safer cap
    assert seat_cap(seat(1, daily_cap=0), Rules(daily_cap=9), POLICY, NOON) == 0


def test_capped_members_leave_the_list_and_backups_come_in_when_all_are_capped():
    seats = [seat(1, adds_today=2), seat(2, adds_today=1), seat(3, adds_today=0), seat(4, is_backup=True)]
    result = decide(Rules(daily_cap=2), seats)
    assert result.users == ("u2", "u3")
    assert reasons(result) == {"u1": CAPPED, "u2": LIVE, "u3": LIVE, "u4": BACKUP_WAITING}
    assert result.statuses[1].cap == 2 and not result.backups_live

    seats = [seat(1, adds_today=2), seat(2, adds_today=2), seat(3, adds_today=2), seat(4, is_backup=True)]
    result = decide(Rules(daily_cap=2), seats)
    assert result.users == ("u4",) and result.backups_live
    assert reasons(result)["u4"] == LIVE


def test_a_backup_has_its_own_cap_and_nobody_live_gives_an_empty_list():
    seats = [seat(1, adds_today=2), seat(2, is_backup=True, adds_today=5, daily_cap=5)]
    result = decide(Rules(daily_cap=2), seats)
    assert result.users == ()
    assert reasons(result) == {"u1": CAPPED, "u2": CAPPED}
    assert not result.backups_live


def test_inactive_and_contactless_members_are_never_live():
    seats = [seat(1, active=False), seat(2, contact_enabled=False), seat(3)]
    result = decide(Rules(), seats)
    assert result.users == ("u3",)
    assert reasons(result) == {"u1": INACTIVE, "u2": NO_CONTACT, "u3": LIVE}


# --- hours ----------------------------------------------------------------------------------------


def test_outside_working_hours_only_backups_are_live():
    rules = Rules(hours=WORKDAYS)
    seats = [seat(1), seat(2), seat(3, is_backup=True)]
    evening = NOON.replace(hour=20)
    result = decide(rules, seats, evening)
    assert result.users == ("u3",) and not result.on_duty
    assert reasons(result) == {"u1": OFF_DUTY, "u2": OFF_DUTY, "u3": LIVE}
    assert decide(rules, seats, NOON).users == ("u1", "u2")
    saturday = datetime(2026, 11, 28, 12, tzinfo=TZ)
    assert decide(rules, seats, saturday).users == ("u3",)


def test_hours_are_half_open_and_several_spans_a_day_work():
    rules = Rules(hours=((2, time(9), time(12)), (2, time(13), time(18))))
    seats = [seat(1), seat(2, is_backup=True)]
    assert decide(rules, seats, NOON.replace(hour=9)).users == ("u1",)
    assert decide(rules, seats, NOON).users == ("u2",)  # 12:00 is the lunch break
    assert decide(rules, seats, NOON.replace(hour=13, minute=30)).users == ("u1",)
    assert decide(rules, seats, NOON.replace(hour=18)).users == ("u2",)


def test_no_hours_means_always_on_duty():
    assert decide(Rules(), [seat(1)], NOON.replace(hour=3)).users == ("u1",)


def test_special_dates_override_the_weekday_hours():
    closed = Special(date(2026, 11, 24), date(2026, 11, 26), closed=True)
    seats = [seat(1), seat(2, is_backup=True)]
    assert decide(Rules(hours=WORKDAYS, specials=(closed,)), seats).users == ("u2",)
    late = Special(date(2026, 11, 25), date(2026, 11, 25), start=time(14), end=time(22))
    rules = Rules(hours=WORKDAYS, specials=(late,))
    assert decide(rules, seats, NOON).users == ("u2",)
    assert decide(rules, seats, NOON.replace(hour=20)).users == ("u1",)
    # A special day opens a code that has no hours that weekday (a Saturday promotion).
    saturday = Special(date(2026, 11, 28), date(2026, 11, 28))
    sat_noon = datetime(2026, 11, 28, 12, tzinfo=TZ)
    assert decide(Rules(hours=WORKDAYS, specials=(saturday,)), seats, sat_noon).users == ("u1",)
    # Outside the range the weekday hours apply again.
    assert decide(rules, seats, NOON + timedelta(days=1)).users == ("u1",)


# --- strategies -----------------------------------------------------------------------------------


def test_round_robin_lists_every_live_member():
    seats = [seat(1, adds_today=5), seat(2), seat(3, adds_today=1)]
    assert decide(Rules(strategy="round_robin"), seats).users == ("u1", "u2", "u3")


def test_least_loaded_lists_those_with_the_fewest_adds_today():
    seats = [seat(1, adds_today=3), seat(2, adds_today=1), seat(3, adds_today=1), seat(4, is_backup=True)]
    result = decide(Rules(strategy="least_loaded"), seats)
    assert result.users == ("u2", "u3")
    assert reasons(result) == {"u1": NOT_PICKED, "u2": LIVE, "u3": LIVE, "u4": BACKUP_WAITING}


def test_weighted_lists_those_furthest_behind_their_share():
    seats = [
        seat(1, weight=3, adds_today=3),
        seat(2, weight=1, adds_today=1),
        seat(3, weight=2, adds_today=1),
    ]
    # 3/3 = 1, 1/1 = 1, 1/2 = 0.5: the third is behind.
    assert decide(Rules(strategy="weighted"), seats).users == ("u3",)
    seats = [seat(1, weight=3, adds_today=3), seat(2, weight=1, adds_today=1)]
    assert decide(Rules(strategy="weighted"), seats).users == ("u1", "u2")


def test_weighted_over_a_day_gives_adds_in_proportion_to_weight():
    adds = {1: 0, 2: 0}
    weights = {1: 3, 2: 1}
    for _ in range(40):
        seats = [seat(n, weight=weights[n], adds_today=adds[n]) for n in (1, 2)]
        listed = decide(Rules(strategy="weighted"), seats).users
        adds[int(listed[0][1:])] += 1  # WeCom's rotation starts with the first listed
    assert adds == {1: 30, 2: 10}


def test_strategies_apply_among_backups_too():
    seats = [
        seat(1, adds_today=9, daily_cap=9),
        seat(2, is_backup=True, adds_today=2),
        seat(3, is_backup=True),
    ]
    assert decide(Rules(strategy="least_loaded"), seats).users == ("u3",)


# --- auto-accept and the next review ----------------------------------------------------------------


def test_auto_accept_follows_the_flag_and_its_window():
    assert auto_accept_now(Rules(skip_verify=False), NOON) is False
    assert auto_accept_now(Rules(), NOON) is True
    window = Rules(auto_accept_from=time(9), auto_accept_until=time(18))
    assert auto_accept_now(window, NOON) is True
    assert auto_accept_now(window, NOON.replace(hour=18)) is False
    overnight = Rules(auto_accept_from=time(22), auto_accept_until=time(8))
    assert auto_accept_now(overnight, NOON.replace(hour=23)) is True
    assert auto_accept_now(overnight, NOON.replace(hour=7)) is True
    assert auto_accept_now(overnight, NOON) is False
    assert auto_accept_now(Rules(auto_accept_from=time(20)), NOON) is False
    assert auto_accept_now(Rules(auto_accept_until=time(13)), NOON) is True
    assert decide(window, [seat(1)], NOON.replace(hour=19)).skip_verify is False


def test_next_review_is_the_next_time_edge_or_midnight():
    rules = Rules(hours=WORKDAYS, auto_accept_from=time(12, 30), auto_accept_until=time(17))
    assert next_boundary(rules, NOON.replace(hour=8)) == NOON.replace(hour=9)
    assert next_boundary(rules, NOON) == NOON.replace(hour=12, minute=30)
    assert next_boundary(rules, NOON.replace(hour=17)) == NOON.replace(hour=18)
    midnight = datetime(2026, 11, 26, 0, 0, tzinfo=TZ)
    assert next_boundary(rules, NOON.replace(hour=18)) == midnight
    assert next_boundary(Rules(), NOON) == midnight
    # A special day's hours replace the weekday's edges.
    special = Special(date(2026, 11, 25), date(2026, 11, 25), start=time(14), end=time(22))
    assert next_boundary(Rules(hours=WORKDAYS, specials=(special,)), NOON) == NOON.replace(hour=14)
    # The window's edges matter only when auto-accept is on.
    assert next_boundary(Rules(skip_verify=False, auto_accept_from=time(13)), NOON) == midnight
    assert decide(rules, [seat(1)], NOON).next_review_at == NOON.replace(hour=12, minute=30)


# --- templates --------------------------------------------------------------------------------------


def test_templates_render_and_are_cut_to_wecoms_limits():
    text = template_render("{customer}·{staff}", customer="王小明", staff="Li", code="C", limit=20)
    assert text == "王小明·Li"
    assert len(template_render("{customer}", customer="x" * 40, staff="", code="", limit=20)) == 20


@pytest.mark.parametrize(
    ("template", "limit", "problems"),
    [("VIP {customer}", 20, 0), ("{name}", 20, 1), ("x" * 21, 20, 1), ("x" * 21 + "{foo}", 20, 2)],
)
def test_template_checks(template, limit, problems):
    assert len(template_check(template, limit, "remark")) == problems
