"""The columns the generator fills, table by table, in the order of its tuples.

Any other column of a model gets its default (see writers.py), so that a field added to a model
later does not break the generator.
"""

from __future__ import annotations

from campaigns.models import Channel
from customers.models import (
    Customer,
    CustomerEvent,
    CustomerNote,
    Follow,
    FollowPersonalTag,
    FollowTag,
    PersonalTag,
    Tag,
    TagGroup,
)
from groups.models import GroupChat, GroupMember, GroupTag
from scrm.org.models import Department, Staff, StaffDepartment


def _columns(text: str) -> tuple[str, ...]:
    return tuple(text.split())


COLUMNS: dict[type, tuple[str, ...]] = {
    Department: _columns("id wecom_id name parent_id order is_store path created_at updated_at"),
    Staff: _columns(
        "id userid name main_department_id position mobile gender avatar status departed_at "
        "wecom_created_at created_at updated_at"
    ),
    StaffDepartment: _columns("id staff_id department_id order is_leader"),
    PersonalTag: _columns("id staff_id name group_name created_at"),
    TagGroup: _columns("id wecom_id name order created_at updated_at"),
    Tag: _columns("id group_id wecom_id name order created_at updated_at"),
    Channel: _columns("id state name description created_at"),
    Customer: _columns(
        "id external_userid name avatar type gender unionid corp_name corp_full_name position "
        "first_added_at lifecycle_stage custom_fields tag_ids created_at updated_at"
    ),
    Follow: _columns(
        "id customer_id staff_id added_at add_way state remark description remark_corp_name "
        "remark_mobiles oper_userid status status_changed_at created_at updated_at"
    ),
    FollowTag: _columns("id follow_id tag_id created_at"),
    FollowPersonalTag: _columns("id follow_id tag_id created_at"),
    CustomerEvent: _columns("id customer_id type occurred_at staff_id payload source created_at"),
    CustomerNote: _columns("id customer_id staff_id body created_at"),
    GroupTag: _columns("id name created_at"),
    GroupChat: _columns(
        "id chat_id name owner_id owner_userid admin_userids notice created_at status "
        "member_count member_version kind store_id dismissed_at synced_at"
    ),
    GroupChat.tags.through: _columns("id groupchat_id grouptag_id"),
    GroupMember: _columns(
        "id group_id member_id kind customer_id staff_id unionid name group_nickname joined_at "
        "join_scene inviter_userid state left_at quit_scene"
    ),
}
# Every table the generator fills, in the order it fills them.
TABLES = tuple(COLUMNS)
