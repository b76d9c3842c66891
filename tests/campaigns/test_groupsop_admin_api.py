"""Group SOP rules in the REST API and the admin: written through the service (bad schedules, no
target, blocked words are 400s and form errors), read with their runs."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from django.utils import timezone

from campaigns.models import GroupSopRule, GroupSopRun, SensitiveWord, StaffTask
from campaigns.services.groupsop import group_sop_rule_save, group_sop_tick
from tests.admin.helpers import listed, url
from tests.api.conftest import api  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db

RULES = "/api/v1/group-sop-rules/"


def rule_body(company, **fields) -> dict:
    return {
        "name": "Monday post",
        "weekdays": [0],
        "time_of_day": "10:00",
        "groups": [company.ga.pk],
        "owners": [company.sb.pk],
        "action": "owner_tasks",
        "text": "本周新品",
        "attachments": [{"kind": "link", "title": "Shop", "link_url": "https://example.com/"}],
        **fields,
    }


def test_api_creates_reads_updates_and_deletes_a_rule(api, company):  # noqa: F811
    client = api("marketing")
    response = client.post(RULES, rule_body(company), format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert (data["weekdays"], data["time_of_day"], data["time_zone"]) == ([0], "10:00:00", "Asia/Shanghai")
    assert (data["groups"], data["owners"]) == ([company.ga.pk], [company.sb.pk])
    assert [a["title"] for a in data["attachments"]] == ["Shop"]
    rule = GroupSopRule.objects.get()
    assert rule.active_since is not None and rule.created_by == company.users.marketing

    response = client.patch(
        f"{RULES}{rule.pk}/", {"schedule_kind": "cron", "cron": "0 9 * * 1-5"}, format="json"
    )
    assert response.status_code == 200, response.content
    assert response.json()["cron"] == "0 9 * * 1-5"
    assert [a["title"] for a in response.json()["attachments"]] == ["Shop"]  # kept when not sent

    # The rule's occurrences, newest first; deleting the rule cancels the open tasks it made.
    GroupSopRule.objects.filter(pk=rule.pk).update(active_since=timezone.now() - timedelta(days=3))
    group_sop_tick(now=timezone.now())
    runs = client.get(f"{RULES}{rule.pk}/runs/")
    assert runs.status_code == 200
    assert len(runs.json()["results"]) == GroupSopRun.objects.filter(rule=rule).count()
    StaffTask.objects.create(
        staff=company.sa,
        title="t",
        due_at=timezone.now(),
        source_key="gsop:0:1",
        kind="group_sop",
        content={"rule_id": rule.pk},
    )
    assert client.delete(f"{RULES}{rule.pk}/").status_code == 204
    assert not GroupSopRule.objects.exists()
    assert StaffTask.objects.get(source_key="gsop:0:1").status == "canceled"


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"cron": "0 25 * * *", "schedule_kind": "cron"}, "cron"),
        ({"weekdays": []}, "weekdays"),
        ({"weekdays": [8]}, "weekdays"),
        ({"time_of_day": None}, "time_of_day"),
        ({"groups": [], "owners": []}, "groups"),
        ({"groups": [987654]}, "groups"),
        ({"time_zone": "Nowhere/City"}, "time_zone"),
        ({"text": "", "attachments": []}, "text"),
        ({"text": "买违禁品"}, "违禁"),
    ],
)
def test_api_refuses_bad_rules_with_a_400(api, company, fields, field):  # noqa: F811
    SensitiveWord.objects.create(word="违禁", action="block")
    response = api("admin").post(RULES, rule_body(company, **fields), format="json")
    assert response.status_code == 400, response.content
    assert field in response.content.decode()
    assert not GroupSopRule.objects.exists()


def test_api_lists_rules_in_a_fixed_number_of_queries(api, company, django_assert_max_num_queries):  # noqa: F811
    for i in range(12):
        group_sop_rule_save(
            rule=GroupSopRule(name=f"r{i}", weekdays=[i % 7], time_of_day=time(10), text="hi"),
            groups=[company.ga, company.gb],
        )
    client = api("guide_a")  # every role reads the rules; only marketing and admins write them
    with django_assert_max_num_queries(12):
        response = client.get(RULES)
    assert len(response.json()["results"]) == 12
    assert client.post(RULES, rule_body(company), format="json").status_code == 403


# --- admin ----------------------------------------------------------------------------------------


def admin_form(company, **fields) -> dict:
    data = {
        "name": "Monday post",
        "active": "on",
        "schedule_kind": "weekly",
        "weekdays": ["0", "3"],
        "time_of_day": "10:00",
        "cron": "",
        "time_zone": "Asia/Shanghai",
        "groups": [str(company.ga.pk)],
        "action": "owner_tasks",
        "text": "本周新品",
        "attachments-TOTAL_FORMS": "0",
        "attachments-INITIAL_FORMS": "0",
        "attachments-MIN_NUM_FORMS": "0",
        "attachments-MAX_NUM_FORMS": "9",
    }
    data.update(fields)
    return data


def test_admin_creates_a_weekly_rule(client, company):
    client.force_login(company.users.admin)
    response = client.post(url("campaigns.groupsoprule", "add"), admin_form(company))
    assert response.status_code == 302, response.context["adminform"].form.errors
    rule = GroupSopRule.objects.get()
    assert (rule.weekdays, rule.time_of_day, list(rule.groups.all())) == ([0, 3], time(10), [company.ga])
    assert rule.active_since is not None
    page = client.get(url("campaigns.groupsoprule"))
    assert listed(page) == [rule]
    assert "Monday, Thursday 10:00" in page.content.decode()


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"schedule_kind": "cron", "cron": "every monday"}, "Not a valid cron expression"),
        ({"weekdays": []}, "Choose at least one weekday"),
        ({"groups": []}, "Choose groups"),
        ({"text": ""}, "Give a text, an attachment, or both"),
    ],
)
def test_admin_shows_the_services_checks_as_form_errors(client, company, fields, expected):
    client.force_login(company.users.admin)
    response = client.post(url("campaigns.groupsoprule", "add"), admin_form(company, **fields))
    assert response.status_code == 200
    errors = str(response.context["adminform"].form.errors) + " ".join(
        str(i.formset.non_form_errors()) for i in response.context["inline_admin_formsets"]
    )
    assert expected in errors
    assert not GroupSopRule.objects.exists()


def test_admin_runs_are_read_only(client, company):
    rule = group_sop_rule_save(
        rule=GroupSopRule(name="r", weekdays=[0], time_of_day=time(10), text="hi"), groups=[company.ga]
    )
    run = GroupSopRun.objects.create(
        rule=rule,
        scheduled_for=timezone.now(),
        due_at=timezone.now(),
        status="skipped",
        reason="Missed: late",
    )
    client.force_login(company.users.admin)
    page = client.get(url("campaigns.groupsoprun"), {"status": "skipped"})
    assert listed(page) == [run] and "Missed: late" in page.content.decode()
    assert client.get(url("campaigns.groupsoprun", "add")).status_code == 403
