"""Media upload (``media/upload``, ``media/uploadimg``) and the attachment checks that use it
(WECOM.md §7.1: welcome messages, group welcome templates, contact-way conclusions).

Uploads are multipart with the file in the ``media`` field, as WeCom takes them. Temporary media
live 3 days of simulated time; ``uploadimg`` gives a permanent image URL, the only ``pic_url``
an image attachment accepts. The sandbox keeps each file's name, size and digest, not its bytes.
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import PurePath
from typing import Any

from ..clock import sandbox_time
from ..models import SandboxMedia
from .base import ApiError, Ctx, Json, endpoint

#: Temporary media expire after 3 days.
MEDIA_TTL = 3 * 86400
MIN_SIZE = 5

# type → (allowed extensions, max bytes, errcode when too large): WeCom's temporary media rules.
UPLOAD_RULES: dict[str, tuple[frozenset[str], int, int]] = {
    "image": (frozenset({".jpg", ".jpeg", ".png"}), 10 * 1024 * 1024, 40009),
    "voice": (frozenset({".amr"}), 2 * 1024 * 1024, 40006),
    "video": (frozenset({".mp4"}), 10 * 1024 * 1024, 40006),
    "file": (frozenset(), 20 * 1024 * 1024, 40006),
}
UPLOADIMG_MAX = 2 * 1024 * 1024

ATTACHMENT_TYPES = ("image", "link", "miniprogram", "video", "file")


def _store(ctx: Ctx, *, kind: str, media_id: str) -> SandboxMedia:
    upload = ctx.files["media"]
    digest = hashlib.sha256()
    for chunk in upload.chunks():
        digest.update(chunk)
    return SandboxMedia.objects.create(
        corp_id=ctx.corp_id,
        media_id=media_id,
        type=kind,
        filename=(upload.name or "")[:255],
        content_type=(upload.content_type or "")[:128],
        size=upload.size or 0,
        sha256=digest.hexdigest(),
        created_at=sandbox_time(),
    )


def _upload_checked(
    ctx: Ctx, kind: str, extensions: frozenset[str], max_size: int, size_errcode: int
) -> None:
    upload = ctx.files.get("media")
    if upload is None:
        raise ApiError(41005, "the file goes in the multipart field 'media'")
    suffix = PurePath(upload.name or "").suffix.lower()
    if extensions and suffix not in extensions:
        raise ApiError(40005, f"{kind} must be one of {', '.join(sorted(extensions))}")
    if not MIN_SIZE <= (upload.size or 0) <= max_size:
        raise ApiError(size_errcode, f"{kind} must be {MIN_SIZE} bytes to {max_size // (1024 * 1024)} MB")


@endpoint("media/upload", "POST")
def media_upload(ctx: Ctx) -> Json:
    kind = ctx.params.get("type", "")
    if kind not in UPLOAD_RULES:
        raise ApiError(40004, "type must be image, voice, video or file")
    _upload_checked(ctx, kind, *UPLOAD_RULES[kind])
    media = _store(ctx, kind=kind, media_id=f"3{secrets.token_urlsafe(48)}")
    # WeCom sends created_at as a string.
    return {"type": kind, "media_id": media.media_id, "created_at": str(media.created_at)}


@endpoint("media/uploadimg", "POST")
def media_uploadimg(ctx: Ctx) -> Json:
    _upload_checked(ctx, "image", frozenset({".jpg", ".jpeg", ".png"}), UPLOADIMG_MAX, 40009)
    url = f"https://sandbox.invalid/wwpic/{secrets.token_hex(16)}/0"
    _store(ctx, kind="uploadimg", media_id=url)
    return {"url": url}


# --- attachment checks ------------------------------------------------------------------------------


def _byte_len(value: Any) -> int:
    return len(str(value).encode())


def media_require(corp_id: str, media_id: Any, kinds: tuple[str, ...], name: str) -> None:
    """40007 unless ``media_id`` is a live temporary upload of one of ``kinds`` in this corp."""
    if not media_id or not isinstance(media_id, str):
        raise ApiError(40058, f"{name} is required")
    row = SandboxMedia.objects.filter(corp_id=corp_id, media_id=media_id).values("type", "created_at").first()
    if row is None or row["type"] not in kinds or row["created_at"] + MEDIA_TTL < sandbox_time():
        raise ApiError(40007, f"{name} is not a live {'/'.join(kinds)} upload")


def pic_url_known(corp_id: str, url: Any) -> bool:
    return bool(url) and SandboxMedia.objects.filter(corp_id=corp_id, media_id=url, type="uploadimg").exists()


def attachment_check(corp_id: str, kind: str, content: Any) -> None:
    """Check one attachment body (the object under its ``msgtype``) as WeCom does (§7.1)."""
    if kind not in ATTACHMENT_TYPES:
        raise ApiError(41065, f"msgtype must be one of {', '.join(ATTACHMENT_TYPES)}")
    if not isinstance(content, dict):
        raise ApiError(41065, f"the {kind} object is missing")
    if kind == "image":
        if content.get("media_id"):  # media_id wins when both are given
            media_require(corp_id, content["media_id"], ("image",), "image.media_id")
        elif content.get("pic_url"):
            if not pic_url_known(corp_id, content["pic_url"]):
                raise ApiError(40058, "image.pic_url must come from media/uploadimg")
        else:
            raise ApiError(40058, "image needs media_id or pic_url")
    elif kind == "link":
        if not content.get("title") or not content.get("url"):
            raise ApiError(40058, "link needs title and url")
        if _byte_len(content["title"]) > 128 or _byte_len(content.get("desc", "")) > 512:
            raise ApiError(41064, "link title ≤128 bytes, desc ≤512 bytes")
        if _byte_len(content["url"]) > 2048:
            raise ApiError(41064, "link url ≤2048 bytes")
    elif kind == "miniprogram":
        for name in ("title", "pic_media_id", "appid", "page"):
            if not content.get(name):
                raise ApiError(40058, f"miniprogram.{name} is required")
        if _byte_len(content["title"]) > 64:
            raise ApiError(41064, "miniprogram title ≤64 bytes")
        media_require(corp_id, content["pic_media_id"], ("image",), "miniprogram.pic_media_id")
    else:  # video, file
        media_require(corp_id, content.get("media_id"), (kind,), f"{kind}.media_id")


def attachments_check(corp_id: str, attachments: Any, *, limit: int = 9) -> None:
    """Check a message's ``attachments`` list: at most ``limit``, each ``{msgtype, <msgtype>: {…}}``."""
    if not isinstance(attachments, list):
        raise ApiError(40058, "attachments must be a list")
    if len(attachments) > limit:
        raise ApiError(40058, f"at most {limit} attachments")
    for item in attachments:
        if not isinstance(item, dict):
            raise ApiError(41065, "each attachment is an object with msgtype")
        kind = item.get("msgtype")
        attachment_check(corp_id, str(kind or ""), item.get(str(kind or "")))
