"""The demo's outreach: a small content library, a segment, a welcome series, a weekly group post
and a draft broadcast, so that every outreach page of a fresh `make run` has something to show.

Everything goes through the same services as the admin (validation, sensitive words), after the
CRM has been synced. Running it again adds nothing: each object is looked up by its name first.
"""

from __future__ import annotations

from datetime import time

from campaigns.models import (
    Broadcast,
    Channel,
    GroupSopRule,
    Material,
    MaterialFolder,
    Script,
    ScriptCategory,
    SensitiveWord,
    SopRule,
    SopStep,
)
from campaigns.services.broadcasts import broadcast_save
from campaigns.services.content import material_save, script_save, sensitive_word_save
from campaigns.services.groupsop import group_sop_rule_save
from campaigns.services.sop import sop_rule_save
from customers.models import Follow, Segment, Tag
from customers.segments import segment_save
from groups.models import GroupChat
from scrm.org.models import Department, Staff

SEGMENT_NAME = "华东金卡会员"
WELCOME_SERIES = "新客欢迎旅程"
WEEKLY_POST = "每周一上新预告"
BROADCAST_NAME = "双十二会员日预告"


def demo_outreach() -> dict[str, int]:
    """Create the demo's outreach objects that are missing; returns how many of each were made."""
    made = {
        "words": 0,
        "materials": 0,
        "scripts": 0,
        "segments": 0,
        "sop": 0,
        "group_sop": 0,
        "broadcasts": 0,
    }
    for word, action, note in (
        ("加微信返现", SensitiveWord.Action.BLOCK, "平台禁止的诱导用语"),
        ("最低价", SensitiveWord.Action.WARN, "广告法：绝对化用语"),
    ):
        if not SensitiveWord.objects.filter(word=word).exists():
            sensitive_word_save(word=SensitiveWord(word=word, action=action, note=note))
            made["words"] += 1

    folder = MaterialFolder.objects.filter(name="门店活动", parent=None).first()
    if folder is None:
        folder = MaterialFolder.objects.create(name="门店活动")
    for title, kind, fields in (
        ("会员日开场白", "text", {"text": "亲爱的会员，本周六会员日全场 8 折，欢迎到店～"}),
        (
            "会员日活动页",
            "link",
            {"link_url": "https://example.com/member-day", "description": "会员日专属优惠与新品预告"},
        ),
    ):
        if not Material.objects.filter(title=title).exists():
            material_save(material=Material(title=title, kind=kind, folder=folder, **fields))
            made["materials"] += 1

    category, _ = ScriptCategory.objects.get_or_create(name="开场白")
    for title, text in (
        ("首次问候", "您好，我是您的专属顾问，有任何问题随时找我～"),
        ("到店邀约", "本周新品到店了，周末方便来试试吗？"),
    ):
        if not Script.objects.filter(title=title).exists():
            script_save(script=Script(category=category, title=title, text=text))
            made["scripts"] += 1

    segment = Segment.objects.filter(name=SEGMENT_NAME).first()
    gold = Tag.objects.filter(name="金卡会员", deleted=False).first()
    region = Department.objects.filter(name="华东大区").first()
    if segment is None and gold and region:
        segment = segment_save(
            Segment(
                name=SEGMENT_NAME,
                description="华东大区员工跟进的金卡会员",
                rules={"tags_any": [gold.id], "departments": [region.id]},
            )
        )
        made["segments"] += 1

    channel = Channel.objects.filter(state__in=Follow.objects.values("state")).order_by("name").first()
    if channel and not SopRule.objects.filter(name=WELCOME_SERIES).exists():
        steps = [
            SopStep(
                day=0,
                at_time=time(10),
                title="欢迎与自我介绍",
                text="你好，我是你的专属顾问，有问题随时找我。",
            ),
            SopStep(day=1, at_time=time(10), title="发送新客礼券", text="送你一张新客专享券，7 天内有效。"),
            SopStep(
                day=3, at_time=time(10), title="回访使用体验", text="最近使用感觉怎么样？有问题随时告诉我。"
            ),
        ]
        sop_rule_save(
            rule=SopRule(name=WELCOME_SERIES, trigger=SopRule.Trigger.CHANNEL, channel=channel),
            steps=[(step, None) for step in steps],
        )
        made["sop"] += 1

    owners = list(
        Staff.objects.filter(
            status=Staff.Status.ACTIVE, id__in=GroupChat.objects.filter(status="normal").values("owner_id")
        ).order_by("id")[:3]
    )
    if owners and not GroupSopRule.objects.filter(name=WEEKLY_POST).exists():
        group_sop_rule_save(
            rule=GroupSopRule(
                name=WEEKLY_POST,
                schedule_kind=GroupSopRule.ScheduleKind.WEEKLY,
                weekdays=[0],
                time_of_day=time(10),
                text="本周新品已上架，欢迎群里的朋友们到店体验！",
            ),
            owners=owners,
        )
        made["group_sop"] += 1

    if segment and not Broadcast.objects.filter(name=BROADCAST_NAME).exists():
        broadcast_save(
            broadcast=Broadcast(
                name=BROADCAST_NAME,
                segment=segment,
                text="双十二会员日：金卡会员全场 8 折，另有到店礼。",
                origin=Broadcast.Origin.ADMIN,
            )
        )
        made["broadcasts"] += 1
    return made
