"""What every group of endpoint methods shares: the call primitives and argument checks.

The client's methods are grouped by area of WECOM.md, one mixin per module of this package;
:class:`scrm.wecom.client.WecomClient` combines them. Arguments are checked before the call, so
that a request WeCom would refuse never leaves (and never counts against a rate limit).
"""

from __future__ import annotations

from typing import Any

from ..errors import ArgumentError

Json = dict[str, Any]


class EndpointsBase:
    """The primitives the mixins call; :class:`~scrm.wecom.client.WecomClient` implements them."""

    def _get(self, path: str, **params: Any) -> Json:
        raise NotImplementedError

    def _post(self, path: str, body: Json) -> Json:
        raise NotImplementedError

    def _upload(self, path: str, *, filename: str, content: bytes, content_type: str, **params: Any) -> Json:
        raise NotImplementedError


def require(value: Any, name: str, api: str) -> None:
    """Raise :class:`ArgumentError` when ``value`` is empty."""
    if not value:
        raise ArgumentError(None, f"{name} is required", api)


def check_range(value: int, low: int, high: int, name: str, api: str) -> None:
    """Raise :class:`ArgumentError` unless ``low <= value <= high``."""
    if not isinstance(value, int) or not low <= value <= high:
        raise ArgumentError(None, f"{name} must be between {low} and {high}, not {value!r}", api)


def check_name(value: str, name: str, api: str) -> None:
    """Raise :class:`ArgumentError` unless ``value`` is 1-30 characters (tag and group names)."""
    if not value or len(value) > 30:
        raise ArgumentError(None, f"{name} must be 1-30 characters", api)
