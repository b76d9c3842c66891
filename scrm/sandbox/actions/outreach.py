"""Sandbox player actions: outreach (staff confirm mass messages and publish moments, a customer
refuses a transfer). The state machines themselves are in :mod:`scrm.sandbox.outreach`."""

from __future__ import annotations

from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from ..models import SandboxOutreachRules
from ..outreach import (
    mass_message_send,
    moment_publish,
    moment_react,
    outreach_rules,
    outreach_rules_set,
    transfer_refuse,
)
from ..player import Field, Json, PlayerError, action

OUTREACH = gettext_lazy("Outreach")


@action(
    "mass_message_send",
    gettext_lazy("A staff member sends their mass message"),
    group=OUTREACH,
    fields=[
        Field("msgid", gettext_lazy("Mass message id (msg…)")),
        Field("userid", gettext_lazy("Staff member (userid)")),
        Field(
            "external_userids",
            gettext_lazy("Only these recipients"),
            kind="list",
            required=False,
            help=gettext_lazy(
                "External userids or chat ids; leave empty to send to every recipient of the task."
            ),
        ),
    ],
    help=gettext_lazy(
        "The member confirms the task in the client; each recipient ends sent, not a friend, "
        "or over the receive cap."
    ),
)
def mass_message_send_action(corp_id: str, data: Json) -> Json:
    targets = data.get("external_userids") or None
    if targets is not None and not (isinstance(targets, list) and all(isinstance(t, str) for t in targets)):
        raise PlayerError(_("external_userids must be a list of ids."))
    return mass_message_send(
        corp_id=corp_id, msgid=_text(data, "msgid"), userid=_text(data, "userid"), targets=targets
    )


@action(
    "moment_publish",
    gettext_lazy("A staff member publishes a moment"),
    group=OUTREACH,
    fields=[
        Field("moment_id", gettext_lazy("Moment id (mom…)")),
        Field("userid", gettext_lazy("Staff member (userid)")),
    ],
    help=gettext_lazy("The member publishes the corp's moment; their customers in its audience can see it."),
)
def moment_publish_action(corp_id: str, data: Json) -> Json:
    return moment_publish(corp_id=corp_id, moment_id=_text(data, "moment_id"), userid=_text(data, "userid"))


@action(
    "moment_react",
    gettext_lazy("A customer comments on or likes a moment"),
    group=OUTREACH,
    fields=[
        Field("moment_id", gettext_lazy("Moment id (mom…)")),
        Field("userid", gettext_lazy("Staff member who published it (userid)")),
        Field("external_userid", gettext_lazy("Customer (external_userid)")),
        Field("like", gettext_lazy("A like, not a comment"), kind="bool", required=False, default=False),
    ],
    help=gettext_lazy("Shows in get_moment_comments of that member's moment."),
)
def moment_react_action(corp_id: str, data: Json) -> Json:
    return moment_react(
        corp_id=corp_id,
        moment_id=_text(data, "moment_id"),
        userid=_text(data, "userid"),
        external_userid=_text(data, "external_userid"),
        like=bool(data.get("like")),
    )


@action(
    "transfer_refuse",
    gettext_lazy("A customer refuses a transfer"),
    group=OUTREACH,
    fields=[Field("external_userid", gettext_lazy("Customer (external_userid)"))],
    help=gettext_lazy("The customer refuses the waiting handover: status 3 and a transfer_fail callback."),
)
def transfer_refuse_action(corp_id: str, data: Json) -> Json:
    return transfer_refuse(corp_id=corp_id, external_userid=_text(data, "external_userid"))


@action(
    "outreach_rules",
    gettext_lazy("An admin sets the mass-message rule and the customer limit"),
    group=OUTREACH,
    fields=[
        Field(
            "receive_cap",
            gettext_lazy("Mass messages a customer receives"),
            required=False,
            help=gettext_lazy("month_days (default), week_7, day_1 or month_4 (the legacy rule)."),
        ),
        Field(
            "member_customer_limit",
            gettext_lazy("Customers per staff member"),
            kind="int",
            required=False,
            help=gettext_lazy("A transfer to a member at this limit fails with status 4."),
        ),
    ],
    help=gettext_lazy("The rules WeCom's console sets; leave a field empty to keep its value."),
)
def outreach_rules_action(corp_id: str, data: Json) -> Json:
    receive_cap = data.get("receive_cap") or None
    if receive_cap is not None and receive_cap not in SandboxOutreachRules.ReceiveCap.values:
        raise PlayerError(
            _("receive_cap must be one of %(values)s.")
            % {"values": ", ".join(SandboxOutreachRules.ReceiveCap.values)}
        )
    limit = data.get("member_customer_limit")
    if limit is not None and not 0 <= limit <= 10_000_000:
        raise PlayerError(_("member_customer_limit must be between 0 and 10000000."))
    outreach_rules_set(receive_cap=receive_cap, member_customer_limit=limit)
    rules = outreach_rules()
    return {"receive_cap": rules.receive_cap, "member_customer_limit": rules.member_customer_limit}


def _text(data: Json, name: str) -> str:
    value = data.get(name)
    if not value or not isinstance(value, str):
        raise PlayerError(_("%(name)s is required.") % {"name": name})
    return value
