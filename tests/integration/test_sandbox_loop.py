"""The whole loop, as in ``make run``: the other side plays through the sandbox's player API, the
sandbox posts real encrypted callbacks to our ``/wecom/callback/`` (from its background delivery
thread), a real Celery worker on the ``realtime`` queue processes them, its handlers call the
sandbox's API over HTTP, and the result shows in our tables and our REST API.

PostgreSQL only: the worker is another process and must open the test database.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable

import pytest
from django.conf import settings

from customers.models import Customer, CustomerEvent, Follow
from groups.models import GroupMember
from scrm.sandbox.callbacks import callbacks_delivery_stop
from scrm.sandbox.models import SandboxCallback
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom.client import wecom_clients_close
from scrm.wecom.models import CallbackInbox
from tests.factories import UserFactory
from tests.workers import celery_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

#: Generous: the first task of a fresh worker imports the project. The loop itself takes moments.
PATIENCE = 60


@pytest.fixture
def loop(live_server, settings, monkeypatch):
    """WeCom's side in the live server, our client and callbacks pointed at it, a realtime worker."""
    api_base = live_server.url + "/sandbox/cgi-bin"
    settings.WECOM_API_BASE = api_base
    monkeypatch.setenv("WECOM_API_BASE", api_base)  # for the worker process
    settings.WECOM_SANDBOX_CALLBACK_URL = live_server.url + "/wecom/callback/"
    settings.WECOM_SANDBOX_CALLBACKS = "async"
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID,
        contact_secret=settings.WECOM_SECRET,
        members=2,
        contacts_per_member=1,
        group_chats=1,
    )
    with celery_worker("realtime") as worker:
        yield corp, worker
    callbacks_delivery_stop()
    wecom_clients_close()


@pytest.fixture
def admin(client, db):
    client.force_login(UserFactory(username="loop_admin", is_staff=True, is_superuser=True))
    return client


def play(client, action: str, **body) -> dict:
    response = client.post(f"/sandbox/player/{action}/", json.dumps(body), content_type="application/json")
    assert response.status_code == 200, response.content.decode()
    return response.json()


def eventually(worker, check: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not check():
        if worker.poll() is not None:
            pytest.fail(f"the worker stopped: {worker.stdout.read().decode()}")
        if time.monotonic() > deadline:
            callbacks = list(
                SandboxCallback.objects.values_list("change_type", "status", "attempts", "last_result")
            )
            inbox = list(CallbackInbox.objects.values_list("change_type", "status", "last_error"))
            pytest.fail(f"{what} did not happen; sandbox outbox {callbacks}; our inbox {inbox}")
        time.sleep(0.2)


def test_a_new_wechat_user_adds_deletes_and_joins_a_group(loop, admin):
    corp, worker = loop

    # A new WeChat user adds user1 through a poster's contact way.
    added = play(admin, "add_contact", userid="user1", name="Loop Visitor", state="poster_e2e")
    external = added["external_userid"]

    def follow_added() -> bool:
        return CustomerEvent.objects.filter(
            customer__external_userid=external, type=CustomerEvent.Type.ADDED
        ).exists()

    eventually(worker, follow_added, "the add")
    customer = Customer.objects.get(external_userid=external)
    assert customer.name == "Loop Visitor"
    follow = Follow.objects.select_related("staff").get(customer=customer)
    assert (follow.staff.userid, follow.state, follow.status) == ("user1", "poster_e2e", Follow.Status.ACTIVE)
    event = CustomerEvent.objects.get(customer=customer, type=CustomerEvent.Type.ADDED)
    assert event.source == CustomerEvent.Source.WECOM
    assert event.staff_id == follow.staff_id

    listed = admin.get("/api/v1/customers/", {"q": external}).json()
    [row] = listed["results"]
    assert (row["external_userid"], row["name"]) == (external, "Loop Visitor")
    assert [(f["staff"]["userid"], f["state"]) for f in row["follows"]] == [("user1", "poster_e2e")]

    # The user deletes user1: the follow shows who ended it.
    play(admin, "customer_deletes_staff", userid="user1", external_userid=external)
    eventually(
        worker,
        lambda: Follow.objects.filter(pk=follow.pk, status=Follow.Status.DELETED_BY_CUSTOMER).exists(),
        "the deletion",
    )
    assert CustomerEvent.objects.filter(
        customer=customer, type=CustomerEvent.Type.DELETED_BY_CUSTOMER
    ).exists()
    follows = admin.get("/api/v1/follows/", {"customer": customer.pk}).json()["results"]
    assert [f["status"] for f in follows] == [Follow.Status.DELETED_BY_CUSTOMER]

    # They join user1's customer group on user1's invitation.
    chat_id = corp.groups[0].chat_id
    play(admin, "group_join", chat_id=chat_id, external_userid=external)
    eventually(
        worker,
        lambda: GroupMember.objects.filter(group__chat_id=chat_id, member_id=external).exists(),
        "the group join",
    )
    member = GroupMember.objects.get(group__chat_id=chat_id, member_id=external)
    assert member.kind == GroupMember.Kind.CUSTOMER

    # Every callback reached us once: delivered at the first attempt, stored once, processed once.
    assert set(SandboxCallback.objects.values_list("status", "attempts")) == {
        (SandboxCallback.Status.DELIVERED, 1)
    }
    assert CallbackInbox.objects.count() == SandboxCallback.objects.count() == 3
    assert set(CallbackInbox.objects.values_list("status", flat=True)) == {CallbackInbox.Status.DONE}


def test_two_customers_adding_the_same_member_at_once_are_both_processed(loop, admin):
    corp, worker = loop
    first = play(admin, "add_contact", userid="user2", name="Twin A", state="same_second")
    second = play(admin, "add_contact", userid="user2", name="Twin B", state="same_second")
    ids = {first["external_userid"], second["external_userid"]}
    eventually(
        worker,
        lambda: (
            CustomerEvent.objects.filter(
                customer__external_userid__in=ids, type=CustomerEvent.Type.ADDED
            ).count()
            == 2
        ),
        "both adds",
    )
    assert set(
        Follow.objects.filter(staff__userid="user2", state="same_second").values_list(
            "customer__name", flat=True
        )
    ) == {
        "Twin A",
        "Twin B",
    }
    assert CallbackInbox.objects.filter(change_type="add_external_contact").count() == 2
    assert settings.WECOM_SANDBOX_CALLBACKS == "async"
