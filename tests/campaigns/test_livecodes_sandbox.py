"""Staff live codes against the sandbox over HTTP: the way WeCom holds, WeChat users scanning it
through the sandbox's player move, the callbacks delivered to our endpoint and processed.

Callbacks are delivered by the sandbox itself ("sync": right after the scan commits) to the live
server, whose tasks run eagerly; every WeCom call goes over HTTP to the sandbox, which records it.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import httpx
import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.utils import timezone

from campaigns.models import LiveCode, StaffAdd, StaffDailyAdds
from campaigns.services.livecodes import (
    LiveCodeSyncError,
    livecode_add_apply,
    livecode_add_record,
    livecode_delete,
    livecode_evaluate,
    livecode_reviews_due,
    livecode_save,
    livecode_sync,
)
from customers.models import CustomerEvent, Follow, FollowTag, Tag, TagGroup
from scrm.org.models import Staff
from scrm.sandbox.actions.acquisition import scan_contact_way
from scrm.sandbox.callbacks import callback_envelope
from scrm.sandbox.models import SandboxCall, SandboxCallback, SandboxContactWay, SandboxFollow, SandboxMember
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom.client import wecom_client, wecom_clients_close
from scrm.wecom.errors import ArgumentError
from scrm.wecom.models import CallbackInbox
from tests.wecom.conftest import eager_celery  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

OLD = timezone.now() - timedelta(days=400)
WORKDAYS = [{"weekday": d, "start": time(9), "end": time(18)} for d in range(5)]


@pytest.fixture
def corp(live_server, settings, eager_celery):  # noqa: F811
    """A sandbox corp of four members, our API pointed at it, its callbacks posted to us."""
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    settings.WECOM_SANDBOX_CALLBACK_URL = live_server.url + "/wecom/callback/"
    settings.WECOM_SANDBOX_CALLBACKS = "sync"
    wecom_clients_close()
    cache.clear()
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID, contact_secret=settings.WECOM_SECRET, members=4, contacts_per_member=0
    )
    yield corp
    wecom_clients_close()


@pytest.fixture
def staff(corp):
    return [
        Staff.objects.create(userid=f"user{i}", name=f"Member {i}", wecom_created_at=OLD) for i in range(1, 5)
    ]


def create(staff, *, backups=(3,), state="fair", hours=None, **fields):
    fields.setdefault("name", "Spring fair")
    members = [{"staff": s, "is_backup": i in backups} for i, s in enumerate(staff)]
    return livecode_save(code=LiveCode(**fields), state=state, members=members, hours=hours)


def way_of(code):
    return SandboxContactWay.objects.get(config_id=code.config_id)


def scan(corp, code, **data):
    return scan_contact_way(corp.corp_id, {"config_id": code.config_id, **data})


def calls(path):
    return SandboxCall.objects.filter(path=f"externalcontact/{path}", errcode=0).count()


def test_creating_a_code_creates_the_way_with_the_live_users(staff):
    code = create(staff, skip_verify=False, exclusive=True)
    way = way_of(code)
    assert (way.type, way.scene, way.state, way.skip_verify, way.is_exclusive) == (2, 2, "fair", False, True)
    assert way.user == ["user1", "user2", "user3"] and way.party == []
    assert code.wecom_users == ["user1", "user2", "user3"] and code.wecom_state == "fair"
    assert code.qr_code == way.qr_code and code.sync_error == ""
    assert code.next_review_at is not None
    # Nothing changed: a review writes nothing.
    assert livecode_sync(code_id=code.pk) is False
    assert calls("update_contact_way") == 0


def test_seven_scans_over_three_staff_capped_at_two_the_seventh_goes_to_the_backup(corp, staff):
    code = create(staff, daily_cap=2)
    reached = [scan(corp, code, name=f"Visitor {i}")["userid"] for i in range(1, 8)]

    assert reached == ["user1", "user2", "user3", "user1", "user2", "user3", "user4"]
    assert set(CallbackInbox.objects.values_list("status", flat=True)) == {"done"}
    assert StaffAdd.objects.filter(live_code=code).count() == 7
    today = timezone.localdate()
    counts = dict(StaffDailyAdds.objects.filter(day=today).values_list("staff__userid", "count"))
    assert counts == {"user1": 2, "user2": 2, "user3": 2, "user4": 1}
    # Rewritten only when a cap filled: after the 4th, 5th and 6th adds.
    assert calls("update_contact_way") == 3
    code.refresh_from_db()
    assert code.wecom_users == ["user4"] == way_of(code).user
    assert [s.reason for s in livecode_evaluate(code=code).seats] == ["capped", "capped", "capped", "live"]


def test_the_same_add_callback_delivered_three_times_counts_once(corp, staff):
    code = create(staff, daily_cap=5)
    result = scan(corp, code, name="Once")
    row = SandboxCallback.objects.get(pk=result["callback"])
    for _ in range(2):  # WeCom's re-sends of the same callback
        body, params = callback_envelope(row, agent_id=None)
        response = httpx.post(
            django_settings.WECOM_SANDBOX_CALLBACK_URL,
            params=params,
            content=body.encode(),
            headers={"Content-Type": "text/xml"},
        )
        assert response.status_code == 200
    follow = Follow.objects.get()
    # And the handler itself, run again on the same add, counts nothing twice.
    for _ in range(2):
        assert livecode_add_record(follow=follow, state="fair", added_at=follow.added_at) == code
    assert StaffAdd.objects.count() == 1
    assert StaffDailyAdds.objects.get().count == 1


def test_outside_working_hours_only_backups_are_listed(staff):
    code = create(staff, hours=WORKDAYS)
    tz = timezone.get_current_timezone()
    saturday = datetime(2026, 11, 28, 11, 0, tzinfo=tz)
    monday_morning = datetime(2026, 11, 30, 9, 0, tzinfo=tz)

    assert livecode_sync(code_id=code.pk, now=saturday) in (True, False)
    code.refresh_from_db()
    assert way_of(code).user == ["user4"] == code.wecom_users
    assert code.next_review_at == datetime(2026, 11, 29, 0, 0, tzinfo=tz)  # midnight

    assert livecode_sync(code_id=code.pk, now=monday_morning) is True
    code.refresh_from_db()
    assert way_of(code).user == ["user1", "user2", "user3"]
    assert code.next_review_at == datetime(2026, 11, 30, 18, 0, tzinfo=tz)
    # Due reviews are claimed by their time only.
    assert livecode_reviews_due(now=datetime(2026, 11, 30, 17, 59, tzinfo=tz)) == []
    assert livecode_reviews_due(now=datetime(2026, 11, 30, 18, 0, tzinfo=tz)) == [code.pk]


def test_auto_tags_remark_and_description_are_applied_once(corp, staff):
    sandbox_tag = corp.tags[0]
    group = TagGroup.objects.create(name=sandbox_tag.group.name, wecom_id=sandbox_tag.group.group_id)
    tag = Tag.objects.create(group=group, name=sandbox_tag.name, wecom_id=sandbox_tag.tag_id)
    code = create(
        staff,
        remark_template="{customer}·{code}",
        description_template="Met {staff} through {code}",
        name="Fair",
    )
    code.tags.set([tag])
    result = scan(corp, code, name="王小明")

    pair = SandboxFollow.objects.get(contact__external_userid=result["external_userid"])
    assert pair.tag_ids == [sandbox_tag.tag_id]
    assert (pair.remark, pair.description) == ("王小明·Fair", "Met Member 1 through Fair")
    follow = Follow.objects.get()
    assert (follow.remark, follow.description) == ("王小明·Fair", "Met Member 1 through Fair")
    assert list(FollowTag.objects.values_list("tag_id", flat=True)) == [tag.pk]
    assert calls("mark_tag") == 1 and calls("remark") == 1
    tagged = CustomerEvent.objects.get(type=CustomerEvent.Type.TAGGED)
    assert (tagged.customer_id, tagged.staff_id) == (follow.customer_id, follow.staff_id)
    assert tagged.payload == {"tags": [{"id": tag.pk, "name": tag.name}], "live_code": "Fair"}

    livecode_add_apply(follow_id=follow.pk, code_id=code.pk)  # a redelivered task
    assert CustomerEvent.objects.filter(type=CustomerEvent.Type.TAGGED).count() == 1
    assert FollowTag.objects.count() == 1


def test_exclusive_way_sends_a_known_customer_back_to_their_staff(corp, staff):
    code = create(staff, exclusive=True, daily_cap=5)
    first = scan(corp, code, name="Regular")
    again = scan(corp, code, external_userid=first["external_userid"])
    assert again["userid"] == first["userid"] and again["already_contact"] is True
    assert again["callback"] is None
    assert SandboxCallback.objects.count() == 1 and StaffAdd.objects.count() == 1

    other = create(staff, state="plain", daily_cap=5, name="Plain")
    again = scan(corp, other, external_userid=first["external_userid"])
    assert again["userid"] != first["userid"] and "already_contact" not in again


def test_a_paused_code_keeps_its_way_and_is_not_rewritten(corp, staff):
    code = create(staff, daily_cap=1)
    code.status = LiveCode.Status.PAUSED
    code.save(update_fields=["status"])
    scan(corp, code, name="Paused")
    assert calls("update_contact_way") == 0
    assert way_of(code).user == ["user1", "user2", "user3"]
    assert StaffDailyAdds.objects.get().count == 1  # still counted against the cap
    assert livecode_sync(code_id=code.pk) is False
    assert LiveCode.objects.get().next_review_at is None


def test_deleting_a_code_deletes_the_way_and_keeps_the_channel(staff):
    code = create(staff)
    config_id = code.config_id
    livecode_delete(code=code)
    assert not SandboxContactWay.objects.filter(config_id=config_id).exists()
    assert not LiveCode.objects.exists()


def test_a_way_wecom_refuses_is_not_kept_and_says_why(staff):
    SandboxMember.objects.filter(userid__in=["user1", "user2", "user3", "user4"]).update(
        contact_enabled=False
    )
    with pytest.raises(LiveCodeSyncError, match="WeCom refused"):
        create(staff)
    assert not LiveCode.objects.exists()


def test_remark_limits_are_checked_before_calling(corp):
    client = wecom_client("contact")
    with pytest.raises(ArgumentError):
        client.externalcontact_remark("user1", "wm1", remark="x" * 21)
    with pytest.raises(ArgumentError):
        client.externalcontact_remark("user1", "wm1", description="x" * 151)
    with pytest.raises(ArgumentError):
        client.externalcontact_remark("user1", "wm1", remark_company="x" * 21)
    assert calls("remark") == 0


def test_the_minute_review_rewrites_only_codes_that_are_due(staff):
    from django_celery_beat.models import PeriodicTask

    from campaigns.services.livecodes import REVIEW_TASK_NAME, livecode_schedule_ensure
    from campaigns.tasks import livecode_reviews_run

    PeriodicTask.objects.filter(name=REVIEW_TASK_NAME).delete()
    assert livecode_schedule_ensure() is True
    assert livecode_schedule_ensure() is False
    task = PeriodicTask.objects.get(name=REVIEW_TASK_NAME)
    assert (task.task, task.queue, task.interval.every) == (
        "campaigns.tasks.livecodes.livecode_reviews_run",
        "realtime",
        60,
    )

    due = create(staff)
    later = create(staff, state="later", name="Later")
    # Since the last review the code was closed for today (a holiday): it goes to its backup.
    today = timezone.localdate()
    due.special_dates.create(
        first_day=today - timedelta(days=1), last_day=today + timedelta(days=1), closed=True
    )
    LiveCode.objects.filter(pk=due.pk).update(
        next_review_at=timezone.now() - timedelta(minutes=1), wecom_users=["user1", "user2", "user3"]
    )
    LiveCode.objects.filter(pk=later.pk).update(next_review_at=timezone.now() + timedelta(hours=1))
    before = calls("update_contact_way")
    assert livecode_reviews_run.apply().get() == 1
    due.refresh_from_db()
    assert due.wecom_users == ["user4"] == way_of(due).user
    assert calls("update_contact_way") == before + 1
    assert due.next_review_at > timezone.now()
    assert livecode_reviews_run.apply().get() == 0  # nothing else due


def test_departments_bring_their_staff_into_the_pool(corp, staff):
    from scrm.org.models import StaffDepartment
    from tests.factories import DepartmentFactory

    head = DepartmentFactory()
    store = DepartmentFactory(parent=head)
    for member in staff[1:3]:
        StaffDepartment.objects.create(staff=member, department=store)
    code = livecode_save(
        code=LiveCode(name="Store", daily_cap=1),
        state="store",
        members=[{"staff": staff[0]}, {"staff": staff[3], "is_backup": True}],
        departments=[head],
    )
    assert way_of(code).user == ["user1", "user2", "user3"]
    # An add by a department member fills their cap: the code is rewritten without them.
    first = scan(corp, code, name="A")
    assert first["userid"] == "user1"
    assert scan(corp, code, name="B")["userid"] == "user2"
    code.refresh_from_db()
    assert code.wecom_users == ["user3"]
