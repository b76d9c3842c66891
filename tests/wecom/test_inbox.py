"""The callback inbox: stored once, claimed once, failures recorded and retried (QUALITY.md R1, trap 5)."""

from __future__ import annotations

import pytest
from django.contrib.admin import helpers
from django.contrib.auth.models import Group
from django.core.cache import cache
from django.db import connection
from django.urls import reverse

from scrm.wecom.errors import SystemBusy
from scrm.wecom.events import event_parse, register, unregister
from scrm.wecom.models import CallbackInbox
from scrm.wecom.services import (
    drain_mark,
    drain_slot,
    inbox_process,
    inbox_receive,
    inbox_retry,
    inbox_store,
)
from scrm.wecom.tasks import callback_process

from .conftest import contact_xml

pytestmark = pytest.mark.django_db

CHANGELIST = reverse("admin:wecom_callbackinbox_changelist")


@pytest.fixture
def stored():
    xml = contact_xml()
    row, created = inbox_store(event=event_parse(xml), xml=xml)
    assert created
    return row


@pytest.fixture
def handler():
    """A change_external_contact handler whose behaviour a test sets; it writes a row each time."""

    class Handler:
        calls = 0
        error: Exception | None = None

        def __call__(self, event):
            self.calls += 1
            Group.objects.create(name=f"handled {self.calls}")
            if self.error is not None:
                raise self.error

    instance = Handler()
    register("change_external_contact")(instance)
    yield instance
    unregister(instance)


def test_store_is_idempotent(stored):
    xml = contact_xml()
    row, created = inbox_store(event=event_parse(xml), xml=xml)
    assert (row.pk, created) == (stored.pk, False)
    other = contact_xml(external="wmOTHER")
    assert inbox_store(event=event_parse(other), xml=other)[1] is True
    assert CallbackInbox.objects.count() == 2


def test_process_twice_runs_the_handlers_once(stored, handler):
    row = inbox_process(inbox_id=stored.pk)
    assert (row.status, row.attempts, row.last_error) == (CallbackInbox.Status.DONE, 1, "")
    assert inbox_process(inbox_id=stored.pk) is None
    assert callback_process(stored.pk) is None  # the task, run again by Celery's at-least-once delivery
    assert handler.calls == 1
    stored.refresh_from_db()
    assert (stored.status, stored.attempts) == (CallbackInbox.Status.DONE, 1)


def test_a_failing_handler_is_recorded_and_retried(stored, handler):
    handler.error = ValueError("customer vanished")
    row = inbox_process(inbox_id=stored.pk)
    assert row.status == CallbackInbox.Status.FAILED
    assert row.last_error == "ValueError: customer vanished"
    # PostgreSQL rolls the failed handler's writes back; SQLite runs handlers in autocommit (its one
    # writer must not be held across WeCom calls), so what the handler wrote before failing stays.
    written_before_failing = 1 if connection.vendor == "sqlite" else 0
    assert Group.objects.filter(name__startswith="handled").count() == written_before_failing
    stored.refresh_from_db()
    assert (stored.status, stored.attempts) == (CallbackInbox.Status.FAILED, 1)

    handler.error = None
    row = inbox_process(inbox_id=stored.pk)
    assert (row.status, row.attempts, row.last_error) == (CallbackInbox.Status.DONE, 2, "")
    assert Group.objects.filter(name__startswith="handled").count() == written_before_failing + 1


def test_a_transient_error_is_recorded_then_raised_for_the_task_to_retry(stored, handler):
    handler.error = SystemBusy(errcode=-1, errmsg="system busy")
    with pytest.raises(SystemBusy):
        inbox_process(inbox_id=stored.pk)
    stored.refresh_from_db()
    assert stored.status == CallbackInbox.Status.FAILED
    assert stored.last_error.startswith("SystemBusy")


def test_a_missing_row_is_nothing_to_do():
    assert inbox_process(inbox_id=123456) is None


def test_receive_kicks_a_drain_after_commit_once(django_capture_on_commit_callbacks, eager_celery, handler):
    xml = contact_xml()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        row, created = inbox_receive(event=event_parse(xml), xml=xml)
    assert created and len(callbacks) == 1  # the kick of the row's slot; the eager drain ran in it
    row.refresh_from_db()
    assert (row.status, row.attempts) == (CallbackInbox.Status.DONE, 1)
    assert cache.get(drain_mark(drain_slot(row.pk))) is None  # the drainer let go of its slot
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert inbox_receive(event=event_parse(xml), xml=xml)[1] is False
    assert callbacks == []  # already done: a retry from WeCom kicks nothing
    assert handler.calls == 1


def test_retry_hands_failed_rows_only_back_to_the_drain(
    stored, handler, django_capture_on_commit_callbacks, eager_celery
):
    done_xml = contact_xml(external="wmDONE")
    done, _ = inbox_store(event=event_parse(done_xml), xml=done_xml)
    inbox_process(inbox_id=done.pk)
    handler.error = ValueError("boom")
    inbox_process(inbox_id=stored.pk)
    handler.error = None
    with django_capture_on_commit_callbacks(execute=True):
        assert inbox_retry(inbox_ids=[stored.pk, done.pk]) == 1
    stored.refresh_from_db()
    assert (stored.status, stored.attempts) == (CallbackInbox.Status.DONE, 2)
    assert handler.calls == 3


# --- Admin ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("who", "status"), [("admin", 200), ("marketing", 200), ("guide_a", 403)])
def test_inbox_admin_is_for_admins_and_marketing(client, company, stored, who, status):
    client.force_login(getattr(company.users, who))
    response = client.get(CHANGELIST)
    assert response.status_code == status
    if status == 200:
        assert b"add_external_contact" in response.content
        assert client.get(reverse("admin:wecom_callbackinbox_change", args=[stored.pk])).status_code == 200


def test_store_managers_do_not_see_the_inbox(client, company):
    client.force_login(company.users.store_manager)
    assert client.get(CHANGELIST).status_code == 403


def test_admin_retry_action(
    client, company, stored, handler, django_capture_on_commit_callbacks, eager_celery
):
    handler.error = ValueError("boom")
    inbox_process(inbox_id=stored.pk)
    handler.error = None
    client.force_login(company.users.marketing)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            CHANGELIST,
            {"action": "retry", helpers.ACTION_CHECKBOX_NAME: [str(stored.pk)], "select_across": "0"},
        )
    assert response.status_code == 302
    stored.refresh_from_db()
    assert stored.status == CallbackInbox.Status.DONE


def test_admin_filters_by_status(client, company, stored):
    client.force_login(company.users.admin)
    assert client.get(CHANGELIST, {"status": "failed"}).status_code == 200
