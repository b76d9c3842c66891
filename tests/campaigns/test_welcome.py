"""Welcome messages end to end: a WeChat user adds a staff member in the sandbox, WeCom's callback
reaches /wecom/callback/ encrypted, the add handler schedules the welcome and the realtime task
sends it to the sandbox over HTTP. What WeCom received is read from the sandbox's call record.
"""

from __future__ import annotations

from datetime import datetime, time, timedelta

import pytest
from django.core.cache import cache
from django.utils import timezone

from campaigns.models import (
    Channel,
    LiveCode,
    WelcomeAttachment,
    WelcomeMessage,
    WelcomeSend,
)
from campaigns.selectors.welcome import welcome_message_choose
from campaigns.services.welcome import welcome_media_refresh, welcome_schedule, welcome_send
from customers.models import CustomerEvent, Follow
from scrm.org.models import Department, Staff
from scrm.sandbox.actions.people import add_contact
from scrm.sandbox.clock import clock_advance, clock_reset
from scrm.sandbox.models import SandboxCall, SandboxCallback, SandboxMedia
from scrm.sandbox.services import sandbox_corp_create, sandbox_faults_set
from scrm.wecom import errors
from scrm.wecom.client import wecom_client, wecom_clients_close
from tests.factories import CustomerFactory, DepartmentFactory, FollowFactory, StaffFactory
from tests.wecom.conftest import deliver, eager_celery  # noqa: F401  (fixtures)

pytestmark = pytest.mark.django_db(transaction=True)

SEND = "externalcontact/send_welcome_msg"
PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64


@pytest.fixture
def corp(live_server, settings):
    """A sandbox corp under our configured corp id and secret, with the API pointed at it."""
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    wecom_clients_close()
    cache.clear()
    clock_reset()
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID, contact_secret=settings.WECOM_SECRET, members=2, contacts_per_member=0
    )
    yield corp
    sandbox_faults_set()
    wecom_clients_close()


def sends():
    return list(SandboxCall.objects.filter(path=SEND).order_by("id"))


def last_callback_xml() -> str:
    return SandboxCallback.objects.order_by("-id").values_list("xml", flat=True).first()


def without_welcome_code(xml: str) -> str:
    start = xml.index("<WelcomeCode>")
    return xml[:start] + xml[xml.index("</WelcomeCode>") + len("</WelcomeCode>") :]


def default_message(text="Hi {customer}, I am {staff}. Welcome!", **fields) -> WelcomeMessage:
    return WelcomeMessage.objects.create(name="default", text=text, **fields)


# --- through the sandbox and the callback ---------------------------------------------------------


def test_a_new_customer_gets_one_welcome_with_their_name(corp, deliver):  # noqa: F811
    default_message()
    played = add_contact(corp.corp_id, {"userid": "user1", "name": "Mei 小美"})
    xml = last_callback_xml()

    for _ in range(3):  # WeCom delivers the same callback three times
        assert deliver(xml).status_code == 200

    [call] = sends()
    assert call.errcode == 0
    assert call.body["welcome_code"] == played["welcome_code"]
    staff_name = Staff.objects.get(userid="user1").name
    assert call.body["text"]["content"] == f"Hi Mei 小美, I am {staff_name}. Welcome!"
    row = WelcomeSend.objects.get()
    assert (row.status, row.attempts, row.error) == ("sent", 1, "")
    assert row.follow == Follow.objects.get(customer__external_userid=played["external_userid"])
    [event] = CustomerEvent.objects.filter(type=CustomerEvent.Type.WELCOME_SENT)
    assert event.customer_id == row.follow.customer_id
    assert event.payload["status"] == "sent"
    assert not CustomerEvent.objects.filter(type=CustomerEvent.Type.WELCOME_FAILED).exists()


def test_an_add_without_any_message_is_recorded_as_skipped(corp, deliver):  # noqa: F811
    add_contact(corp.corp_id, {"userid": "user1", "name": "Nobody"})
    deliver(last_callback_xml())
    assert sends() == []
    row = WelcomeSend.objects.get()
    assert row.status == "skipped" and row.message is None
    assert not CustomerEvent.objects.filter(type__startswith="welcome").exists()


def test_attachments_are_uploaded_and_sent(corp, deliver):  # noqa: F811
    message = default_message(text="Hello {customer}")
    WelcomeAttachment.objects.create(
        message=message, kind="link", title="Our shop", link_url="https://example.com/shop", order=0
    )
    image = WelcomeAttachment.objects.create(
        message=message, kind="image", file_name="hello.png", file_content=PNG, file_size=len(PNG), order=1
    )
    add_contact(corp.corp_id, {"userid": "user1", "name": "Pic"})
    deliver(last_callback_xml())

    [call] = sends()
    assert call.errcode == 0
    link, picture = call.body["attachments"]
    assert link == {"msgtype": "link", "link": {"title": "Our shop", "url": "https://example.com/shop"}}
    image.refresh_from_db()
    assert picture == {"msgtype": "image", "image": {"media_id": image.media_id}}
    assert SandboxMedia.objects.filter(media_id=image.media_id, type="image").exists()


def test_a_stale_media_id_is_uploaded_again_before_sending(corp):
    message = default_message(text="Hello")
    image = WelcomeAttachment.objects.create(
        message=message, kind="image", file_name="a.png", file_content=PNG, file_size=len(PNG)
    )
    assert welcome_media_refresh() == 1
    image.refresh_from_db()
    first = image.media_id
    assert welcome_media_refresh() == 0  # fresh: nothing to do
    WelcomeAttachment.objects.filter(pk=image.pk).update(media_uploaded_at=timezone.now() - timedelta(days=2))
    assert welcome_media_refresh() == 1  # within a day of going stale: refreshed ahead
    image.refresh_from_db()
    assert image.media_id != first


@pytest.fixture
def held(monkeypatch):
    """Holds the welcome tasks enqueued, to run them later (a worker busy for a while)."""
    from campaigns.tasks.welcome import welcome_send_task

    queue: list[int] = []
    run = welcome_send_task.delay
    monkeypatch.setattr(welcome_send_task, "delay", lambda send_id: queue.append(send_id))

    def release():
        for send_id in queue:
            run(send_id)

    return release


def test_expired_code_is_recorded_and_never_retried(corp, deliver, held):  # noqa: F811
    default_message()
    played = add_contact(corp.corp_id, {"userid": "user1", "name": "Late"})
    deliver(last_callback_xml())
    [row] = WelcomeSend.objects.all()
    assert row.status == "pending" and sends() == []

    clock_advance(21)  # the task runs after WeCom's 20 s
    held()

    row.refresh_from_db()
    assert row.welcome_code == played["welcome_code"]
    assert (row.status, row.attempts) == ("expired", 1)
    assert [c.errcode for c in sends()] == [41050]
    assert CustomerEvent.objects.get(type=CustomerEvent.Type.WELCOME_FAILED).payload["status"] == "expired"
    assert welcome_send(send_id=row.pk) is None  # a redelivered task does nothing
    assert len(sends()) == 1


def test_41051_counts_as_delivered(corp, deliver, django_capture_on_commit_callbacks):  # noqa: F811
    default_message()
    played = add_contact(corp.corp_id, {"userid": "user1", "name": "Twice"})
    deliver(without_welcome_code(last_callback_xml()))
    follow = Follow.objects.select_related("customer", "staff").get()
    wecom_client().send_welcome_msg(played["welcome_code"], text="another app was first")

    with django_capture_on_commit_callbacks(execute=True):
        row = welcome_schedule(
            follow=follow, live_code=None, welcome_code=played["welcome_code"], received_at=timezone.now()
        )

    row.refresh_from_db()
    assert (row.status, row.attempts) == ("already_delivered", 1)
    assert [c.errcode for c in sends()] == [0, 41051]
    event = CustomerEvent.objects.get(type=CustomerEvent.Type.WELCOME_SENT)
    assert event.payload["status"] == "already_delivered"


def test_a_transient_error_is_retried_within_the_window(corp, deliver):  # noqa: F811
    default_message()
    sandbox_faults_set(fail_next=1, fail_errcode=-1, fail_paths=[SEND])
    add_contact(corp.corp_id, {"userid": "user1", "name": "Busy"})
    deliver(last_callback_xml())

    assert [(c.errcode, c.fault) for c in sends()] == [(-1, True), (0, False)]
    row = WelcomeSend.objects.get()
    assert (row.status, row.attempts) == ("sent", 2)
    assert CustomerEvent.objects.filter(type__startswith="welcome").count() == 1


def test_transient_errors_stop_at_the_window_and_expire(corp, deliver, django_capture_on_commit_callbacks):  # noqa: F811
    default_message()
    played = add_contact(corp.corp_id, {"userid": "user1", "name": "Busy"})
    deliver(without_welcome_code(last_callback_xml()))
    follow = Follow.objects.select_related("customer", "staff").get()
    sandbox_faults_set(fail_next=50, fail_errcode=-1, fail_paths=[SEND])

    with django_capture_on_commit_callbacks(execute=True):
        row = welcome_schedule(
            follow=follow,
            live_code=None,
            welcome_code=played["welcome_code"],
            received_at=timezone.now() - timedelta(seconds=19.8),
        )

    row.refresh_from_db()
    assert row.status == "expired" and "20 seconds" in row.error
    assert [c.errcode for c in sends()] == [-1]  # no retry could land inside the window
    assert CustomerEvent.objects.get(type=CustomerEvent.Type.WELCOME_FAILED).payload["status"] == "expired"


def test_a_customer_scanning_a_live_code_gets_its_welcome(corp, deliver):  # noqa: F811
    """The whole add of a live code: its state names the code, whose own message wins."""
    from scrm.sandbox.actions.acquisition import scan_contact_way

    default_message(text="generic")
    code = LiveCode.objects.create(
        name="Poster", channel=Channel.objects.create(state="poster_w", name="Poster")
    )
    WelcomeMessage.objects.create(
        name="poster", scope="live_code", live_code=code, text="Thanks for scanning, {customer}!"
    )
    way = wecom_client().add_contact_way(type=1, scene=2, user=["user1"], state="poster_w")
    played = scan_contact_way(corp.corp_id, {"config_id": way["config_id"], "name": "Scanner"})
    deliver(last_callback_xml())

    [call] = sends()
    assert call.body["welcome_code"] == played["welcome_code"]
    assert call.body["text"]["content"] == "Thanks for scanning, Scanner!"


# --- choosing the message (a fixed clock: the add time is given) ----------------------------------


@pytest.fixture
def tree(db):
    hq = DepartmentFactory(wecom_id=1, name="HQ")
    east = DepartmentFactory(wecom_id=10, name="East", parent=hq)
    store = DepartmentFactory(wecom_id=100, name="Store", parent=east)
    staff = StaffFactory(userid="s1", name="Guide", main_department=store)
    follow = FollowFactory(customer=CustomerFactory(name="Ann"), staff=staff)
    code = LiveCode.objects.create(name="Code", channel=Channel.objects.create(state="c1", name="c1"))
    return hq, east, store, follow, code


def local(hour: int, minute: int = 0) -> datetime:
    return timezone.make_aware(datetime(2026, 3, 2, hour, minute))


def chosen(follow, code=None, at=None):
    message = welcome_message_choose(follow=follow, live_code=code, at=at or local(12))
    return message.name if message else None


def test_most_specific_message_wins(tree):
    hq, east, store, follow, code = tree
    assert chosen(follow) is None
    WelcomeMessage.objects.create(name="default", text="d")
    assert chosen(follow, code) == "default"
    WelcomeMessage.objects.create(name="hq", scope="department", department=hq, text="h")
    assert chosen(follow) == "hq"
    WelcomeMessage.objects.create(name="east", scope="department", department=east, text="e")
    assert chosen(follow) == "east"  # the nearest ancestor
    other = DepartmentFactory(wecom_id=20, name="West", parent=hq)
    WelcomeMessage.objects.create(name="west", scope="department", department=other, text="w")
    assert chosen(follow) == "east"  # another branch never applies
    WelcomeMessage.objects.create(name="code", scope="live_code", live_code=code, text="c")
    assert chosen(follow, code) == "code"
    assert chosen(follow) == "east"  # an add through no code
    WelcomeMessage.objects.filter(name="code").update(active=False)
    assert chosen(follow, code) == "east"


def test_time_variants(tree):
    hq, east, store, follow, code = tree
    WelcomeMessage.objects.create(name="all day", scope="department", department=store, text="a")
    WelcomeMessage.objects.create(
        name="night",
        scope="department",
        department=store,
        text="n",
        window_start=time(22),
        window_end=time(8),
    )
    WelcomeMessage.objects.create(
        name="lunch",
        scope="department",
        department=store,
        text="l",
        window_start=time(12),
        window_end=time(13),
    )
    assert chosen(follow, at=local(12, 30)) == "lunch"
    assert chosen(follow, at=local(13)) == "all day"  # the end is exclusive
    assert chosen(follow, at=local(23)) == "night"
    assert chosen(follow, at=local(7, 59)) == "night"  # across midnight
    # A window on a less specific level does not beat a more specific message.
    WelcomeMessage.objects.create(
        name="code night",
        scope="live_code",
        live_code=code,
        text="cn",
        window_start=time(22),
        window_end=time(8),
    )
    assert chosen(follow, code, at=local(10)) == "all day"
    assert chosen(follow, code, at=local(23)) == "code night"


def test_the_chosen_variant_is_rendered_into_the_send_row(tree, monkeypatch):
    from campaigns.tasks.welcome import welcome_send_task

    queued: list[int] = []
    monkeypatch.setattr(welcome_send_task, "delay", queued.append)
    hq, east, store, follow, code = tree
    WelcomeMessage.objects.create(name="day", text="Good day {customer}")
    WelcomeMessage.objects.create(
        name="evening",
        text="Good evening {customer}, {staff} here",
        window_start=time(18),
        window_end=time(23),
    )
    follow = Follow.objects.select_related("customer", "staff").get(pk=follow.pk)
    row = welcome_schedule(follow=follow, live_code=None, welcome_code="WC-evening", received_at=local(19))
    again = welcome_schedule(follow=follow, live_code=None, welcome_code="WC-evening", received_at=local(19))
    assert again is None  # one row per code
    assert queued == [row.pk]  # and one task
    assert row.content == {"text": "Good evening Ann, Guide here", "attachments": []}
    assert WelcomeSend.objects.get().message.name == "evening"


def test_department_without_path_ancestors_falls_back_to_default(db):
    staff = StaffFactory(userid="nodept", name="Solo", main_department=None)
    follow = FollowFactory(customer=CustomerFactory(name="Bo"), staff=staff)
    WelcomeMessage.objects.create(name="default", text="d")
    assert chosen(follow) == "default"
    assert Department.objects.count() >= 0


def test_the_client_refuses_a_too_long_text_before_calling(corp):
    with pytest.raises(errors.ArgumentError):
        wecom_client().send_welcome_msg("code", text="字" * 1400)


def test_the_media_refresh_schedule_is_created_once(db):
    from django_celery_beat.models import PeriodicTask

    from campaigns.services.welcome import MEDIA_REFRESH_TASK_NAME, welcome_media_schedule_ensure

    PeriodicTask.objects.filter(name=MEDIA_REFRESH_TASK_NAME).delete()
    assert welcome_media_schedule_ensure() is True
    assert welcome_media_schedule_ensure() is False
    task = PeriodicTask.objects.get(name=MEDIA_REFRESH_TASK_NAME)
    assert (task.task, task.queue, task.interval.every, task.interval.period) == (
        "campaigns.tasks.welcome.welcome_media_refresh_task",
        "default",
        3600,
        "seconds",
    )
