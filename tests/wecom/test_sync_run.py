"""Sync runs: every registered step against the sandbox, progress, failures, one run at a time,
the Celery task, the nightly schedule and the admin."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from groups.models import GroupChat, GroupMember
from scrm.org.models import Department, Staff
from scrm.sandbox.models import SandboxCall
from scrm.sandbox.services import sandbox_corp_create, sandbox_faults_set
from scrm.wecom.client import wecom_clients_close
from scrm.wecom.models import SyncRun
from scrm.wecom.sync import (
    NIGHTLY_TASK_NAME,
    SyncBusy,
    nightly_schedule_ensure,
    sync_enqueue,
    sync_execute,
    sync_nightly,
    sync_request,
    sync_run,
    sync_steps,
)
from scrm.wecom.tasks import sync_process
from tests.wecom.conftest import eager_celery  # noqa: F401  (fixture)
from tests.workers import celery_worker

CORP = "wwsyncrun"
SECRET = "sync-run-contact-secret"


@pytest.fixture
def corp(live_server, settings):
    settings.WECOM_CORP_ID = CORP
    settings.WECOM_SECRET = SECRET
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    wecom_clients_close()
    corp = sandbox_corp_create(
        corp_id=CORP, contact_secret=SECRET, members=2, contacts_per_member=2, group_chats=1
    )
    yield corp
    wecom_clients_close()


def ours():
    return (
        list(Department.objects.order_by("wecom_id").values_list("wecom_id", "name", "path")),
        list(
            Staff.objects.order_by("userid").values_list(
                "userid", "name", "status", "main_department__wecom_id"
            )
        ),
        list(
            GroupChat.objects.order_by("chat_id").values_list(
                "chat_id", "name", "owner__userid", "member_count"
            )
        ),
        list(GroupMember.objects.order_by("group__chat_id", "member_id").values_list("member_id", "left_at")),
    )


def test_a_full_run_syncs_every_step_and_records_its_progress(corp):
    run = sync_run(mode="full", trigger="command")
    assert run.status == SyncRun.Status.DONE, run.error
    assert run.started_at <= run.finished_at
    assert set(run.progress) == {step.name for step in sync_steps()}
    for step, entry in run.progress.items():
        assert entry["state"] == "done", step
        assert entry["done"] == entry["total"], step
    assert run.progress["org"]["total"] == 2  # two members fetched
    assert run.progress["groups"]["total"] == 2  # two chats fetched
    assert run.counts["org"]["staff created"] == 2
    assert run.counts["groups"]["chats created"] == 2
    assert Staff.objects.count() == 2 and GroupChat.objects.count() == 2


def test_a_full_run_twice_ends_identical(corp):
    assert sync_run(mode="full", trigger="command").status == SyncRun.Status.DONE
    first = ours()
    second = sync_run(mode="full", trigger="command")
    assert second.status == SyncRun.Status.DONE
    assert ours() == first
    assert "org" not in second.counts and "groups" not in second.counts


def test_transient_errors_are_retried_within_the_run(corp):
    sandbox_faults_set(fail_next=2, fail_errcode=-1, fail_paths=["department/list"])
    run = sync_run(mode="full", trigger="command")
    assert run.status == SyncRun.Status.DONE
    assert list(SandboxCall.objects.filter(path="department/list").values_list("errcode", flat=True)) == [
        -1,
        -1,
        0,
    ]


def test_a_failing_step_stops_the_run_with_its_error(corp):
    sandbox_faults_set(fail_next=1, fail_errcode=60011, fail_paths=["department/list"])
    run = sync_run(mode="full", trigger="command")
    assert run.status == SyncRun.Status.FAILED
    assert run.error.startswith("org: NoPrivilege")
    assert run.finished_at is not None
    assert run.progress["org"]["state"] == "failed"
    assert run.progress["groups"]["state"] == "pending"
    assert not SandboxCall.objects.filter(path__startswith="externalcontact/groupchat").exists()
    # The next run heals: nothing is half-done.
    assert sync_run(mode="full", trigger="command").status == SyncRun.Status.DONE


def test_one_run_at_a_time(corp):
    running = sync_request(mode="full", trigger="admin")
    with pytest.raises(SyncBusy) as busy:
        sync_run(mode="incremental", trigger="command")
    assert busy.value.run == running
    assert SyncRun.objects.count() == 1


def test_a_run_whose_worker_died_stops_blocking(db, settings):
    settings.WECOM_CORP_ID = CORP
    SyncRun.objects.create(
        corp_id=CORP,
        mode="full",
        trigger="admin",
        status=SyncRun.Status.RUNNING,
        heartbeat_at=timezone.now() - timedelta(minutes=30),
    )
    fresh = sync_request(mode="incremental", trigger="command")
    dead = SyncRun.objects.exclude(pk=fresh.pk).get()
    assert dead.status == SyncRun.Status.FAILED and "Interrupted" in dead.error


def test_a_run_is_executed_once_however_often_its_task_runs(corp):
    run = sync_request(mode="full", trigger="admin")
    assert sync_process(run.pk) == SyncRun.Status.DONE
    calls = SandboxCall.objects.count()
    assert sync_process(run.pk) is None
    assert SandboxCall.objects.count() == calls


def test_enqueue_runs_the_task_on_the_bulk_queue(corp, eager_celery, django_capture_on_commit_callbacks):  # noqa: F811
    assert sync_process.queue == "bulk"
    with django_capture_on_commit_callbacks(execute=True):
        run = sync_enqueue(mode="incremental", trigger="admin")
    run.refresh_from_db()
    assert (run.trigger, run.status) == ("admin", SyncRun.Status.DONE)
    assert Staff.objects.count() == 2
    assert sync_execute(run_id=run.pk) is None


def test_the_nightly_run_happens_once_per_night(corp):
    first = sync_nightly()
    assert first.status == SyncRun.Status.DONE
    assert (first.mode, first.trigger) == ("incremental", "schedule")
    assert sync_nightly() is None  # a duplicate trigger the same night
    assert SyncRun.objects.count() == 1


@pytest.mark.integration
def test_a_real_worker_runs_a_queued_sync_once_though_delivered_twice(corp, live_server, monkeypatch):
    for name, value in {
        "WECOM_CORP_ID": CORP,
        "WECOM_SECRET": SECRET,
        "WECOM_API_BASE": live_server.url + "/sandbox/cgi-bin",
    }.items():
        monkeypatch.setenv(name, value)
    with celery_worker("bulk") as worker:
        run = sync_request(mode="full", trigger="admin")
        sync_process.delay(run.pk)
        sync_process.delay(run.pk)  # at-least-once delivery: the same task twice
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline and SyncRun.objects.get(pk=run.pk).status in SyncRun.ACTIVE:
            assert worker.poll() is None, worker.stdout.read().decode()
            time.sleep(0.5)
        time.sleep(2)  # let the second delivery be taken and found claimed
    run.refresh_from_db()
    assert run.status == SyncRun.Status.DONE, run.error
    assert Staff.objects.count() == 2 and GroupChat.objects.count() == 2
    assert SandboxCall.objects.filter(path="department/list").count() == 1


# --- the schedule ---------------------------------------------------------------------------------


def test_migrate_created_the_nightly_schedule(db, settings):
    task = PeriodicTask.objects.get(name=NIGHTLY_TASK_NAME)
    assert task.task == "scrm.wecom.tasks.sync_nightly_run"
    assert task.queue == "bulk"
    assert (task.crontab.hour, task.crontab.minute) == ("3", "0")
    assert str(task.crontab.timezone) == settings.CELERY_TIMEZONE


def test_the_schedule_is_created_once_and_users_schedules_are_untouched(db):
    PeriodicTask.objects.filter(name=NIGHTLY_TASK_NAME).delete()
    assert nightly_schedule_ensure() is True
    assert nightly_schedule_ensure() is False
    assert PeriodicTask.objects.filter(name=NIGHTLY_TASK_NAME).count() == 1
    # An administrator moves ours to 04:30 and disables it, and adds their own weekly full sync.
    ours_ = PeriodicTask.objects.get(name=NIGHTLY_TASK_NAME)
    later = CrontabSchedule.objects.create(minute="30", hour="4", timezone="Asia/Shanghai")
    ours_.crontab, ours_.enabled = later, False
    ours_.save()
    weekly = CrontabSchedule.objects.create(minute="0", hour="2", day_of_week="0", timezone="Asia/Shanghai")
    theirs = PeriodicTask.objects.create(
        name="full sync on Sundays", task="scrm.wecom.tasks.sync_nightly_run", crontab=weekly
    )
    before = list(PeriodicTask.objects.order_by("pk").values())
    assert nightly_schedule_ensure() is False
    after = list(PeriodicTask.objects.order_by("pk").values())
    assert after == before
    assert PeriodicTask.objects.get(pk=theirs.pk).crontab == weekly


# --- the admin ------------------------------------------------------------------------------------


def test_the_admin_lists_runs_with_progress_bars(admin_client, db):
    SyncRun.objects.create(
        corp_id="x",
        mode="full",
        trigger="admin",
        status=SyncRun.Status.RUNNING,
        progress={
            "org": {"done": 3, "total": 4, "state": "running"},
            "groups": {"done": 0, "total": None, "state": "pending"},
        },
        counts={"org": {"staff created": 3}},
    )
    response = admin_client.get(reverse("admin:wecom_syncrun_changelist"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "width:75%" in html and "3 / 4" in html and "0 / ?" in html
    assert 'http-equiv="refresh"' in html  # a run is active: the list follows it
    run = SyncRun.objects.get()
    SyncRun.objects.update(status=SyncRun.Status.DONE)
    assert (
        'http-equiv="refresh"'
        not in admin_client.get(reverse("admin:wecom_syncrun_changelist")).content.decode()
    )
    detail = admin_client.get(reverse("admin:wecom_syncrun_change", args=[run.pk])).content.decode()
    assert "staff created 3" in detail


def test_the_admin_button_starts_a_sync_and_refuses_a_second(
    admin_client,
    corp,
    eager_celery,  # noqa: F811
    django_capture_on_commit_callbacks,
):
    with django_capture_on_commit_callbacks(execute=True):
        response = admin_client.post(reverse("admin:wecom_syncrun_sync_full"), follow=True)
    assert response.status_code == 200
    run = SyncRun.objects.get()
    assert (run.mode, run.trigger, run.status) == ("full", "admin", SyncRun.Status.DONE)
    assert Staff.objects.count() == 2

    SyncRun.objects.filter(pk=run.pk).update(status=SyncRun.Status.RUNNING, heartbeat_at=timezone.now())
    response = admin_client.post(reverse("admin:wecom_syncrun_sync_incremental"), follow=True)
    assert f"Sync #{run.pk} is already running" in response.content.decode()
    assert SyncRun.objects.count() == 1


def test_the_sync_buttons_are_forms_posting_with_the_csrf_token(admin_user, db):
    client = Client(enforce_csrf_checks=True)
    client.force_login(admin_user)
    html = client.get(reverse("admin:wecom_syncrun_changelist")).content.decode()
    for name in ("sync_full", "sync_incremental"):
        url = reverse(f"admin:wecom_syncrun_{name}")
        assert f'<form method="post" action="{url}">' in html
        # A link (GET) starts nothing, and neither does a POST from a page without our token.
        assert client.get(url).status_code == 405
        assert client.post(url).status_code == 403
    assert html.count('name="csrfmiddlewaretoken"') >= 2
    token = client.cookies["csrftoken"].value
    response = client.post(reverse("admin:wecom_syncrun_sync_incremental"), {"csrfmiddlewaretoken": token})
    assert response.status_code == 302
    assert SyncRun.objects.get().mode == "incremental"


def test_the_sync_buttons_need_the_right_to_start_a_sync(client, django_user_model, db):
    viewer = django_user_model.objects.create_user("viewer", password="x", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_syncrun"))
    client.force_login(viewer)
    html = client.get(reverse("admin:wecom_syncrun_changelist")).content.decode()
    assert reverse("admin:wecom_syncrun_sync_full") not in html
    assert client.post(reverse("admin:wecom_syncrun_sync_full")).status_code == 403
    assert not SyncRun.objects.exists()
