"""Media upload (``media/upload``, ``media/uploadimg``) and the attachment checks of messages
that carry media (WECOM.md §7.1)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Literal

from ..errors import ArgumentError
from .base import EndpointsBase, Json, require

MediaType = Literal["image", "voice", "video", "file"]
MEDIA_TYPES = ("image", "voice", "video", "file")
ATTACHMENT_TYPES = ("image", "link", "miniprogram", "video", "file")
#: WeCom's size limits for temporary media, in bytes (all at least 5 bytes).
MEDIA_MAX_BYTES = {"image": 10 << 20, "voice": 2 << 20, "video": 10 << 20, "file": 20 << 20}
UPLOADIMG_MAX_BYTES = 2 << 20


def _bytes(value: Any) -> int:
    return len(str(value).encode())


def check_attachment(kind: str, content: Any, api: str) -> None:
    """Raise :class:`ArgumentError` unless ``content`` is a valid ``kind`` attachment body (§7.1)."""
    if kind not in ATTACHMENT_TYPES:
        raise ArgumentError(None, f"attachment type must be one of {', '.join(ATTACHMENT_TYPES)}", api)
    if not isinstance(content, Mapping):
        raise ArgumentError(None, f"the {kind} attachment needs its {kind} object", api)
    if kind == "image":
        if not content.get("media_id") and not content.get("pic_url"):
            raise ArgumentError(None, "an image needs media_id or pic_url", api)
    elif kind == "link":
        if not content.get("title") or not content.get("url"):
            raise ArgumentError(None, "a link needs title and url", api)
        if _bytes(content["title"]) > 128 or _bytes(content.get("desc", "")) > 512:
            raise ArgumentError(None, "a link's title is at most 128 bytes and desc 512 bytes", api)
        if _bytes(content["url"]) > 2048:
            raise ArgumentError(None, "a link's url is at most 2048 bytes", api)
    elif kind == "miniprogram":
        for name in ("title", "pic_media_id", "appid", "page"):
            if not content.get(name):
                raise ArgumentError(None, f"a miniprogram needs {name}", api)
        if _bytes(content["title"]) > 64:
            raise ArgumentError(None, "a miniprogram's title is at most 64 bytes", api)
    elif not content.get("media_id"):
        raise ArgumentError(None, f"a {kind} needs media_id", api)


def check_attachments(attachments: Sequence[Mapping[str, Any]], api: str, *, limit: int = 9) -> None:
    """Raise :class:`ArgumentError` unless each item is ``{"msgtype": t, t: {…}}`` and there are
    at most ``limit`` of them."""
    if len(attachments) > limit:
        raise ArgumentError(None, f"at most {limit} attachments", api)
    for item in attachments:
        if not isinstance(item, Mapping):
            raise ArgumentError(None, "each attachment is a mapping with msgtype", api)
        kind = str(item.get("msgtype") or "")
        check_attachment(kind, item.get(kind), api)


class MediaApi(EndpointsBase):
    # --- media (WECOM.md §7.1) ---------------------------------------------------------------------

    def media_upload(
        self, media_type: MediaType, *, filename: str, content: bytes, content_type: str = ""
    ) -> Json:
        """``media/upload?type=…``: temporary media for attachments, valid 3 days.

        Returns ``{"type", "media_id", "created_at"}``; keep ``media_id`` and upload again after
        3 days. Limits: image (jpg/png) and video (mp4) 10 MB, voice (amr) 2 MB, file 20 MB.
        """
        api = "media/upload"
        if media_type not in MEDIA_TYPES:
            raise ArgumentError(None, f"media_type must be one of {', '.join(MEDIA_TYPES)}", api)
        require(filename, "filename", api)
        if not 5 <= len(content) <= MEDIA_MAX_BYTES[media_type]:
            limit = MEDIA_MAX_BYTES[media_type] >> 20
            raise ArgumentError(None, f"a {media_type} is 5 bytes to {limit} MB", api)
        data = self._upload(
            api,
            filename=filename,
            content=content,
            content_type=content_type or "application/octet-stream",
            type=media_type,
        )
        return {
            "type": data.get("type", media_type),
            "media_id": data["media_id"],
            "created_at": data.get("created_at"),
        }

    def media_uploadimg(self, *, filename: str, content: bytes, content_type: str = "image/png") -> str:
        """``media/uploadimg``: a permanent image (jpg/png, ≤2 MB); returns its URL, the only kind of
        ``pic_url`` that image attachments accept."""
        api = "media/uploadimg"
        require(filename, "filename", api)
        if not 5 <= len(content) <= UPLOADIMG_MAX_BYTES:
            raise ArgumentError(None, "an image is 5 bytes to 2 MB", api)
        return self._upload(api, filename=filename, content=content, content_type=content_type)["url"]
