from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from django.core.exceptions import ImproperlyConfigured

from campaigns.services.quiet_hours import quiet_until

SH = ZoneInfo("Asia/Shanghai")


def at(hour: int, minute: int = 0, day: int = 10) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=SH)


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(21, 29), None),
        (at(21, 30), at(8, 0, day=11)),
        (at(23, 59), at(8, 0, day=11)),
        (at(3, 0), at(8, 0)),
        (at(8, 0), None),
        (at(12, 0), None),
    ],
)
def test_quiet_hours_that_wrap_midnight(settings, moment, expected):
    settings.OUTREACH_QUIET_HOURS = "21:30-08:00"
    assert quiet_until(moment) == expected


def test_quiet_hours_inside_one_day_and_off(settings):
    settings.OUTREACH_QUIET_HOURS = "12:00-14:00"
    assert quiet_until(at(13, 0)) == at(14, 0)
    assert quiet_until(at(14, 0)) is None
    settings.OUTREACH_QUIET_HOURS = ""
    assert quiet_until(at(23, 0)) is None


def test_a_malformed_setting_says_what_it_wants(settings):
    settings.OUTREACH_QUIET_HOURS = "late"
    with pytest.raises(ImproperlyConfigured, match="HH:MM-HH:MM"):
        quiet_until(at(1, 0))
