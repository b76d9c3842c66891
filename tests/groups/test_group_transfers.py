"""Group ownership transfers of departed owners (PRODUCT.md C4; WECOM.md §10.3).

Planning is checked on our models alone: who gets the groups, and their spread over days under
WeCom's 300 groups a day from one person. Sending goes to the sandbox over HTTP: it records every
call it receives (``SandboxCall``) and keeps its own owners (``SandboxGroupChat``), so the checks
count WeCom's calls and read WeCom's side, not ours.
"""

from __future__ import annotations

from collections import Counter
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from customers.models import TransferItem, TransferJob
from groups.models import GroupChat, GroupTransfer
from groups.transfers import group_transfers_plan, group_transfers_send, wecom_today
from scrm.org.models import Staff, StaffDepartment
from scrm.sandbox.clock import sandbox_time
from scrm.sandbox.models import SandboxCall, SandboxGroupChat, SandboxGroupTransfer
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom.client import wecom_client, wecom_clients_close
from tests.factories import CustomerFactory, DepartmentFactory, GroupChatFactory, StaffFactory
from tests.wecom.conftest import eager_celery  # noqa: F401  (fixture)

Status = GroupTransfer.Status
TRANSFER = "externalcontact/groupchat/transfer"
DAY = 86400


def resigned_job(handover: Staff, takeover: Staff | None = None) -> TransferJob:
    return TransferJob.objects.create(
        kind=TransferJob.Kind.RESIGNED,
        trigger=TransferJob.Trigger.CALLBACK,
        handover=handover,
        takeover=takeover,
    )


def departed(staff: Staff) -> Staff:
    Staff.objects.filter(pk=staff.pk).update(status=Staff.Status.DEPARTED, departed_at=timezone.now())
    staff.refresh_from_db()
    return staff


# --- planning ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_plan_spreads_groups_over_days_under_the_daily_cap():
    handover, takeover = departed(StaffFactory()), StaffFactory()
    GroupChat.objects.bulk_create(
        GroupChat(chat_id=f"wr{n:05d}", owner=handover, owner_userid=handover.userid) for n in range(650)
    )
    dismissed = GroupChatFactory(owner=handover, status=GroupChat.Status.DISMISSED)
    job = resigned_job(handover, takeover)

    assert group_transfers_plan(job) == 650
    today = wecom_today()
    days = Counter(GroupTransfer.objects.filter(job=job).values_list("due_on", flat=True))
    assert days == {today: 300, today + timedelta(days=1): 300, today + timedelta(days=2): 50}
    assert set(GroupTransfer.objects.values_list("new_owner", "old_owner", "status").distinct()) == {
        (takeover.pk, handover.pk, Status.PLANNED)
    }
    assert not GroupTransfer.objects.filter(group=dismissed).exists()

    # Planned again (the signal twice, or the nightly run): nothing new.
    assert group_transfers_plan(job) == 0
    assert group_transfers_plan(resigned_job(handover, takeover)) == 0
    assert GroupTransfer.objects.count() == 650


@pytest.mark.django_db
def test_plan_fills_the_days_other_rows_of_the_same_person_left():
    handover, takeover, other = departed(StaffFactory()), StaffFactory(), departed(StaffFactory())
    first = resigned_job(handover, takeover)
    GroupChat.objects.bulk_create(GroupChat(chat_id=f"wa{n:04d}", owner=handover) for n in range(280))
    assert group_transfers_plan(first) == 280
    # Another person's groups do not use this person's room.
    GroupChat.objects.bulk_create(GroupChat(chat_id=f"wo{n:04d}", owner=other) for n in range(10))
    assert group_transfers_plan(resigned_job(other, takeover)) == 10
    # New groups of the same person come later (say the sync found them): 20 fit today.
    GroupChat.objects.bulk_create(GroupChat(chat_id=f"wb{n:04d}", owner=handover) for n in range(30))
    second = resigned_job(handover, takeover)
    assert group_transfers_plan(second) == 30
    today = wecom_today()
    assert Counter(GroupTransfer.objects.filter(job=second).values_list("due_on", flat=True)) == {
        today: 20,
        today + timedelta(days=1): 10,
    }


@pytest.mark.django_db
def test_without_a_takeover_the_groups_follow_most_of_the_customers():
    handover, many, few = departed(StaffFactory()), StaffFactory(), StaffFactory()
    groups = [GroupChatFactory(owner=handover, status=GroupChat.Status.OWNER_DEPARTED) for _ in range(2)]
    job = resigned_job(handover)
    items = [(few, TransferItem.Status.PLANNED)] + [(many, TransferItem.Status.WAITING)] * 2
    # A pooled customer's takeover does not count.
    items += [(few, TransferItem.Status.POOLED)] * 3
    TransferItem.objects.bulk_create(
        TransferItem(job=job, customer=CustomerFactory(), takeover=staff, status=status)
        for staff, status in items
    )
    assert group_transfers_plan(job) == 2
    assert {(t.group_id, t.new_owner_id) for t in GroupTransfer.objects.all()} == {
        (g.pk, many.pk) for g in groups
    }


@pytest.mark.django_db
def test_without_customers_the_department_manager_gets_the_groups():
    store = DepartmentFactory()
    manager = StaffFactory(main_department=store)
    StaffDepartment.objects.filter(staff=manager, department=store).update(is_leader=True)
    handover = departed(StaffFactory(main_department=store))
    GroupChatFactory(owner=handover)
    assert group_transfers_plan(resigned_job(handover)) == 1
    assert GroupTransfer.objects.get().new_owner == manager


@pytest.mark.django_db
def test_nobody_to_take_over_leaves_the_groups_listed_with_the_reason():
    handover = departed(StaffFactory())  # alone in a department without a manager
    group = GroupChatFactory(owner=handover)
    job = resigned_job(handover)
    assert group_transfers_plan(job) == 1
    row = GroupTransfer.objects.get()
    assert (row.group, row.status, row.new_owner) == (group, Status.NO_OWNER, None)
    assert "no manager" in row.error
    assert group_transfers_plan(job) == 0  # once per job
    # The next job (a takeover chosen meanwhile) plans the group again.
    takeover = StaffFactory()
    assert group_transfers_plan(resigned_job(handover, takeover)) == 1
    assert GroupTransfer.objects.get(status=Status.PLANNED).new_owner == takeover


@pytest.mark.django_db
def test_a_member_who_leaves_groups_but_no_customers_gets_a_job_for_the_groups(settings):
    from customers.models import TransferPolicy
    from customers.transfers.planning import departure_plan, departure_preview

    settings.TRANSFER_AUTO_START = False
    handover, successor = departed(StaffFactory()), StaffFactory()
    TransferPolicy.objects.create(strategy=TransferPolicy.Strategy.SUCCESSOR, successor=successor)
    groups = [GroupChatFactory(owner=handover) for _ in range(2)]
    assert departure_preview(handover).groups == 2

    job = departure_plan(staff_id=handover.pk, trigger=TransferJob.Trigger.ADMIN)
    assert job is not None and job.takeover_id == successor.pk and not job.items.exists()
    # Planned by the groups app once the job is announced (after commit in production).
    assert group_transfers_plan(job) == 2
    assert set(GroupTransfer.objects.values_list("group", "new_owner")) == {
        (g.pk, successor.pk) for g in groups
    }
    # The groups are in flight: another plan finds nothing.
    assert departure_preview(handover).groups == 0
    assert departure_plan(staff_id=handover.pk, trigger=TransferJob.Trigger.ADMIN) is None


@pytest.mark.django_db
def test_on_job_transfers_plan_no_groups():
    handover, takeover = StaffFactory(), StaffFactory()
    GroupChatFactory(owner=handover)
    job = TransferJob.objects.create(
        kind=TransferJob.Kind.ONJOB, trigger=TransferJob.Trigger.ADMIN, handover=handover, takeover=takeover
    )
    assert group_transfers_plan(job) == 0


@pytest.mark.django_db
def test_the_send_schedule_exists_after_migrate():
    from django_celery_beat.models import PeriodicTask

    from groups.transfers import group_transfers_schedule_ensure

    group_transfers_schedule_ensure()  # a second time: left as it is
    task = PeriodicTask.objects.get(name="group transfers: send")
    assert (task.task, task.queue, task.interval.every) == (
        "groups.tasks.group_transfers_send_run",
        "default",
        1800,
    )


@pytest.mark.django_db
def test_the_job_page_lists_the_groups_failures_first(admin_client):
    handover, takeover = departed(StaffFactory()), StaffFactory(name="Successor")
    job = resigned_job(handover, takeover)
    GroupChatFactory(owner=handover, name="VIP Shanghai")
    GroupChatFactory(owner=handover, name="Weekend club")
    group_transfers_plan(job)
    GroupTransfer.objects.filter(group__name="Weekend club").update(
        status=Status.FAILED, errcode=90503, error="group full"
    )

    response = admin_client.get(f"/admin/customers/transferjob/{job.pk}/change/")

    assert response.status_code == 200
    page = response.content.decode()
    assert "Groups (2)" in page and "Successor" in page and "90503: group full" in page
    assert page.index("Weekend club") < page.index("VIP Shanghai")


@pytest.mark.django_db
def test_groups_wait_for_a_job_the_admin_has_not_started_and_go_with_a_canceled_one(settings):
    settings.TRANSFER_AUTO_START = False
    handover, takeover = departed(StaffFactory()), StaffFactory()
    dismissed, kept = GroupChatFactory(owner=handover), GroupChatFactory(owner=handover)
    job = resigned_job(handover, takeover)
    group_transfers_plan(job)
    GroupChat.objects.filter(pk=dismissed.pk).update(status=GroupChat.Status.DISMISSED)

    assert group_transfers_send().calls == 0  # nothing due: no WeCom call at all
    assert GroupTransfer.objects.get(group=kept).status == Status.PLANNED
    assert GroupTransfer.objects.get(group=dismissed).status == Status.CANCELED

    TransferJob.objects.filter(pk=job.pk).update(status=TransferJob.Status.CANCELED)
    assert group_transfers_send().calls == 0
    row = GroupTransfer.objects.get(group=kept)
    assert (row.status, row.error) == (Status.CANCELED, "The transfer job was canceled.")


# --- sending, against the sandbox ---------------------------------------------------------------------


@pytest.fixture
def corp(live_server, settings):
    """A sandbox corp of three members with four groups each, mirrored in our tables."""
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    wecom_clients_close()
    cache.clear()
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID,
        contact_secret=settings.WECOM_SECRET,
        agent_secret=settings.WECOM_AGENT_SECRET,
        agentid=settings.WECOM_AGENT_ID,
        members=3,
        contacts_per_member=2,
        group_chats=4,
    )
    staff = {
        userid: Staff.objects.create(userid=userid, name=userid) for userid in ("user1", "user2", "user3")
    }
    GroupChat.objects.bulk_create(
        GroupChat(chat_id=g.chat_id, name=g.name, owner=staff[g.owner], owner_userid=g.owner)
        for g in corp.groups
    )
    yield staff
    wecom_clients_close()


@pytest.fixture
def resign(admin_client, settings):
    """The player's console: a member resigns in WeCom (groups await inheritance)."""

    def run(userid: str) -> Staff:
        response = admin_client.post(
            "/sandbox/player/member_resign/",
            {"corp_id": settings.WECOM_CORP_ID, "userid": userid},
            content_type="application/json",
        )
        assert response.status_code == 200, response.content
        # What the delete_user callback and the departure recording do on our side.
        GroupChat.objects.filter(owner_userid=userid).update(status=GroupChat.Status.OWNER_DEPARTED)
        return departed(Staff.objects.get(userid=userid))

    return run


@pytest.fixture
def advance(admin_client, settings):
    def run(seconds: int) -> None:
        response = admin_client.post(
            "/sandbox/player/advance_time/",
            {"corp_id": settings.WECOM_CORP_ID, "seconds": seconds},
            content_type="application/json",
        )
        assert response.status_code == 200, response.content

    return run


def transfer_calls() -> list[SandboxCall]:
    return list(SandboxCall.objects.filter(path=TRANSFER).order_by("id"))


def sandbox_owners(userid: str) -> set[str]:
    return set(SandboxGroupChat.objects.filter(owner=userid).values_list("chat_id", flat=True))


@pytest.mark.django_db(transaction=True)
def test_a_departed_members_groups_move_in_one_call_right_after_planning(corp, resign, eager_celery):  # noqa: F811
    handover, takeover = resign("user1"), corp["user3"]
    chats = set(GroupChat.objects.filter(owner=handover).values_list("chat_id", flat=True))
    assert len(chats) == 4
    job = resigned_job(handover)
    # Most of the handover's customers go to user3, so their groups do too.
    TransferItem.objects.bulk_create(
        [TransferItem(job=job, customer=CustomerFactory(), takeover=takeover) for _ in range(2)]
        + [TransferItem(job=job, customer=CustomerFactory(), takeover=corp["user2"])]
    )

    assert group_transfers_plan(job) == 4  # and the send runs once the plan commits

    [call] = transfer_calls()
    assert call.errcode == 0
    assert (set(call.body["chat_id_list"]), call.body["new_owner"]) == (chats, "user3")
    assert chats <= sandbox_owners("user3")
    assert set(SandboxGroupChat.objects.filter(chat_id__in=chats).values_list("status", flat=True)) == {3}
    ours = GroupChat.objects.filter(chat_id__in=chats)
    assert set(ours.values_list("owner", "owner_userid", "status")) == {
        (takeover.pk, "user3", GroupChat.Status.TRANSFERRED)
    }
    assert set(GroupTransfer.objects.values_list("status", flat=True)) == {Status.DONE}

    # Planned and sent again: nothing is handed over twice.
    assert group_transfers_plan(job) == 0
    assert group_transfers_plan(resigned_job(handover, corp["user2"])) == 0
    assert group_transfers_send().calls == 0
    assert len(transfer_calls()) == 1


@pytest.mark.django_db(transaction=True)
def test_failures_wecom_lists_are_recorded_with_their_errcode(corp, resign, eager_celery):  # noqa: F811
    handover, takeover = resign("user1"), corp["user2"]
    busy = GroupChat.objects.filter(owner=handover).order_by("pk").first()
    SandboxGroupChat.objects.filter(chat_id=busy.chat_id).update(status=2)  # inheritance in progress

    group_transfers_plan(resigned_job(handover, takeover))  # sent once planned

    assert len(transfer_calls()) == 1
    failed = GroupTransfer.objects.get(status=Status.FAILED)
    assert (failed.group_id, failed.errcode) == (busy.pk, 90507)
    assert failed.error
    busy.refresh_from_db()
    assert busy.owner == handover  # ours follows WeCom: it did not move
    assert GroupChat.objects.filter(owner=takeover, status=GroupChat.Status.TRANSFERRED).count() == 3


@pytest.mark.django_db(transaction=True)
def test_the_daily_cap_moves_the_groups_to_the_next_day(corp, resign, advance, settings, eager_celery):  # noqa: F811
    handover, takeover = resign("user1"), corp["user2"]
    # Today 300 of user1's groups already went to new owners (in WeCom's console, say).
    now = sandbox_time()
    SandboxGroupTransfer.objects.bulk_create(
        SandboxGroupTransfer(
            corp_id=settings.WECOM_CORP_ID,
            kind="resigned",
            chat_id=f"wrother{n}",
            old_owner="user1",
            new_owner="user2",
            create_time=now,
        )
        for n in range(300)
    )
    today = wecom_today()

    group_transfers_plan(resigned_job(handover, takeover))  # sent once planned: 45009 for all

    [call] = transfer_calls()
    assert call.errcode == 0  # the call succeeds; each chat is refused in failed_chat_list
    assert len(call.body["chat_id_list"]) == 4
    rows = GroupTransfer.objects.all()
    assert set(rows.values_list("status", "due_on", "errcode")) == {
        (Status.PLANNED, today + timedelta(days=1), 45009)
    }
    assert group_transfers_send(today=today).calls == 0  # not again today

    advance(DAY)
    result = group_transfers_send(today=today + timedelta(days=1))
    assert (result.calls, result.done) == (1, 4)
    assert set(rows.values_list("status", "errcode")) == {(Status.DONE, None)}
    assert len(sandbox_owners("user2")) == 8


@pytest.mark.django_db(transaction=True)
def test_a_stale_claim_is_read_back_before_anything_is_sent_again(corp, resign, settings):
    handover, takeover = resign("user1"), corp["user2"]
    job = resigned_job(handover, takeover)
    # A worker claimed four groups and died after WeCom moved two of them: nothing was recorded.
    long_ago = timezone.now() - timedelta(seconds=settings.TRANSFER_CLAIM_LEASE + 600)
    GroupTransfer.objects.bulk_create(
        GroupTransfer(
            job=job,
            group=group,
            old_owner=handover,
            new_owner=takeover,
            due_on=wecom_today(),
            status=Status.SENDING,
            claimed_at=long_ago,
        )
        for group in GroupChat.objects.filter(owner=handover).order_by("pk")
    )
    rows = list(GroupTransfer.objects.select_related("group").order_by("pk"))
    landed = [r.group.chat_id for r in rows[:2]]
    assert wecom_client("contact").groupchat_transfer(chat_ids=landed, new_owner="user2") == []
    # A fresh claim (a worker still calling) is left alone.
    GroupTransfer.objects.filter(pk=rows[3].pk).update(claimed_at=timezone.now())

    result = group_transfers_send()

    assert result.reconciled == 3
    reads = SandboxCall.objects.filter(path="externalcontact/groupchat/get")
    assert sorted(c.body["chat_id"] for c in reads) == sorted(r.group.chat_id for r in rows[:3])
    first, retry = transfer_calls()
    assert first.body["chat_id_list"] == landed
    assert retry.body["chat_id_list"] == [rows[2].group.chat_id]  # only the one that never landed
    assert retry.errcode == 0
    statuses = dict(GroupTransfer.objects.values_list("pk", "status"))
    assert [statuses[r.pk] for r in rows] == [Status.DONE, Status.DONE, Status.DONE, Status.SENDING]
    assert GroupChat.objects.filter(owner=takeover, status=GroupChat.Status.TRANSFERRED).count() == 3


@pytest.mark.django_db(transaction=True)
def test_an_employed_owners_groups_use_the_on_job_transfer(corp):
    owner, takeover = corp["user1"], corp["user3"]
    group = GroupChat.objects.filter(owner=owner).first()
    job = TransferJob.objects.create(
        kind=TransferJob.Kind.ONJOB, trigger=TransferJob.Trigger.ADMIN, handover=owner, takeover=takeover
    )
    GroupTransfer.objects.create(
        job=job, group=group, old_owner=owner, new_owner=takeover, due_on=wecom_today()
    )

    assert group_transfers_send().done == 1

    [call] = SandboxCall.objects.filter(path="externalcontact/groupchat/onjob_transfer")
    assert call.body == {"chat_id_list": [group.chat_id], "new_owner": "user3"}
    group.refresh_from_db()
    assert (group.owner, group.status) == (takeover, GroupChat.Status.NORMAL)
    assert SandboxGroupChat.objects.get(chat_id=group.chat_id).owner == "user3"
