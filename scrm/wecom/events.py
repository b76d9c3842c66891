"""Decrypted WeCom callbacks as typed events, and the registry of the apps' handlers.

``event_parse`` reads the inner XML of a callback with defusedxml (no DTDs, no entities) into an
immutable ``CallbackEvent``. Its ``dedupe_key`` hashes the event's full identity (WECOM.md 12.1,
QUALITY.md trap 2): WeCom's retries of one event share a key, while two customers adding the same
staff member in the same second do not.

Apps register handlers in their ``AppConfig.ready()``::

    register("change_external_contact", "add_external_contact", order=ORDER_CUSTOMERS)(handler)

``dispatch`` runs the handlers of an event in ascending ``order`` (customers, then groups, then
campaigns); handlers must be idempotent, because a failed event is dispatched again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from xml.etree.ElementTree import Element

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import ParseError, fromstring

ORDER_CUSTOMERS = 100
ORDER_GROUPS = 200
ORDER_CAMPAIGNS = 300


class EventParseError(ValueError):
    """The decrypted callback is not a well-formed, entity-free XML event."""


def xml_parse(text: str | bytes) -> Element:
    """Parse untrusted XML: DTDs, entity declarations and external references are refused."""
    try:
        return fromstring(text, forbid_dtd=True, forbid_entities=True, forbid_external=True)
    except (ParseError, DefusedXmlException, ValueError) as error:
        raise EventParseError(f"malformed or unsafe XML: {type(error).__name__}") from error


def _text(root: Element, tag: str) -> str:
    node = root.find(tag)
    return (node.text or "").strip() if node is not None else ""


def _int(value: str) -> int | None:
    try:
        return int(value)
    except ValueError:
        return None


def _members(root: Element) -> tuple[str, ...]:
    """``MemChangeList``: ``<Item>`` children since client 4.8.0, a comma-separated string before."""
    node = root.find("MemChangeList")
    if node is None:
        return ()
    items = [(item.text or "").strip() for item in node.findall("Item")]
    if not items:
        items = (node.text or "").split(",")
    return tuple(item.strip() for item in items if item.strip())


@dataclass(frozen=True)
class CallbackEvent:
    """One decrypted callback event. ``fields`` holds every top-level element as text."""

    event: str
    change_type: str = ""
    create_time: int = 0
    to_user_name: str = ""
    from_user_name: str = ""
    msg_type: str = ""
    user_id: str = ""
    external_user_id: str = ""
    chat_id: str = ""
    tag_id: str = ""
    tag_type: str = ""
    strategy_id: str = ""
    update_detail: str = ""
    join_scene: int | None = None
    quit_scene: int | None = None
    mem_change_cnt: int | None = None
    mem_change_list: tuple[str, ...] = ()
    state: str = ""
    welcome_code: str = ""
    fail_reason: str = ""
    source: str = ""
    fields: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))

    @property
    def dedupe_key(self) -> str:
        """A hash of the event's identity: equal for WeCom's retries, distinct for distinct events."""
        if self.fields.get("MsgId"):
            identity = ["msg", self.to_user_name, self.fields["MsgId"]]
        else:
            identity = [
                self.to_user_name,
                self.event,
                self.change_type,
                str(self.create_time),
                self.user_id,
                self.external_user_id,
                self.chat_id,
                self.tag_id,
                self.tag_type,
                self.update_detail,
                ",".join(sorted(self.mem_change_list)),
                self.fields.get("LastMemVer", ""),
                self.fields.get("CurMemVer", ""),
                self.fields.get("StrategyId", ""),
                self.fields.get("Source", ""),
            ]
        # The unit separator cannot occur in ids, so ("a", "bc") and ("ab", "c") never collide.
        return hashlib.sha256("\x1f".join(identity).encode()).hexdigest()

    def payload(self) -> dict:
        """A JSON-friendly form of the parsed event, stored in the inbox row."""
        return {
            "event": self.event,
            "change_type": self.change_type,
            "create_time": self.create_time,
            "user_id": self.user_id,
            "external_user_id": self.external_user_id,
            "chat_id": self.chat_id,
            "tag_id": self.tag_id,
            "tag_type": self.tag_type,
            "update_detail": self.update_detail,
            "join_scene": self.join_scene,
            "quit_scene": self.quit_scene,
            "mem_change_list": list(self.mem_change_list),
            "state": self.state,
            "welcome_code": self.welcome_code,
            "fail_reason": self.fail_reason,
            "source": self.source,
            "fields": dict(self.fields),
        }


def event_from_root(root: Element) -> CallbackEvent:
    if root.tag != "xml":
        raise EventParseError("the root element is not <xml>")
    fields = {child.tag: (child.text or "").strip() for child in root if len(child) == 0}
    event = _text(root, "Event")
    if not event and not _text(root, "MsgType"):
        raise EventParseError("neither Event nor MsgType")
    create_time = _int(_text(root, "CreateTime")) or 0
    return CallbackEvent(
        event=event,
        change_type=_text(root, "ChangeType"),
        create_time=create_time,
        to_user_name=_text(root, "ToUserName"),
        from_user_name=_text(root, "FromUserName"),
        msg_type=_text(root, "MsgType"),
        user_id=_text(root, "UserID"),
        external_user_id=_text(root, "ExternalUserID"),
        chat_id=_text(root, "ChatId"),
        tag_id=_text(root, "Id"),
        tag_type=_text(root, "TagType"),
        strategy_id=_text(root, "StrategyId"),
        update_detail=_text(root, "UpdateDetail"),
        join_scene=_int(_text(root, "JoinScene")),
        quit_scene=_int(_text(root, "QuitScene")),
        mem_change_cnt=_int(_text(root, "MemChangeCnt")),
        mem_change_list=_members(root),
        state=_text(root, "State"),
        welcome_code=_text(root, "WelcomeCode"),
        fail_reason=_text(root, "FailReason"),
        source=_text(root, "Source"),
        fields=MappingProxyType(fields),
    )


def event_parse(xml: str | bytes) -> CallbackEvent:
    """The typed event of a decrypted callback; raises ``EventParseError`` for anything else."""
    return event_from_root(xml_parse(xml))


# --- Handler registry -----------------------------------------------------------------------------

Handler = Callable[[CallbackEvent], object]


@dataclass(frozen=True)
class _Registration:
    event: str
    change_type: str | None
    order: int
    handler: Handler


_registry: list[_Registration] = []


def register(event: str, change_type: str | None = None, *, order: int = ORDER_CUSTOMERS):
    """Register a handler for ``event`` (and ``change_type``; None means every change type).

    Usable as a decorator or called as ``register(...)(handler)``. Registering the same handler
    twice for the same event is a no-op, so a repeated ``ready()`` cannot double the work.
    """

    def decorator(handler: Handler) -> Handler:
        registration = _Registration(event, change_type, order, handler)
        if registration not in _registry:
            _registry.append(registration)
        return handler

    return decorator


def unregister(handler: Handler) -> None:
    """Remove every registration of ``handler`` (for tests)."""
    _registry[:] = [r for r in _registry if r.handler is not handler]


def handlers_for(event: CallbackEvent) -> list[Handler]:
    matching = [
        r
        for r in _registry
        if r.event == event.event and (r.change_type is None or r.change_type == event.change_type)
    ]
    # sorted() is stable: handlers of equal order run in registration order.
    return [r.handler for r in sorted(matching, key=lambda r: r.order)]


def dispatch(event: CallbackEvent) -> int:
    """Run the handlers of ``event`` in their order; returns how many ran. Errors propagate."""
    handlers = handlers_for(event)
    for handler in handlers:
        handler(event)
    return len(handlers)
