"""Setting up the WeCom side for tests and the demo, and the test hooks (faults, token expiry).

These write the sandbox's own tables directly: they play WeCom's part, not our application's.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from .models import (
    SandboxAccessToken,
    SandboxApp,
    SandboxDepartment,
    SandboxExternalContact,
    SandboxFaults,
    SandboxFollow,
    SandboxGroupChat,
    SandboxMember,
    SandboxTag,
    SandboxTagGroup,
)


@dataclass
class SandboxCorp:
    """What :func:`sandbox_corp_create` built, for tests to refer to."""

    corp_id: str
    contact_secret: str
    agent_secret: str
    sync_secret: str
    agentid: int
    members: list[SandboxMember] = field(default_factory=list)
    contacts: list[SandboxExternalContact] = field(default_factory=list)
    tag_groups: list[SandboxTagGroup] = field(default_factory=list)
    tags: list[SandboxTag] = field(default_factory=list)
    groups: list[SandboxGroupChat] = field(default_factory=list)


@transaction.atomic
def sandbox_corp_create(
    *,
    corp_id: str,
    contact_secret: str,
    agent_secret: str = "",
    sync_secret: str = "",
    agentid: int = 1000002,
    members: int = 2,
    contacts_per_member: int = 2,
    tag_groups: Sequence[tuple[str, Sequence[str]]] = (("会员等级", ("金卡", "银卡")),),
    group_chats: int = 0,
) -> SandboxCorp:
    """Create an emulated corp: its apps, a department tree, members with customers, corp tags.

    Members are ``user1…userN`` in department 2 under the root 1; customers ``wm…`` are each
    followed by one member (``add_way`` 1, ``state`` "sandbox"); each member owns
    ``group_chats`` customer groups holding the member and their customers.
    """
    agent_secret = agent_secret or f"{contact_secret}-agent"
    sync_secret = sync_secret or f"{contact_secret}-sync"
    SandboxApp.objects.create(corp_id=corp_id, name="customer contact", secret=contact_secret)
    SandboxApp.objects.create(
        corp_id=corp_id, name="app", secret=agent_secret, agentid=agentid, customer_contact=False
    )
    SandboxApp.objects.create(
        corp_id=corp_id, name="contact sync", secret=sync_secret, customer_contact=False, contact_sync=True
    )
    SandboxDepartment.objects.bulk_create(
        [
            SandboxDepartment(corp_id=corp_id, dept_id=1, name="HQ", parentid=0, order=100),
            SandboxDepartment(corp_id=corp_id, dept_id=2, name="Sales", parentid=1, order=90),
        ]
    )
    corp = SandboxCorp(corp_id, contact_secret, agent_secret, sync_secret, agentid)
    corp.members = SandboxMember.objects.bulk_create(
        SandboxMember(
            corp_id=corp_id, userid=f"user{i}", name=f"Member {i}", departments=[2], main_department=2
        )
        for i in range(1, members + 1)
    )
    for name, tag_names in tag_groups:
        group, tags = sandbox_tag_group_create(corp_id=corp_id, name=name, tags=tag_names)
        corp.tag_groups.append(group)
        corp.tags.extend(tags)
    now = int(time.time())
    for member in corp.members:
        mine = sandbox_contacts_add(member=member, count=contacts_per_member, createtime=now)
        corp.contacts += mine
        for n in range(group_chats):
            corp.groups.append(
                SandboxGroupChat.objects.create(
                    corp_id=corp_id,
                    chat_id="wr" + secrets.token_hex(12),
                    name=f"{member.name} group {n + 1}",
                    owner=member.userid,
                    create_time=now,
                    member_version=secrets.token_hex(16),
                    admin_list=[],
                    member_list=[
                        {
                            "userid": member.userid,
                            "type": 1,
                            "join_time": now,
                            "join_scene": 1,
                            "name": member.name,
                        }
                    ]
                    + [
                        {
                            "userid": c.external_userid,
                            "type": 2,
                            "join_time": now,
                            "join_scene": 3,
                            "group_nickname": "",
                            "name": c.name,
                        }
                        for c in mine
                    ],
                )
            )
    return corp


def sandbox_tag_group_create(
    *, corp_id: str, name: str, tags: Iterable[str], order: int = 0
) -> tuple[SandboxTagGroup, list[SandboxTag]]:
    """Create a corp tag group with its tags, ``et…`` ids as WeCom issues them."""
    now = int(time.time())
    group = SandboxTagGroup.objects.create(
        corp_id=corp_id, group_id="et" + secrets.token_hex(15), name=name, order=order, create_time=now
    )
    created = SandboxTag.objects.bulk_create(
        SandboxTag(group=group, tag_id="et" + secrets.token_hex(15), name=t, create_time=now) for t in tags
    )
    return group, created


def sandbox_contacts_add(
    *, member: SandboxMember, count: int, createtime: int | None = None, tag_ids: Sequence[str] = ()
) -> list[SandboxExternalContact]:
    """Create ``count`` WeChat users, each added by ``member`` (a friendship with notes and tags)."""
    createtime = createtime or int(time.time())
    contacts = SandboxExternalContact.objects.bulk_create(
        SandboxExternalContact(
            corp_id=member.corp_id,
            external_userid="wm" + secrets.token_hex(14),
            name=f"Customer {member.userid}-{i}",
            type=1,
            gender=1 + i % 2,
            unionid="o" + secrets.token_hex(13),
            avatar=f"https://sandbox.invalid/avatar/{member.userid}-{i}.png",
        )
        for i in range(1, count + 1)
    )
    SandboxFollow.objects.bulk_create(
        SandboxFollow(
            member=member,
            contact=contact,
            remark=contact.name[:20],
            description="added in the sandbox",
            createtime=createtime,
            add_way=1,
            state="sandbox",
            oper_userid=contact.external_userid,
            tag_ids=list(tag_ids),
        )
        for contact in contacts
    )
    return contacts


def sandbox_faults_set(
    *,
    error_rate: float = 0.0,
    error_codes: Sequence[int] = (),
    latency_ms: int = 0,
    fail_next: int = 0,
    fail_errcode: int = -1,
    fail_paths: Sequence[str] = (),
    timeout_rate: float = 0.0,
    timeout_ms: int = 15_000,
) -> SandboxFaults:
    """Configure fault injection (see :class:`SandboxFaults`); all defaults mean "no faults"."""
    faults, _ = SandboxFaults.objects.update_or_create(
        pk=1,
        defaults={
            "error_rate": error_rate,
            "error_codes": list(error_codes),
            "latency_ms": latency_ms,
            "fail_next": fail_next,
            "fail_errcode": fail_errcode,
            "fail_paths": list(fail_paths),
            "timeout_rate": timeout_rate,
            "timeout_ms": timeout_ms,
        },
    )
    return faults


def sandbox_tokens_expire(*, corp_id: str | None = None) -> int:
    """Expire every issued token (of one corp): the next call with one answers 42001."""
    tokens = SandboxAccessToken.objects.filter(expires_at__gt=timezone.now())
    if corp_id:
        tokens = tokens.filter(app__corp_id=corp_id)
    return tokens.update(expires_at=timezone.now())


def sandbox_tokens_invalidate(*, corp_id: str | None = None) -> int:
    """Invalidate every issued token (of one corp): the next call with one answers 40014."""
    tokens = SandboxAccessToken.objects.filter(invalidated=False)
    if corp_id:
        tokens = tokens.filter(app__corp_id=corp_id)
    return tokens.update(invalidated=True)
