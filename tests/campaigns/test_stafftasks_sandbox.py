"""Staff task notices against the sandbox over HTTP: one WeCom app message (``message/send`` with
the app's secret) per person per round, listing up to five tasks and how many more; never twice
for the same task; a refused call is tried again next round.

The sandbox records every call it receives (``SandboxCall``): the checks count those.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from django.core.cache import cache

from campaigns.models import StaffTask
from campaigns.services.stafftasks import staff_tasks_create, staff_tasks_notify
from campaigns.tasks.stafftasks import staff_tasks_notify_run
from scrm.org.models import Staff
from scrm.sandbox.models import SandboxCall
from scrm.sandbox.services import sandbox_corp_create, sandbox_faults_set
from scrm.wecom.client import wecom_clients_close

pytestmark = pytest.mark.django_db(transaction=True)

NOW = datetime(2030, 3, 11, 9, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


@pytest.fixture
def staff(live_server, settings):
    """A sandbox corp of three members, our agent client pointed at it."""
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    settings.SCRM_PUBLIC_URL = "https://scrm.example.com"
    settings.STAFF_TASK_NOTICE_AHEAD_MINUTES = 60
    wecom_clients_close()
    cache.clear()
    sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID,
        contact_secret=settings.WECOM_SECRET,
        agent_secret=settings.WECOM_AGENT_SECRET,
        agentid=settings.WECOM_AGENT_ID,
        members=3,
        contacts_per_member=0,
    )
    yield [Staff.objects.create(userid=f"user{i}", name=f"Member {i}") for i in (1, 2, 3)]
    wecom_clients_close()


def add(staff, key: str, *, due_in: timedelta = timedelta(minutes=30), **fields) -> None:
    staff_tasks_create(
        tasks=[StaffTask(staff=staff, source_key=key, title=f"Send {key}", due_at=NOW + due_in, **fields)]
    )


def notices() -> list[SandboxCall]:
    return list(SandboxCall.objects.filter(path="message/send", errcode=0).order_by("id"))


def test_one_message_per_person_per_round_never_twice(staff):
    first, second, third = staff
    for i in range(7):
        add(first, f"a{i}", due_in=timedelta(minutes=10 + i))
    add(second, "b0", due_in=timedelta(hours=3))  # not due by the next window yet
    add(third, "c0", status="done")  # finished already

    assert staff_tasks_notify(now=NOW) == 1
    assert staff_tasks_notify(now=NOW + timedelta(minutes=2)) == 0  # the next round: nothing new
    [call] = notices()
    body = call.body
    assert (body["touser"], body["msgtype"], body["agentid"]) == ("user1", "textcard", 1000002)
    card = body["textcard"]
    assert card["title"] == "You have 7 new tasks"
    assert card["url"] == "https://scrm.example.com/m/tasks/"
    lines = card["description"].splitlines()
    assert len(lines) == 6 and lines[0].endswith("Send a0") and lines[-1] == "and 2 more"
    assert StaffTask.objects.filter(staff=first, notified_at__isnull=True).count() == 0
    assert StaffTask.objects.get(source_key="b0").notified_at is None

    # A new task for the first person and the second person's task coming due: one message each.
    add(first, "a7")
    later = NOW + timedelta(hours=2, minutes=30)
    assert staff_tasks_notify(now=later) == 2
    calls = notices()[1:]
    assert sorted(c.body["touser"] for c in calls) == ["user1", "user2"]
    to_first = next(c for c in calls if c.body["touser"] == "user1").body["textcard"]
    assert to_first["title"] == "You have 1 new task" and to_first["description"].endswith("Send a7")
    assert staff_tasks_notify(now=later) == 0
    assert len(notices()) == 3


def test_a_refused_call_is_tried_again_next_round(staff):
    add(staff[0], "a0")
    sandbox_faults_set(fail_next=1, fail_errcode=-1, fail_paths=["message/send"])
    assert staff_tasks_notify(now=NOW) == 0
    assert StaffTask.objects.get().notified_at is None
    assert SandboxCall.objects.filter(path="message/send", errcode=-1).count() == 1
    assert staff_tasks_notify(now=NOW + timedelta(minutes=2)) == 1
    assert len(notices()) == 1


def test_the_beat_task_sends_what_is_due_now(staff):
    from django.utils import timezone

    StaffTask.objects.create(staff=staff[1], source_key="now", title="Now", due_at=timezone.now())
    assert staff_tasks_notify_run.apply().get() == 1
    assert [c.body["touser"] for c in notices()] == ["user2"]


def test_departed_staff_are_not_messaged(staff):
    Staff.objects.filter(pk=staff[0].pk).update(status="departed", departed_at=NOW)
    add(staff[0], "a0")
    assert staff_tasks_notify(now=NOW) == 0
    assert notices() == []
