"""Playing the other side of WeCom: what WeChat users, staff in the WeCom client and WeCom's own
clock do, as named actions.

Each action changes the sandbox's tables as WeCom would and emits the callbacks WeCom would send
(:func:`scrm.sandbox.callbacks.callback_emit`). Actions are registered with :func:`action` by the
modules of :mod:`scrm.sandbox.actions`; the console at ``/sandbox/`` renders a form for each, and
the JSON API runs them: ``POST /sandbox/player/<name>/`` with a JSON object of the fields.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

Json = dict[str, Any]


class PlayerError(Exception):
    """The action cannot be played as asked (unknown member, code expired…): a 400 with this message."""


@dataclass(frozen=True)
class Field:
    """One input of an action: ``kind`` decides the form widget and how the value is parsed."""

    name: str
    label: str
    kind: Literal["text", "int", "bool", "list"] = "text"
    required: bool = True
    help: str = ""
    default: Any = None


@dataclass(frozen=True)
class Action:
    """A named move of the other side. ``run(corp_id, data)`` returns a JSON-able result."""

    name: str
    title: str
    group: str
    run: Callable[[str, Json], Json]
    fields: Sequence[Field] = field(default_factory=tuple)
    help: str = ""


ACTIONS: dict[str, Action] = {}


def action(
    name: str, title: str, *, group: str, fields: Sequence[Field] = (), help: str = ""
) -> Callable[[Callable[[str, Json], Json]], Callable[[str, Json], Json]]:
    """Register ``run(corp_id, data) -> dict`` as the action ``name``."""

    def register(run: Callable[[str, Json], Json]) -> Callable[[str, Json], Json]:
        if name in ACTIONS:
            raise ValueError(f"sandbox action {name!r} is registered twice")
        ACTIONS[name] = Action(name=name, title=title, group=group, run=run, fields=tuple(fields), help=help)
        return run

    return register
