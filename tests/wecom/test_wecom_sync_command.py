"""``manage.py wecom_sync``: inline with progress, queued with --async, refused while one runs."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from scrm.org.models import Staff
from scrm.sandbox.services import sandbox_corp_create, sandbox_faults_set
from scrm.wecom.client import wecom_clients_close
from scrm.wecom.models import SyncRun
from scrm.wecom.sync import sync_request
from tests.wecom.conftest import eager_celery  # noqa: F401  (fixture)

CORP = "wwsynccommand"
SECRET = "sync-command-contact-secret"


@pytest.fixture
def corp(live_server, settings):
    settings.WECOM_CORP_ID = CORP
    settings.WECOM_SECRET = SECRET
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    wecom_clients_close()
    corp = sandbox_corp_create(
        corp_id=CORP, contact_secret=SECRET, members=3, contacts_per_member=1, group_chats=1
    )
    yield corp
    wecom_clients_close()


def wecom_sync(*args: str) -> str:
    out = StringIO()
    call_command("wecom_sync", *args, stdout=out)
    return out.getvalue()


def test_runs_inline_and_prints_progress(corp):
    output = wecom_sync("--full")
    assert "org: 3/3" in output
    assert "groups: 3/3" in output
    assert "staff created 3" in output
    run = SyncRun.objects.get()
    assert (run.mode, run.trigger, run.status) == ("full", "command", SyncRun.Status.DONE)
    assert f"Sync #{run.pk} done (full)." in output
    assert Staff.objects.count() == 3


def test_incremental_is_the_default(corp):
    wecom_sync()
    assert SyncRun.objects.get().mode == "incremental"


def test_async_queues_the_run_for_a_worker(corp, eager_celery, django_capture_on_commit_callbacks):  # noqa: F811
    with django_capture_on_commit_callbacks(execute=True):
        output = wecom_sync("--async", "--incremental")
    run = SyncRun.objects.get()
    assert f"Sync #{run.pk} queued (incremental)." in output
    run.refresh_from_db()
    assert run.status == SyncRun.Status.DONE  # the (eager) worker ran it


def test_a_second_sync_while_one_runs_is_refused(corp):
    running = sync_request(mode="full", trigger="admin")
    with pytest.raises(CommandError, match=f"Sync #{running.pk} is already queued"):
        wecom_sync("--full")
    assert SyncRun.objects.count() == 1


def test_a_failed_run_is_a_command_error(corp):
    sandbox_faults_set(fail_next=1, fail_errcode=60011, fail_paths=["department/list"])
    with pytest.raises(CommandError, match="failed: org: NoPrivilege"):
        wecom_sync("--full")


def test_full_and_incremental_exclude_each_other(db):
    with pytest.raises(CommandError):
        wecom_sync("--full", "--incremental")
