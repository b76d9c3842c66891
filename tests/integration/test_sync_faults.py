"""A full sync survives WeCom's failures: with faults injected it ends with the same data.

The demo company (5,000 customers, tags, several friends per customer, group chats) is put in
the sandbox; our client reaches it over real HTTP (pytest-django's live server). A first full
sync without faults gives the reference snapshot of our tables, compared by WeCom ids. Our side
is then emptied and a second full sync runs while the sandbox fails about one call in ten with
-1, 45009 or 42001 and lets some calls hang past the client's timeout. It must end with the same
snapshot, and the sandbox's call record must show one token refresh per injected 42001, no storm.
"""

from __future__ import annotations

import logging

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection

from customers.models import Customer, CustomerEvent, Follow, FollowTag, Tag, TagGroup
from groups.models import GroupChat, GroupMember
from scrm.demo.services import demo_seed
from scrm.org.models import Department, Staff, StaffDepartment
from scrm.sandbox.api.base import ENDPOINTS
from scrm.sandbox.models import SandboxCall, SandboxFollow, SandboxGroupChat
from scrm.sandbox.services import sandbox_faults_set
from scrm.wecom.client import WecomClient
from scrm.wecom.sync import sync_run

pytestmark = [
    pytest.mark.skipif(
        connection.vendor != "postgresql", reason="concurrent live-server calls need PostgreSQL"
    ),
    pytest.mark.django_db(transaction=True),
]

CLIENT_TIMEOUT = 0.5  # seconds; a faulted call hangs three times longer


def snapshot() -> dict[str, list]:
    """Our synced data, every row and reference named by WeCom ids (our primary keys may differ)."""
    tag_wecom = dict(Tag.objects.values_list("id", "wecom_id"))

    def tags(ids) -> list[str]:
        return sorted(tag_wecom[t] for t in ids)

    memberships: dict[str, list[int]] = {}
    for userid, wecom_id in StaffDepartment.objects.values_list("staff__userid", "department__wecom_id"):
        memberships.setdefault(userid, []).append(wecom_id)
    follow_tags: dict[int, list[str]] = {}
    for follow_id, wecom_id in FollowTag.objects.values_list("follow_id", "tag__wecom_id"):
        follow_tags.setdefault(follow_id, []).append(wecom_id)
    return {
        "departments": sorted(
            Department.objects.values_list("wecom_id", "name", "parent__wecom_id", "order", "path")
        ),
        "staff": sorted(
            (*row, sorted(memberships.get(row[0], [])))
            for row in Staff.objects.values_list(
                "userid", "name", "main_department__wecom_id", "position", "status"
            )
        ),
        "tag groups": sorted(TagGroup.objects.values_list("wecom_id", "name", "order", "deleted")),
        "tags": sorted(Tag.objects.values_list("wecom_id", "group__wecom_id", "name", "order", "deleted")),
        "customers": sorted(
            (*row[:-1], tags(row[-1]))
            for row in Customer.objects.values_list(
                "external_userid",
                "name",
                "type",
                "gender",
                "unionid",
                "avatar",
                "corp_name",
                "position",
                "first_added_at",
                "tag_ids",
            )
        ),
        "follows": sorted(
            (*row[1:], sorted(follow_tags.get(row[0], [])))
            for row in Follow.objects.values_list(
                "id",
                "customer__external_userid",
                "staff__userid",
                "added_at",
                "add_way",
                "state",
                "remark",
                "description",
                "oper_userid",
                "remark_mobiles",
                "status",
            )
        ),
        "groups": sorted(
            (row[0], *map(repr, row[1:]))
            for row in GroupChat.objects.values_list(
                "chat_id",
                "name",
                "owner__userid",
                "owner_userid",
                "admin_userids",
                "notice",
                "status",
                "member_count",
                "member_version",
                "created_at",
            )
        ),
        "members": sorted(
            GroupMember.objects.values_list(
                "group__chat_id",
                "member_id",
                "kind",
                "customer__external_userid",
                "staff__userid",
                "joined_at",
                "join_scene",
                "inviter_userid",
                "left_at",
            ),
            key=repr,
        ),
    }


def our_side_empty() -> None:
    for model in (GroupMember, GroupChat, CustomerEvent, FollowTag, Follow, Customer, Tag, TagGroup):
        model.objects.all().delete()
    StaffDepartment.objects.all().delete()
    Staff.objects.all().delete()
    Department.objects.update(parent=None)
    Department.objects.all().delete()
    cache.clear()  # the shared token too: the second sync starts from nothing


def full_sync(live_server) -> None:
    client = WecomClient(
        settings.WECOM_CORP_ID,
        settings.WECOM_SECRET,
        base_url=live_server.url + "/sandbox/cgi-bin",
        timeout=CLIENT_TIMEOUT,
    )
    try:
        run = sync_run(mode="full", trigger="command", client=client, retry_delay=0)
    finally:
        client.close()
    assert run.status == "done", run.error


def test_full_sync_under_faults_ends_with_the_same_data(live_server, caplog):
    demo_seed(customers=5_000, seed=5, sync=False)  # the sandbox only: our side stays empty
    assert not Customer.objects.exists()
    full_sync(live_server)
    reference = snapshot()
    # The reference is the whole sandbox corp, not a partial sync that happens to repeat itself.
    assert len(reference["follows"]) == SandboxFollow.objects.count() > 5_000
    assert len(reference["groups"]) == SandboxGroupChat.objects.count() > 10
    assert reference["tags"] and any(row[-1] for row in reference["follows"])

    our_side_empty()
    assert not Customer.objects.exists() and not Staff.objects.exists()
    first_call = SandboxCall.objects.order_by("-id").values_list("id", flat=True).first()
    # Every data call may fail; gettoken is left alone (WeCom never answers it with 42001).
    sandbox_faults_set(
        error_rate=0.1,
        error_codes=[-1, 45009, 42001],
        fail_paths=sorted(ENDPOINTS),
        timeout_rate=0.04,
        timeout_ms=int(CLIENT_TIMEOUT * 3000),
    )
    caplog.set_level(logging.WARNING, logger="scrm.wecom.client")
    try:
        full_sync(live_server)
    finally:
        sandbox_faults_set()

    calls = SandboxCall.objects.filter(id__gt=first_call)
    injected = dict((code, calls.filter(fault=True, errcode=code).count()) for code in (-1, 45009, 42001))
    timeouts = sum("timed out" in record.getMessage() for record in caplog.records)
    assert snapshot() == reference
    # Every kind of fault happened (about 250 calls: some twenty errors and ten timeouts).
    assert all(injected.values()) and timeouts, (injected, timeouts, calls.count())

    # One refresh at the start and one per injected 42001, however many calls were retried.
    gettoken = calls.filter(path="gettoken").count()
    assert 1 <= gettoken <= 1 + injected[42001], (gettoken, injected)
