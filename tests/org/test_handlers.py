"""change_contact callbacks, handled against the sandbox over HTTP.

Callbacks are posted encrypted to /wecom/callback/ and processed by the inbox (eager Celery);
the handlers fetch from the sandbox over HTTP. Handler idempotency on its own is checked by
dispatching the same parsed event twice.
"""

from __future__ import annotations

import time

import pytest

from customers.models import Follow
from scrm.org.models import Department, Staff
from scrm.sandbox.models import SandboxCall, SandboxDepartment, SandboxMember
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom.client import wecom_clients_close
from scrm.wecom.events import dispatch, event_parse
from scrm.wecom.models import CallbackInbox
from tests.factories import FollowFactory
from tests.wecom.conftest import deliver, eager_celery  # noqa: F401  (fixtures)

CORP = "wworghandlers"
SECRET = "org-handlers-contact-secret"


@pytest.fixture
def corp(live_server, settings):
    settings.WECOM_CORP_ID = CORP
    settings.WECOM_SECRET = SECRET
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    wecom_clients_close()
    corp = sandbox_corp_create(corp_id=CORP, contact_secret=SECRET, members=2, contacts_per_member=0)
    yield corp
    wecom_clients_close()


def contact_event(change_type: str, *, create_time: int | None = None, **fields: str) -> str:
    extra = "".join(f"<{name}><![CDATA[{value}]]></{name}>" for name, value in fields.items())
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{create_time or int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[change_contact]]></Event><ChangeType><![CDATA[{change_type}]]></ChangeType>"
        f"{extra}</xml>"
    )


def deliver_ok(deliver, xml: str, times: int = 1) -> None:  # noqa: F811
    for _ in range(times):
        response = deliver(xml)
        assert response.status_code == 200


@pytest.fixture
def handle(corp, deliver):  # noqa: F811
    """Post a callback (``times`` times, as WeCom's retries) and check the inbox processed it."""

    def post(xml: str, times: int = 1) -> None:
        for _ in range(times):
            assert deliver(xml).status_code == 200
        row = CallbackInbox.objects.get(dedupe_key=event_parse(xml).dedupe_key)
        assert row.status == CallbackInbox.Status.DONE, row.last_error

    return post


def dispatch_twice(xml: str) -> None:
    """Run the handlers of one event twice, as a re-dispatch after a failure would."""
    event = event_parse(xml)
    dispatch(event)
    dispatch(event)


def test_create_user_delivered_three_times_is_processed_once(corp, deliver):  # noqa: F811
    SandboxMember.objects.create(
        corp_id=CORP,
        userid="newguide",
        name="New Guide",
        departments=[2],
        main_department=2,
        position="Guide",
    )
    Department.objects.create(wecom_id=2, name="Sales", path="/2/")
    deliver_ok(deliver, contact_event("create_user", UserID="newguide"), times=3)
    assert CallbackInbox.objects.get().status == CallbackInbox.Status.DONE
    assert SandboxCall.objects.filter(path="user/get").count() == 1
    staff = Staff.objects.get(userid="newguide")
    assert (staff.name, staff.position, staff.status, staff.contact_enabled) == (
        "New Guide",
        "Guide",
        "active",
        True,
    )
    assert list(staff.departments.values_list("wecom_id", flat=True)) == [2]


def test_update_user_rereads_the_member_and_follows_a_new_userid(corp, handle):
    handle(contact_event("create_user", UserID="user1"))
    SandboxMember.objects.filter(corp_id=CORP, userid="user1").update(userid="alice", name="Alice")
    handle(contact_event("update_user", UserID="user1", NewUserID="alice"))
    assert not Staff.objects.filter(userid="user1").exists()
    assert Staff.objects.get(userid="alice").name == "Alice"
    assert Staff.objects.count() == 1


def test_delete_user_delivered_three_times_departs_the_member_once(corp, deliver):  # noqa: F811
    deliver_ok(deliver, contact_event("create_user", UserID="user2"))
    follow = FollowFactory(staff=Staff.objects.get(userid="user2"))
    SandboxMember.objects.filter(corp_id=CORP, userid="user2").delete()
    at = int(time.time()) - 60
    deliver_ok(deliver, contact_event("delete_user", create_time=at, UserID="user2"), times=3)
    staff = Staff.objects.get(userid="user2")
    assert staff.status == Staff.Status.DEPARTED
    assert int(staff.departed_at.timestamp()) == at
    assert Follow.objects.get(pk=follow.pk).staff_id == staff.pk
    assert CallbackInbox.objects.filter(change_type="delete_user").count() == 1


def test_update_user_of_a_deleted_member_departs_them(corp, handle):
    handle(contact_event("create_user", UserID="user2"))
    SandboxMember.objects.filter(corp_id=CORP, userid="user2").delete()
    handle(contact_event("update_user", UserID="user2"))
    assert Staff.objects.get(userid="user2").status == Staff.Status.DEPARTED


def test_party_created_moved_and_deleted(corp, handle):
    handle(contact_event("create_party", Id="1"))  # the root and its subtree
    assert dict(Department.objects.values_list("wecom_id", "path")) == {1: "/1/", 2: "/1/2/"}

    SandboxDepartment.objects.create(corp_id=CORP, dept_id=5, name="North", parentid=1, order=5)
    handle(contact_event("create_party", Id="5", Name="North", ParentId="1"))
    SandboxDepartment.objects.filter(corp_id=CORP, dept_id=2).update(parentid=5, name="Sales North")
    handle(contact_event("update_party", Id="2", ParentId="5"), times=3)
    sales = Department.objects.get(wecom_id=2)
    assert (sales.name, sales.parent.wecom_id, sales.path) == ("Sales North", 5, "/1/5/2/")

    SandboxDepartment.objects.filter(corp_id=CORP, dept_id=2).delete()
    handle(contact_event("delete_party", Id="2"))
    assert not Department.objects.filter(wecom_id=2).exists()
    handle(contact_event("delete_party", Id="5"))
    assert list(Department.objects.values_list("wecom_id", flat=True)) == [1]


def test_a_handler_run_twice_changes_nothing_more(corp, handle):
    xml = contact_event("update_user", UserID="user1")
    handle(xml)
    before = Staff.objects.values().get()
    dispatch_twice(xml)
    assert Staff.objects.values().get() == before
    handle(contact_event("delete_user", UserID="user1"))
    departed = Staff.objects.values().get()
    dispatch_twice(contact_event("delete_user", UserID="user1", create_time=int(time.time()) + 60))
    assert Staff.objects.values().get() == departed


def test_delete_user_departs_the_member_at_the_event_time(corp, handle):
    handle(contact_event("create_user", UserID="user1"))
    at = int(time.time()) - 120
    handle(contact_event("delete_user", create_time=at, UserID="user1"), times=2)
    staff = Staff.objects.get(userid="user1")
    assert staff.status == Staff.Status.DEPARTED
    assert int(staff.departed_at.timestamp()) == at
