"""Moments campaigns against the sandbox over HTTP: a draft launched (files uploaded as moments
attachments, ``add_moment_task`` with its publishers and audience tags), the job polled to its
``moment_id``, members publishing in the sandbox and the results synced, cancelling, WeCom's
content rules, and a launch whose answer was lost that does not create a second moment.

Tasks run eagerly; every WeCom call goes over HTTP to the sandbox, which records it.
"""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.core.cache import cache
from django.core.exceptions import ValidationError
from django.utils import timezone

from campaigns.models import MomentAttachment, MomentCampaign, MomentPublisher, SensitiveWord
from campaigns.services.content import sensitive_word_save
from campaigns.services.moments import (
    SYNC_TASK_NAME,
    moment_cancel,
    moment_job_poll,
    moment_launch,
    moment_launch_request,
    moment_results_sync,
    moment_save,
    moments_due,
    moments_schedule_ensure,
)
from campaigns.tasks.moments import moments_sync_run
from customers.models import Tag, TagGroup
from scrm.org.models import Department, Staff
from scrm.sandbox.actions.outreach import moment_publish_action
from scrm.sandbox.clock import clock_advance
from scrm.sandbox.models import SandboxCall, SandboxFollow, SandboxMedia, SandboxMoment, SandboxTag
from scrm.sandbox.services import sandbox_corp_create, sandbox_faults_set
from scrm.wecom.client import wecom_clients_close
from tests.wecom.conftest import eager_celery  # noqa: F401  (fixture)

pytestmark = pytest.mark.django_db(transaction=True)

PNG = b"\x89PNG\r\n\x1a\n" + b"\x00" * 64
MP4 = b"\x00\x00\x00\x18ftypmp42" + b"\x00" * 64
Status = MomentCampaign.Status


@pytest.fixture
def corp(live_server, settings, eager_celery):  # noqa: F811
    """A sandbox corp of three members with two customers each, our API pointed at it."""
    settings.WECOM_API_BASE = live_server.url + "/sandbox/cgi-bin"
    settings.WECOM_SANDBOX_CALLBACKS = "off"
    settings.MOMENTS_POLL_SECONDS = 0
    wecom_clients_close()
    cache.clear()
    corp = sandbox_corp_create(
        corp_id=settings.WECOM_CORP_ID, contact_secret=settings.WECOM_SECRET, members=3, contacts_per_member=2
    )
    yield corp
    sandbox_faults_set()
    wecom_clients_close()


@pytest.fixture
def org(corp):
    """Our mirror of the sandbox's members, department 2 and gold tag."""
    sales = Department.objects.create(wecom_id=2, name="Sales", path="/1/2/")
    staff = [Staff.objects.create(userid=f"user{i}", name=f"Member {i}") for i in (1, 2, 3)]
    group = TagGroup.objects.create(name="会员等级")
    gold_id = SandboxTag.objects.get(name="金卡").tag_id
    gold = Tag.objects.create(group=group, name="金卡", wecom_id=gold_id)
    return staff, sales, gold


def image(name="a.png"):
    return MomentAttachment(kind="image", file_name=name, file_content=PNG, file_size=len(PNG))


def video():
    return MomentAttachment(kind="video", file_name="v.mp4", file_content=MP4, file_size=len(MP4))


def link(title="Our menu", url="https://example.com/menu"):
    return MomentAttachment(kind="link", title=title, link_url=url)


def draft(*, text="Spring is here", attachments=(), **relations) -> MomentCampaign:
    return moment_save(
        campaign=MomentCampaign(name="Spring", text=text), attachments=list(attachments), **relations
    )


def calls(path):
    return SandboxCall.objects.filter(path=path)


def publish(corp, campaign, userid):
    return moment_publish_action(corp.corp_id, {"moment_id": campaign.moment_id, "userid": userid})


def test_launch_polls_the_job_then_members_publish_and_results_sync(
    corp, org, django_capture_on_commit_callbacks
):
    staff, sales, gold = org
    # Only user1's first customer carries the gold tag: the audience of user1 is one customer.
    follow = SandboxFollow.objects.filter(member__userid="user1").order_by("id").first()
    follow.tag_ids = [gold.wecom_id]
    follow.save()
    campaign = draft(attachments=[image("a.png"), image("b.png")], staff=[staff[0], staff[1]], tags=[gold])

    with django_capture_on_commit_callbacks(execute=True):
        moment_launch_request(campaign=campaign)

    campaign.refresh_from_db()
    assert campaign.status == Status.PUBLISHING, campaign.error
    assert campaign.jobid and campaign.moment_id
    [create] = calls("externalcontact/add_moment_task")
    uploads = list(calls("media/upload_attachment"))
    assert len(uploads) == 2 and all(c.params.get("attachment_type") == "1" for c in uploads)
    media_ids = set(SandboxMedia.objects.values_list("media_id", flat=True))
    assert create.body["text"] == {"content": "Spring is here"}
    assert [a["msgtype"] for a in create.body["attachments"]] == ["image", "image"]
    assert {a["image"]["media_id"] for a in create.body["attachments"]} <= media_ids
    assert create.body["visible_range"] == {
        "sender_list": {"user_list": ["user1", "user2"], "department_list": []},
        "external_contact_list": {"tag_list": [gold.wecom_id]},
    }
    assert calls("externalcontact/get_moment_task_result").count() == 3  # started, running, done
    assert SandboxMoment.objects.get().moment_id == campaign.moment_id
    # Publishers were read as soon as the job was done: nobody has published yet.
    assert (campaign.publishers_count, campaign.published_count) == (2, 0)
    assert set(campaign.publishers.values_list("userid", "publish_status", "staff_id")) == {
        ("user1", 0, staff[0].pk),
        ("user2", 0, staff[1].pk),
    }

    assert publish(corp, campaign, "user1") == {"customers": 1}
    campaign = moment_results_sync(campaign_id=campaign.pk)
    assert (campaign.status, campaign.published_count, campaign.customers_reached) == (
        Status.PUBLISHING,
        1,
        1,
    )
    row = campaign.publishers.get(userid="user1")
    assert (row.publish_status, row.customers_visible, row.customers_reached) == (1, 1, 1)
    assert row.published_at is not None
    assert moments_due()["sync"] == [campaign.pk]

    publish(corp, campaign, "user2")
    campaign = moment_results_sync(campaign_id=campaign.pk)
    assert (campaign.status, campaign.published_count, campaign.publishers_count) == (Status.DONE, 2, 2)
    assert campaign.finished_at is not None
    with pytest.raises(ValidationError, match="can be canceled"):
        moment_cancel(campaign=campaign)
    assert not calls("externalcontact/cancel_moment_task").exists()


def test_departments_and_a_link_with_invalid_senders_recorded(corp, org, django_capture_on_commit_callbacks):
    staff, sales, gold = org
    ghost = Staff.objects.create(userid="ghost", name="Gone")
    campaign = draft(text="", attachments=[link()], staff=[ghost], departments=[sales])
    with django_capture_on_commit_callbacks(execute=True):
        moment_launch_request(campaign=campaign)
    campaign.refresh_from_db()
    assert campaign.status == Status.PUBLISHING
    [create] = calls("externalcontact/add_moment_task")
    assert create.body["attachments"] == [
        {"msgtype": "link", "link": {"title": "Our menu", "url": "https://example.com/menu"}}
    ]
    assert create.body["visible_range"]["sender_list"] == {"user_list": ["ghost"], "department_list": [2]}
    assert campaign.invalid == {"user_list": ["ghost"]}
    assert campaign.publishers_count == 3  # department 2's members
    assert not calls("media/upload_attachment").exists()


def test_a_video_launch_and_cancel_before_everyone_published(corp, org, django_capture_on_commit_callbacks):
    staff, _, _ = org
    campaign = draft(attachments=[video()], staff=staff)
    with django_capture_on_commit_callbacks(execute=True):
        moment_launch_request(campaign=campaign)
    campaign.refresh_from_db()
    [upload] = calls("media/upload_attachment")
    assert upload.params.get("media_type") == "video"
    publish(corp, campaign, "user1")
    moment_results_sync(campaign_id=campaign.pk)

    campaign = moment_cancel(campaign=campaign)
    assert campaign.status == Status.CANCELED
    assert calls("externalcontact/cancel_moment_task").get().body == {"moment_id": campaign.moment_id}
    assert SandboxMoment.objects.get().canceled
    with pytest.raises(ValidationError):
        moment_cancel(campaign=campaign)
    with pytest.raises(ValidationError, match="launched"):
        moment_launch_request(campaign=campaign)
    # A second launch task does nothing: the campaign is no draft.
    assert moment_launch(campaign_id=campaign.pk) is None
    assert calls("externalcontact/add_moment_task").count() == 1


def test_a_draft_cannot_be_canceled_and_a_launched_one_cannot_be_edited(corp, org):
    campaign = draft()
    with pytest.raises(ValidationError, match="can be canceled"):
        moment_cancel(campaign=campaign)
    moment_launch(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    campaign.text = "changed"
    with pytest.raises(ValidationError, match="no longer be changed"):
        moment_save(campaign=campaign)


@pytest.mark.parametrize(
    ("attachments", "message"),
    [
        ([image(f"{i}.png") for i in range(10)], "at most 9 images"),
        ([image(), video()], "cannot be mixed"),
        ([link(), image()], "cannot be mixed"),
        ([video(), video()], "one video or one link"),
        ([link(title="标" * 22)], "64 bytes"),
        (
            [MomentAttachment(kind="file", file_name="a.pdf", file_content=PNG, file_size=len(PNG))],
            "images, a video or a link",
        ),
        ([MomentAttachment(kind="image")], "needs its file"),
    ],
)
def test_wecom_content_rules_are_validation_errors(db, attachments, message):
    with pytest.raises(ValidationError, match=message):
        draft(attachments=attachments)
    assert not MomentCampaign.objects.exists()


def test_text_too_long_or_empty(db):
    with pytest.raises(ValidationError, match="2000 characters"):
        draft(text="a" * 2001)
    with pytest.raises(ValidationError, match="4000 bytes"):
        draft(text="字" * 1334)
    with pytest.raises(ValidationError, match="text, an attachment"):
        draft(text="  ")
    assert draft(text="a" * 2000).pk
    assert draft(text="字" * 1333).pk


def test_tags_must_be_in_wecom(db):
    group = TagGroup.objects.create(name="g")
    local = Tag.objects.create(group=group, name="local only")
    with pytest.raises(ValidationError, match="local only"):
        draft(tags=[local])


def test_refused_by_wecom_fails_the_campaign(corp, org):
    campaign = draft()
    sandbox_faults_set(fail_next=1, fail_errcode=40058, fail_paths=["externalcontact/add_moment_task"])
    assert moment_launch(campaign_id=campaign.pk) is None
    campaign.refresh_from_db()
    assert campaign.status == Status.FAILED and "40058" in campaign.error


def test_a_launch_retried_after_an_unknown_outcome_does_not_create_a_second_moment(corp, org, settings):
    staff, _, _ = org
    campaign = draft(attachments=[link()], staff=staff[:1])
    # WeCom creates the moment but its answer never reaches us: the client times out first.
    settings.WECOM_HTTP_TIMEOUT = 0.5
    wecom_clients_close()
    sandbox_faults_set(timeout_rate=1.0, timeout_ms=1500, fail_paths=["externalcontact/add_moment_task"])
    delay = moment_launch(campaign_id=campaign.pk)
    campaign.refresh_from_db()
    assert delay == settings.MOMENTS_LAUNCH_RECONCILE_AFTER
    assert (campaign.status, campaign.jobid, campaign.launch_attempts) == (Status.CREATING, "", 1)
    assert "did not answer" in campaign.error
    deadline = time.monotonic() + 20
    while not SandboxMoment.objects.exists():  # the sandbox finishes the call after its pause
        assert time.monotonic() < deadline
        time.sleep(0.1)
    sandbox_faults_set()
    settings.WECOM_HTTP_TIMEOUT = 10
    wecom_clients_close()

    # Too early to tell: WeCom's job may still be running, so no second attempt yet.
    assert moment_launch(campaign_id=campaign.pk) > 0
    assert calls("externalcontact/add_moment_task").count() == 1

    clock_advance(30)  # WeCom's job finishes on its own: the moment is listed
    assert moment_launch(campaign_id=campaign.pk) is None
    campaign.refresh_from_db()
    assert campaign.status == Status.PUBLISHING
    assert campaign.moment_id == SandboxMoment.objects.get().moment_id
    assert calls("externalcontact/add_moment_task").count() == 1
    assert calls("externalcontact/get_moment_list").exists()
    moment_results_sync(campaign_id=campaign.pk)
    assert MomentPublisher.objects.filter(campaign=campaign).count() == 1


def test_nothing_created_after_the_wait_is_launched_again(corp, org, settings):
    campaign = draft()
    settings.MOMENTS_LAUNCH_RECONCILE_AFTER = 0
    # The call failed before reaching WeCom's side: its outcome is unknown to us all the same.
    sandbox_faults_set(fail_next=1, fail_errcode=-1, fail_paths=["externalcontact/add_moment_task"])
    assert moment_launch(campaign_id=campaign.pk) == 0
    campaign.refresh_from_db()
    assert (campaign.status, campaign.jobid) == (Status.CREATING, "")
    assert moments_due()["launch"] == [campaign.pk]

    assert moment_launch(campaign_id=campaign.pk) is None
    campaign.refresh_from_db()
    assert campaign.launch_attempts == 2 and campaign.jobid
    campaign.refresh_from_db()  # the job was polled to its end by the (eager) task
    assert campaign.status == Status.PUBLISHING
    assert moment_job_poll(campaign_id=campaign.pk) is None  # nothing left to poll
    assert SandboxMoment.objects.count() == 1


def test_the_periodic_sweep_is_scheduled(db):
    from django_celery_beat.models import PeriodicTask

    PeriodicTask.objects.filter(name=SYNC_TASK_NAME).delete()
    assert moments_schedule_ensure() is True
    assert moments_schedule_ensure() is False
    task = PeriodicTask.objects.get(name=SYNC_TASK_NAME)
    assert (task.task, task.queue) == ("campaigns.tasks.moments.moments_sync_run", "default")
    assert task.interval.every * {"minutes": 60, "seconds": 1}[task.interval.period] == 15 * 60


def test_a_sensitive_word_blocks_the_save_and_again_the_launch(corp, org):
    campaign = draft(text="Spring sale")
    sensitive_word_save(word=SensitiveWord(word="sale", action="block"))
    with pytest.raises(ValidationError, match="sale"):
        draft(text="Another sale")
    with pytest.raises(ValidationError, match="sale"):
        moment_launch_request(campaign=campaign)
    # Added to the list after the launch was queued: checked again before the task is created.
    assert moment_launch(campaign_id=campaign.pk) is None
    campaign.refresh_from_db()
    assert campaign.status == Status.FAILED and "sale" in campaign.error
    assert not calls("externalcontact/add_moment_task").exists()


def test_the_periodic_sweep_syncs_recent_campaigns(corp, org, django_capture_on_commit_callbacks):
    staff, _, _ = org
    campaign = draft(staff=staff[:1])
    with django_capture_on_commit_callbacks(execute=True):
        moment_launch_request(campaign=campaign)
    campaign.refresh_from_db()
    publish(corp, campaign, "user1")
    old = draft()
    MomentCampaign.objects.filter(pk=old.pk).update(
        status=Status.PUBLISHING, moment_id="mom-old", launched_at=timezone.now() - timedelta(days=30)
    )

    assert moments_sync_run() == {"sync": 1, "poll": 0, "launch": 0}
    campaign.refresh_from_db()
    assert (campaign.status, campaign.published_count) == (Status.DONE, 1)
