"""The org sync step against the sandbox over HTTP: departments, staff, memberships, departures."""

from __future__ import annotations

import pytest

from scrm.org.models import Department, Staff, StaffDepartment
from scrm.org.sync import org_sync
from scrm.sandbox.models import SandboxCall, SandboxDepartment, SandboxMember
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom.client import WecomClient
from scrm.wecom.sync import SyncContext
from tests.factories import FollowFactory

CORP = "wworgsync"
SECRET = "org-sync-contact-secret"


@pytest.fixture
def corp(live_server):
    corp = sandbox_corp_create(corp_id=CORP, contact_secret=SECRET, members=3, contacts_per_member=1)
    # A deeper tree: HQ(1) > Sales(2) > East(3) > Store 7(7), and HQ > Support(4).
    SandboxDepartment.objects.bulk_create(
        [
            SandboxDepartment(corp_id=CORP, dept_id=3, name="East", parentid=2, order=50),
            SandboxDepartment(corp_id=CORP, dept_id=7, name="Store 7", parentid=3, order=10),
            SandboxDepartment(corp_id=CORP, dept_id=4, name="Support", parentid=1, order=80),
        ]
    )
    SandboxMember.objects.filter(corp_id=CORP, userid="user2").update(
        departments=[7, 4], main_department=7, position="Guide", gender="2"
    )
    return corp


@pytest.fixture
def client(corp, live_server):
    client = WecomClient(CORP, SECRET, base_url=live_server.url + "/sandbox/cgi-bin", timeout=5.0)
    yield client
    client.close()


def run(client, mode="full") -> SyncContext:
    ctx = SyncContext(client=client, mode=mode, retry_delay=0)
    org_sync(ctx)
    return ctx


def snapshot():
    return (
        list(
            Department.objects.order_by("wecom_id").values_list(
                "wecom_id", "name", "parent__wecom_id", "path", "order"
            )
        ),
        list(
            Staff.objects.order_by("userid").values_list(
                "userid", "name", "status", "departed_at", "main_department__wecom_id", "position", "gender"
            )
        ),
        sorted(StaffDepartment.objects.values_list("staff__userid", "department__wecom_id")),
    )


def test_full_sync_builds_the_tree_and_the_staff(client):
    ctx = run(client)
    paths = dict(Department.objects.values_list("wecom_id", "path"))
    assert paths == {1: "/1/", 2: "/1/2/", 3: "/1/2/3/", 7: "/1/2/3/7/", 4: "/1/4/"}
    assert Department.objects.get(wecom_id=7).parent.wecom_id == 3
    guide = Staff.objects.get(userid="user2")
    assert (guide.name, guide.position, guide.gender, guide.status) == ("Member 2", "Guide", 2, "active")
    assert guide.main_department.wecom_id == 7
    assert sorted(guide.departments.values_list("wecom_id", flat=True)) == [4, 7]
    assert ctx.counts["org"] == {"departments created": 5, "staff created": 3}


def test_a_second_full_sync_changes_nothing(client):
    run(client)
    first = snapshot()
    ctx = run(client)
    assert snapshot() == first
    assert ctx.counts.get("org", {}) == {}


def test_moves_renames_and_deleted_departments_follow_wecom(client):
    run(client)
    SandboxDepartment.objects.filter(corp_id=CORP, dept_id=3).update(parentid=4, name="East (support)")
    SandboxDepartment.objects.filter(corp_id=CORP, dept_id=2).delete()
    SandboxMember.objects.filter(corp_id=CORP).update(departments=[1], main_department=1)
    run(client)
    paths = dict(Department.objects.values_list("wecom_id", "path"))
    assert paths == {1: "/1/", 4: "/1/4/", 3: "/1/4/3/", 7: "/1/4/3/7/"}
    assert Department.objects.get(wecom_id=3).name == "East (support)"
    assert sorted(StaffDepartment.objects.values_list("department__wecom_id", flat=True)) == [1, 1, 1]


def test_a_member_gone_from_wecom_departs_and_keeps_their_follows(client):
    run(client)
    follow = FollowFactory(staff=Staff.objects.get(userid="user3"))
    SandboxMember.objects.filter(corp_id=CORP, userid="user3").delete()
    ctx = run(client, mode="incremental")
    gone = Staff.objects.get(userid="user3")
    assert gone.status == Staff.Status.DEPARTED and gone.departed_at is not None
    assert follow.__class__.objects.filter(pk=follow.pk, staff=gone).exists()
    assert ctx.counts["org"] == {"staff departed": 1}
    departed_at = gone.departed_at
    run(client, mode="full")
    assert Staff.objects.get(userid="user3").departed_at == departed_at  # noticed once, kept


def test_losing_customer_contact_is_not_leaving(client):
    run(client)
    SandboxMember.objects.filter(corp_id=CORP, userid="user1").update(contact_enabled=False)
    run(client, mode="incremental")
    member = Staff.objects.get(userid="user1")
    assert member.status == Staff.Status.ACTIVE
    assert member.contact_enabled is False


def test_a_member_who_quit_is_departed(client):
    run(client)
    SandboxMember.objects.filter(corp_id=CORP, userid="user1").update(status=5)
    run(client, mode="incremental")
    assert Staff.objects.get(userid="user1").status == Staff.Status.DEPARTED


def test_incremental_fetches_details_of_new_members_only(client):
    run(client)
    SandboxMember.objects.create(
        corp_id=CORP, userid="newbie", name="New", departments=[4], main_department=4
    )
    SandboxMember.objects.filter(corp_id=CORP, userid="user1").update(name="Renamed")
    SandboxCall.objects.all().delete()
    run(client, mode="incremental")
    fetched = [
        params["userid"]
        for params in SandboxCall.objects.filter(path="user/get").values_list("params", flat=True)
    ]
    assert fetched == ["newbie"]
    assert Staff.objects.get(userid="newbie").main_department.wecom_id == 4
    assert Staff.objects.get(userid="user1").name == "Member 1"  # details of known members: a full run
    run(client, mode="full")
    assert Staff.objects.get(userid="user1").name == "Renamed"


def test_with_the_contact_sync_secret_every_member_is_listed(client, corp, settings):
    SandboxMember.objects.create(
        corp_id=CORP,
        userid="backoffice",
        name="Back office",
        departments=[4],
        main_department=4,
        contact_enabled=False,
    )
    settings.WECOM_CONTACT_SYNC_SECRET = corp.sync_secret
    run(client)
    assert SandboxCall.objects.filter(path="user/list_id", errcode=0).exists()
    member = Staff.objects.get(userid="backoffice")
    assert (member.status, member.contact_enabled) == (Staff.Status.ACTIVE, False)
    assert Staff.objects.get(userid="user1").contact_enabled is True


def test_without_it_the_members_with_customer_contact_are_synced(client):
    SandboxMember.objects.create(
        corp_id=CORP,
        userid="backoffice",
        name="Back office",
        departments=[4],
        main_department=4,
        contact_enabled=False,
    )
    run(client)
    assert not SandboxCall.objects.filter(path="user/list_id").exists()
    assert not Staff.objects.filter(userid="backoffice").exists()
    assert Staff.objects.count() == 3


def test_departments_outside_the_visible_range_make_their_children_roots(client):
    run(client)
    SandboxDepartment.objects.filter(corp_id=CORP, dept_id=1).delete()  # the root is out of range
    run(client)
    paths = dict(Department.objects.values_list("wecom_id", "path"))
    assert paths == {2: "/2/", 3: "/2/3/", 7: "/2/3/7/", 4: "/4/"}
    assert Department.objects.get(wecom_id=2).parent is None
