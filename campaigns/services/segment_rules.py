"""The segment rules campaigns adds to ``customers.segments`` (registered by ``ready()``).

- ``live_codes``: [live code ids], customers added through any of them: the code's channel state,
  as WeCom echoes it on every add (``Follow.state``), so a deleted or paused code still counts;
- the ``channels`` rule gets the named channels as its choices.
"""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from customers.models import Customer
from customers.segments import (
    clean_id_list,
    filter_channels,
    segment_rule_choices_register,
    segment_rule_register,
)

from ..models import Channel, LiveCode


def live_codes_clean(value) -> list[int]:
    return clean_id_list(value, model=LiveCode, noun=_("live code"))


def live_codes_apply(customers: QuerySet[Customer], code_ids: list[int]) -> QuerySet[Customer]:
    states = list(LiveCode.objects.filter(id__in=code_ids).values_list("channel__state", flat=True))
    return filter_channels(customers, states) if states else customers.none()


def live_code_choices() -> list[tuple[int, str]]:
    return list(LiveCode.objects.order_by("name").values_list("id", "name")[:2000])


def channel_choices() -> list[tuple[str, str]]:
    return [
        (state, f"{name} ({state})") for state, name in Channel.objects.values_list("state", "name")[:2000]
    ]


def segment_rules_register() -> None:
    segment_rule_register(
        "live_codes",
        label=gettext_lazy("Added through these live codes"),
        clean=live_codes_clean,
        apply=live_codes_apply,
        choices=live_code_choices,
    )
    segment_rule_choices_register("channels", channel_choices)
