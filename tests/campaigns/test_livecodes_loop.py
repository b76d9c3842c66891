"""A live code in the whole loop, as in ``make run``: WeChat users scan through the sandbox's player
API, the sandbox posts the callbacks from its background thread, a real Celery worker on the
``realtime`` queue counts each add and rewrites the way when a cap fills.

PostgreSQL only: the worker is another process and must open the test database.
"""

from __future__ import annotations

import json
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from campaigns.models import LiveCode, StaffAdd, StaffDailyAdds
from campaigns.services.livecodes import livecode_evaluate, livecode_save
from scrm.org.models import Staff
from scrm.sandbox.callbacks import callbacks_delivery_stop
from scrm.sandbox.models import SandboxCall, SandboxContactWay
from scrm.sandbox.services import sandbox_corp_create
from scrm.wecom.client import wecom_clients_close
from tests.factories import UserFactory
from tests.workers import celery_worker

pytestmark = [pytest.mark.integration, pytest.mark.django_db(transaction=True)]

PATIENCE = 60


@pytest.fixture
def loop(live_server, settings, monkeypatch):
    api_base = live_server.url + "/sandbox/cgi-bin"
    settings.WECOM_API_BASE = api_base
    monkeypatch.setenv("WECOM_API_BASE", api_base)  # for the worker process
    settings.WECOM_SANDBOX_CALLBACK_URL = live_server.url + "/wecom/callback/"
    settings.WECOM_SANDBOX_CALLBACKS = "async"
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID, contact_secret=settings.WECOM_SECRET, members=4, contacts_per_member=0
    )
    with celery_worker("realtime") as worker:
        yield corp, worker
    callbacks_delivery_stop()
    wecom_clients_close()


def eventually(worker, check, what: str) -> None:
    deadline = time.monotonic() + PATIENCE
    while not check():
        if worker.poll() is not None:
            pytest.fail(f"the worker stopped: {worker.stdout.read().decode()}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what} did not happen")
        time.sleep(0.2)


def settled(code: LiveCode, adds: int) -> bool:
    """The add is counted and the way lists what the rules say (any rewrite is done)."""
    if StaffAdd.objects.filter(live_code=code).count() < adds:
        return False
    code.refresh_from_db()
    return list(livecode_evaluate(code=code).users) == code.wecom_users


def test_seven_wechat_users_scan_a_code_over_three_capped_staff_and_a_backup(loop, client):
    corp, worker = loop
    old = timezone.now() - timedelta(days=400)
    staff = [
        Staff.objects.create(userid=f"user{i}", name=f"Member {i}", wecom_created_at=old) for i in range(1, 5)
    ]
    code = livecode_save(
        code=LiveCode(name="Spring fair", daily_cap=2),
        state="fair",
        members=[{"staff": s, "is_backup": s.userid == "user4"} for s in staff],
    )
    client.force_login(UserFactory(username="loop_admin", is_staff=True, is_superuser=True))

    reached = []
    for n in range(1, 8):
        response = client.post(
            "/sandbox/player/scan_contact_way/",
            json.dumps({"config_id": code.config_id, "name": f"Visitor {n}"}),
            content_type="application/json",
        )
        assert response.status_code == 200, response.content.decode()
        reached.append(response.json()["userid"])
        eventually(worker, lambda n=n: settled(code, n), f"add {n}")

    assert reached == ["user1", "user2", "user3", "user1", "user2", "user3", "user4"]
    counts = dict(StaffDailyAdds.objects.values_list("staff__userid", "count"))
    assert counts == {"user1": 2, "user2": 2, "user3": 2, "user4": 1}
    assert SandboxContactWay.objects.get(config_id=code.config_id).user == ["user4"]
    assert SandboxCall.objects.filter(path="externalcontact/update_contact_way").count() == 3
