"""Parsing decrypted callbacks (WECOM.md 12.2, 12.3), dedupe keys and the handler registry."""

from __future__ import annotations

import dataclasses

import pytest

from scrm.wecom import events
from scrm.wecom.events import (
    ORDER_CAMPAIGNS,
    ORDER_CUSTOMERS,
    ORDER_GROUPS,
    EventParseError,
    dispatch,
    event_parse,
    register,
    unregister,
)


def contact_xml(
    change_type="add_external_contact", user="alice", external="wmAAAA", create_time=1700000000, **extra
):
    more = "".join(f"<{k}><![CDATA[{v}]]></{k}>" for k, v in extra.items())
    return (
        "<xml><ToUserName><![CDATA[wwCORPID]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>\n"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>\n"
        "<Event><![CDATA[change_external_contact]]></Event>"
        f"<ChangeType><![CDATA[{change_type}]]></ChangeType>\n"
        f"<UserID><![CDATA[{user}]]></UserID><ExternalUserID><![CDATA[{external}]]></ExternalUserID>\n"
        f"{more}</xml>"
    )


def chat_xml(members: str, update_detail="add_member", create_time=1700000100):
    return (
        "<xml><ToUserName><![CDATA[wwCORPID]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{create_time}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[wrOgAAAA]]></ChatId>"
        f"<ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[{update_detail}]]></UpdateDetail>"
        "<JoinScene>3</JoinScene><QuitScene>0</QuitScene><MemChangeCnt>2</MemChangeCnt>"
        f"<MemChangeList>{members}</MemChangeList><LastMemVer>v1</LastMemVer><CurMemVer>v2</CurMemVer></xml>"
    )


def tag_xml(change_type="create", tag_id="etAAAA", tag_type="tag"):
    return (
        "<xml><ToUserName><![CDATA[wwCORPID]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        "<CreateTime>1700000200</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        "<Event><![CDATA[change_external_tag]]></Event>"
        f"<Id><![CDATA[{tag_id}]]></Id><TagType><![CDATA[{tag_type}]]></TagType>"
        f"<ChangeType><![CDATA[{change_type}]]></ChangeType></xml>"
    )


def test_add_external_contact():
    event = event_parse(contact_xml(State="ad_campaign_7", WelcomeCode="WC123"))
    assert event.event == "change_external_contact"
    assert event.change_type == "add_external_contact"
    assert event.create_time == 1700000000
    assert event.to_user_name == "wwCORPID"
    assert (event.user_id, event.external_user_id) == ("alice", "wmAAAA")
    assert (event.state, event.welcome_code) == ("ad_campaign_7", "WC123")
    assert event.fields["FromUserName"] == "sys"


def test_del_follow_user_and_del_external_contact_with_source():
    event = event_parse(contact_xml("del_follow_user"))
    assert (event.change_type, event.user_id, event.external_user_id) == (
        "del_follow_user",
        "alice",
        "wmAAAA",
    )
    deleted = event_parse(contact_xml("del_external_contact", Source="DELETE_BY_TRANSFER"))
    assert deleted.source == "DELETE_BY_TRANSFER"
    failed = event_parse(contact_xml("transfer_fail", FailReason="customer_refused"))
    assert failed.fail_reason == "customer_refused"


@pytest.mark.parametrize(
    "members",
    ["<Item><![CDATA[wmA]]></Item><Item><![CDATA[wmB]]></Item>", "<![CDATA[wmA,wmB]]>", "wmA, wmB"],
)
def test_chat_update_add_member_in_both_forms(members):
    event = event_parse(chat_xml(members))
    assert (event.event, event.change_type) == ("change_external_chat", "update")
    assert event.chat_id == "wrOgAAAA"
    assert event.update_detail == "add_member"
    assert (event.join_scene, event.quit_scene, event.mem_change_cnt) == (3, 0, 2)
    assert event.mem_change_list == ("wmA", "wmB")
    assert event.payload()["mem_change_list"] == ["wmA", "wmB"]


def test_both_member_list_forms_have_the_same_key():
    items = event_parse(chat_xml("<Item>wmA</Item><Item>wmB</Item>"))
    assert items.dedupe_key == event_parse(chat_xml("wmA,wmB")).dedupe_key


@pytest.mark.parametrize(("change_type", "tag_type"), [("create", "tag"), ("delete", "tag_group")])
def test_tag_events(change_type, tag_type):
    event = event_parse(tag_xml(change_type, tag_type=tag_type))
    assert (event.event, event.change_type) == ("change_external_tag", change_type)
    assert (event.tag_id, event.tag_type) == ("etAAAA", tag_type)


def test_event_is_immutable():
    event = event_parse(contact_xml())
    with pytest.raises(dataclasses.FrozenInstanceError):
        event.user_id = "mallory"
    with pytest.raises(TypeError):
        event.fields["UserID"] = "mallory"


def test_retries_share_a_key_and_distinct_events_do_not():
    first = event_parse(contact_xml())
    assert event_parse(contact_xml()).dedupe_key == first.dedupe_key
    # Same staff, same second, another customer: the trap of keying on sender + time.
    assert event_parse(contact_xml(external="wmBBBB")).dedupe_key != first.dedupe_key
    assert event_parse(contact_xml(user="bob")).dedupe_key != first.dedupe_key
    assert event_parse(contact_xml(create_time=1700000001)).dedupe_key != first.dedupe_key
    assert event_parse(contact_xml("del_follow_user")).dedupe_key != first.dedupe_key
    assert len(first.dedupe_key) == 64
    add, remove = event_parse(chat_xml("wmA")), event_parse(chat_xml("wmA", update_detail="del_member"))
    assert add.dedupe_key != remove.dedupe_key
    assert event_parse(chat_xml("wmB")).dedupe_key != add.dedupe_key
    assert event_parse(tag_xml(tag_id="et1")).dedupe_key != event_parse(tag_xml(tag_id="et2")).dedupe_key


@pytest.mark.parametrize(
    "xml",
    [
        "<xml><Event>x</Event>",
        "not xml",
        "<other><Event>x</Event></other>",
        "<xml><Nothing/></xml>",
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaa">]><xml><Event>&a;</Event></xml>',
        '<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]><xml><Event>&x;</Event></xml>',
    ],
)
def test_bad_xml_is_a_parse_error(xml):
    with pytest.raises(EventParseError):
        event_parse(xml)


@pytest.fixture
def calls():
    calls: list[str] = []

    def customers(event):
        calls.append("customers")

    def groups(event):
        calls.append("groups")

    def campaigns(event):
        calls.append("campaigns")

    def other(event):
        calls.append("other")

    # Registered out of order on purpose: the order number decides.
    register("change_external_contact", "add_external_contact", order=ORDER_CAMPAIGNS)(campaigns)
    register("change_external_contact", order=ORDER_GROUPS)(groups)
    register("change_external_contact", "add_external_contact", order=ORDER_CUSTOMERS)(customers)
    register("change_external_contact", "add_external_contact", order=ORDER_CUSTOMERS)(customers)
    register("change_external_chat")(other)
    yield calls
    for handler in (customers, groups, campaigns, other):
        unregister(handler)


def test_dispatch_runs_handlers_in_order_once_each(calls):
    assert dispatch(event_parse(contact_xml())) == 3
    assert calls == ["customers", "groups", "campaigns"]


def test_dispatch_matches_change_type(calls):
    dispatch(event_parse(contact_xml("del_follow_user")))
    assert calls == ["groups"]
    calls.clear()
    dispatch(event_parse(tag_xml()))
    assert calls == []


def test_unregister_leaves_others():
    before = list(events._registry)

    def handler(event):
        pass

    register("change_external_tag")(handler)
    unregister(handler)
    assert events._registry == before
