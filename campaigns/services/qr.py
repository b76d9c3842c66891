"""QR images of live codes and group codes: PNG, SVG and a printable A4 poster.

WeCom returns a contact way's or join way's QR as the URL of an image it hosts (``qr_code``). In
live mode that image *is* the code (what it encodes is WeCom's secret), so the PNG is WeCom's
image as fetched, and the SVG wraps the same image, since it cannot be redrawn as vectors. In
sandbox mode the URL is the sandbox's own, and segno draws it, as PNG or as true SVG.
"""

from __future__ import annotations

import base64
import io
from dataclasses import dataclass
from typing import Literal

import httpx
import segno
from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.utils.translation import gettext as _

QrKind = Literal["png", "svg"]

#: WeCom's QR images are a few kilobytes; anything much larger is not one.
MAX_IMAGE_BYTES = 2 * 1024 * 1024


class QrUnavailable(Exception):
    """The code has no QR yet, or WeCom's image could not be fetched; the message says which."""


@dataclass(frozen=True)
class QrImage:
    content: bytes
    content_type: str
    extension: str


def _drawn(qr_url: str, kind: QrKind) -> QrImage:
    buffer = io.BytesIO()
    code = segno.make(qr_url, error="m")
    if kind == "svg":
        code.save(buffer, kind="svg", scale=10, border=2, xmldecl=True, svgns=True, title=qr_url)
        return QrImage(buffer.getvalue(), "image/svg+xml", "svg")
    code.save(buffer, kind="png", scale=10, border=2)
    return QrImage(buffer.getvalue(), "image/png", "png")


def _fetched(qr_url: str) -> QrImage:
    try:
        response = httpx.get(qr_url, timeout=10, follow_redirects=True)
        response.raise_for_status()
    except httpx.HTTPError as error:
        message = _("WeCom's QR image could not be fetched: %(error)s") % {"error": error}
        raise QrUnavailable(message) from error
    content = response.content
    if len(content) > MAX_IMAGE_BYTES:
        raise QrUnavailable(_("WeCom's QR image is unexpectedly large."))
    content_type = response.headers.get("content-type", "image/png").split(";")[0].strip()
    extension = {"image/jpeg": "jpg", "image/gif": "gif"}.get(content_type, "png")
    return QrImage(content, content_type, extension)


def qr_image(*, qr_url: str, kind: QrKind) -> QrImage:
    """The QR of ``qr_url`` (a way's ``qr_code``) as PNG or SVG."""
    if not qr_url:
        raise QrUnavailable(_("This code has no QR yet: it has not been created in WeCom."))
    if settings.WECOM_MODE == "sandbox":
        return _drawn(qr_url, kind)
    image = _fetched(qr_url)
    if kind == "png":
        return image
    # WeCom's raster image inside an SVG document: the same code, in the format asked for.
    data = base64.b64encode(image.content).decode()
    svg = (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" '
        'width="430" height="430" viewBox="0 0 430 430">'
        f'<image width="430" height="430" xlink:href="data:{image.content_type};base64,{data}"/></svg>'
    )
    return QrImage(svg.encode(), "image/svg+xml", "svg")


def qr_download_response(*, qr_url: str, kind: QrKind, filename: str) -> HttpResponse:
    """An attachment response with the QR; ``filename`` without extension."""
    image = qr_image(qr_url=qr_url, kind=kind)
    response = HttpResponse(image.content, content_type=image.content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}.{image.extension}"'
    return response


def qr_poster_response(
    request: HttpRequest, *, qr_url: str, title: str, subtitle: str = "", footer: str = ""
) -> HttpResponse:
    """A printable A4 page: title, the QR large in the middle, a line under it.

    The QR is inlined as a data URI, so the page prints the same offline and saves whole.
    """
    image = qr_image(qr_url=qr_url, kind="png")
    data_uri = f"data:{image.content_type};base64,{base64.b64encode(image.content).decode()}"
    html = render_to_string(
        "campaigns/poster.html",
        {"title": title, "subtitle": subtitle, "footer": footer, "qr_data_uri": data_uri},
        request=request,
    )
    return HttpResponse(html)
