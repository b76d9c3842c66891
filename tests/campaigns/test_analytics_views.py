"""Channel analytics in the admin (page, chart, CSV, rebuild) and in the API."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from django.urls import reverse

from campaigns.models import Channel, ChannelRollup, LiveCode
from campaigns.services.analytics import channel_rollup_execute, channel_rollup_request, local_today
from customers.models import Follow
from scrm.admin import sidebar_navigation
from tests.admin.helpers import csv_rows, messages_of
from tests.api.conftest import api  # noqa: F401  (fixture)
from tests.campaigns.test_analytics import D, history, plus  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

PAGE = "admin:campaigns_channelday_changelist"
RANGE = {"from": plus(-1).isoformat(), "to": plus(3).isoformat()}


@pytest.fixture
def rolled(history):  # noqa: F811
    """The history, rolled up as a rebuild would."""
    Channel.objects.create(state="spring", name="Spring poster")
    run = channel_rollup_request(first_day=plus(-10), last_day=plus(2))
    channel_rollup_execute(run_id=run.pk)
    return history


@pytest.fixture
def login(client, company):
    def _login(who: str):
        client.force_login(getattr(company.users, who))
        return client

    return _login


# --- Admin -----------------------------------------------------------------------------------------


def test_the_page_explains_itself_when_there_is_nothing_yet(login):
    Follow.objects.update(state="")  # the company's follows came through no channel
    response = login("admin").get(reverse(PAGE))
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="analytics-empty"' in page
    assert "Create a live code, a group code or a channel" in page
    assert 'id="analytics-late"' in page  # no nightly rollup has run yet
    assert "Rebuild" in page
    assert len(response.context["analytics"].days) == 30  # the last 30 days by default


def test_the_page_shows_a_chart_and_a_table_of_a_channel(login, rolled):
    response = login("marketing").get(reverse(PAGE), {"state": "spring", **RANGE})
    assert response.status_code == 200
    page = response.content.decode()
    assert 'id="analytics-empty"' not in page
    assert 'data-type="bar"' in page and 'id="analytics-table"' in page
    chart = json.loads(response.context["chart"])
    assert chart["labels"] == [plus(n).isoformat() for n in range(-1, 4)]
    adds, deletions = chart["datasets"][1]["data"], chart["datasets"][2]["data"]
    assert (adds, deletions) == ([0, 3, 1, 0, 0], [0, -1, 0, -2, 0])
    totals = response.context["analytics"].totals
    assert (totals.adds, totals.deleted_by_customer, totals.deleted_by_staff, totals.net) == (4, 2, 1, 1)
    # Retention of D after 1 day: 3 of 3 (all were still there a day later).
    [(item, cells)] = [row for row in response.context["rows"] if row[0].day == D]
    assert cells[0] == (3, "100.0%")


def test_all_channels_are_ranked_by_adds_with_links_to_each(login, rolled):
    response = login("admin").get(reverse(PAGE), RANGE)
    ranked = [
        (item.state, item.adds, item.deletions, bool(link)) for item, link in response.context["by_channel"]
    ]
    # summer has no Channel row (a way made elsewhere): listed, without a link.
    assert ranked == [("spring", 4, 3, True), ("summer", 1, 1, False)]
    assert 'id="analytics-by-channel"' in response.content.decode()
    scoped = login("guide_b").get(reverse(PAGE), RANGE).context["by_channel"]
    assert [(item.state, item.adds) for item, _ in scoped] == [("spring", 2)]
    assert login("admin").get(reverse(PAGE), {"state": "spring", **RANGE}).context["by_channel"] is None


def test_a_live_code_shows_the_figures_of_its_channel(login, rolled):
    code = LiveCode.objects.create(name="Spring code", channel=Channel.objects.get(state="spring"))
    response = login("admin").get(reverse(PAGE), {"live_code": code.pk, **RANGE})
    assert response.context["analytics"].totals.adds == 4
    assert response.context["channel"].state == "spring"


def test_a_store_manager_sees_the_figures_of_their_staff_only(login, rolled):
    response = login("store_manager").get(reverse(PAGE), {"state": "spring", **RANGE})
    assert response.status_code == 200
    assert response.context["analytics"].totals.adds == 2  # sa's two adds on D
    assert not response.context["can_rebuild"]
    titles = [item["title"] for group in sidebar_navigation(response.wsgi_request) for item in group["items"]]
    assert "Channel analytics" in titles


def test_a_login_without_a_role_may_not_open_it(login):
    assert login("nobody").get(reverse(PAGE)).status_code == 403


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"from": "2026-03-05", "to": "2026-03-01"}, "must not be after"),
        ({"from": "2024-01-01", "to": "2026-03-01"}, "at most 366 days"),
        ({"from": "yesterday"}, "Enter a valid date"),
        ({"state": "no-such-channel"}, "Select a valid choice"),
    ],
)
def test_bad_filters_are_explained_on_the_page(login, query, message):
    response = login("admin").get(reverse(PAGE), query)
    assert response.status_code == 200
    assert message in response.content.decode()
    assert response.context["analytics"] is None


def test_the_csv_has_one_row_per_day(login, rolled):
    response = login("admin").get(reverse("admin:campaigns_channelday_export"), {"state": "spring", **RANGE})
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    assert "channel-analytics-spring-" in response["Content-Disposition"]
    header, *lines = csv_rows(response)
    assert header[:6] == ["day", "channel (state)", "adds", "deleted by customer", "deleted by staff", "net"]
    assert header[6:8] == ["retained after 1 days", "retention after 1 days"]
    assert lines[1][:8] == [D.isoformat(), "spring", "3", "1", "0", "2", "3", "100.0%"]
    assert [line[0] for line in lines] == [plus(n).isoformat() for n in range(-1, 4)]


def test_the_csv_of_bad_filters_goes_back_to_the_page(login):
    response = login("admin").get(
        reverse("admin:campaigns_channelday_export"), {"from": "2026-03-05", "to": "2026-03-01"}
    )
    assert response.status_code == 302
    assert any("must not be after" in m for m in messages_of(response))


def test_a_rebuild_is_queued_from_the_page(login, rolled, django_capture_on_commit_callbacks):
    client = login("marketing")
    yesterday = local_today() - timedelta(days=1)
    with django_capture_on_commit_callbacks() as callbacks:
        response = client.post(
            reverse("admin:campaigns_channelday_rebuild"),
            {"first_day": (yesterday - timedelta(days=2)).isoformat(), "last_day": yesterday.isoformat()},
        )
    assert response.status_code == 302 and len(callbacks) == 1
    run = ChannelRollup.objects.order_by("-id").first()
    assert (run.status, run.days_total, run.trigger) == ("queued", 3, "admin")
    page = client.get(response["Location"])
    assert 'id="analytics-runs"' in page.content.decode()
    assert '<meta http-equiv="refresh"' in page.content.decode()  # follows the progress


def test_a_rebuild_of_today_is_refused_with_a_message(login):
    today = local_today().isoformat()
    response = login("admin").post(
        reverse("admin:campaigns_channelday_rebuild"), {"first_day": today, "last_day": today}
    )
    assert response.status_code == 302
    assert any("Only past days" in m for m in messages_of(response))
    assert not ChannelRollup.objects.exists()


def test_only_marketing_roles_rebuild(login):
    day = (local_today() - timedelta(days=1)).isoformat()
    response = login("store_manager").post(
        reverse("admin:campaigns_channelday_rebuild"), {"first_day": day, "last_day": day}
    )
    assert response.status_code == 403


# --- API -------------------------------------------------------------------------------------------

URL = "/api/v1/channel-analytics/"


def test_the_api_gives_the_days_of_a_channel(api, rolled):  # noqa: F811
    response = api("marketing").get(URL, {"state": "spring", **RANGE})
    assert response.status_code == 200, response.content
    body = response.json()
    assert (body["state"], body["first_day"], body["last_day"]) == (
        "spring",
        plus(-1).isoformat(),
        plus(3).isoformat(),
    )
    assert body["totals"] == {"adds": 4, "deleted_by_customer": 2, "deleted_by_staff": 1, "net": 1}
    day = body["days"][1]
    assert day["day"] == D.isoformat()
    assert (day["adds"], day["deleted_by_customer"], day["deleted_by_staff"], day["net"]) == (3, 1, 0, 2)
    assert day["retention"] == [
        {"days": 1, "retained": 3, "rate": 1.0},
        {"days": 7, "retained": 1, "rate": 0.3333},  # a2 and b1 were deleted two days later
        {"days": 30, "retained": 1, "rate": 0.3333},
    ]


def test_the_api_reads_a_live_code_and_scopes_a_guide(api, rolled):  # noqa: F811
    code = LiveCode.objects.create(name="Spring code", channel=Channel.objects.get(state="spring"))
    assert api("admin").get(URL, {"live_code": code.pk, **RANGE}).json()["totals"]["adds"] == 4
    assert api("guide_b").get(URL, {"live_code": code.pk, **RANGE}).json()["totals"]["adds"] == 2


def test_the_api_needs_a_role(api):  # noqa: F811
    assert api("nobody").get(URL).status_code == 403


@pytest.mark.parametrize(
    ("query", "field", "message"),
    [
        ({"from": "2026-13-01"}, "from", "Date has wrong format"),
        ({"from": "2026-03-05", "to": "2026-03-01"}, "from", "Must not be after `to`"),
        ({"from": "2024-01-01", "to": "2026-03-01"}, "from", "At most 366 days"),
        ({"from": "2999-01-01", "to": "2999-01-02"}, "from", "Must not be after today"),
        ({"state": "no-such-channel"}, "state", "No channel has this state"),
        ({"live_code": "999999"}, "live_code", "No live code has this id"),
        ({"live_code": "abc"}, "live_code", "A valid integer is required"),
        ({"state": "x" * 65}, "state", "no more than 64"),
        ({"state": "spring", "live_code": "1"}, "non_field_errors", "not both"),
    ],
)
def test_bad_parameters_are_400_with_a_message(api, rolled, query, field, message):  # noqa: F811
    response = api("admin").get(URL, query)
    assert response.status_code == 400, response.content
    assert message in " ".join(response.json()[field])


def test_the_answer_matches_its_schema(api, rolled):  # noqa: F811
    from jsonschema import Draft202012Validator
    from rest_framework.test import APIClient

    from tests.api.test_schema import _json_schema

    schema = APIClient().get(reverse("api-v1:schema"), {"format": "json"}).json()
    operation = schema["paths"][URL]["get"]
    assert {p["name"] for p in operation["parameters"]} == {"state", "live_code", "from", "to"}
    ref = operation["responses"]["200"]["content"]["application/json"]["schema"]["$ref"]
    validator = Draft202012Validator({"$ref": ref, "components": _json_schema(schema["components"])})
    for query in ({"state": "spring", **RANGE}, {}):
        body = api("admin").get(URL, query).json()
        assert not [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(body)]
