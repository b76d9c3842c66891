"""Group welcome templates (入群欢迎语素材): add, edit, get, del (WECOM.md §7.2).

At most 100 per corp (41055). Only the app that created a template may edit or delete it.
"""

from __future__ import annotations

import secrets

from ..clock import sandbox_time
from ..models import SandboxWelcomeTemplate
from .base import ApiError, Ctx, Json, endpoint, int_param
from .media import attachment_check

MAX_TEMPLATES = 100
ATTACHMENT_KEYS = ("image", "link", "miniprogram", "file", "video")
TEXT_MAX_BYTES = 4000


def _content(ctx: Ctx, base: dict | None = None) -> dict:
    """The template's content: ``base`` with the body's text and attachments applied and checked."""
    content = dict(base or {})
    if "text" in ctx.body:
        text = ctx.body["text"]
        if text is not None and (
            not isinstance(text, dict) or len(str(text.get("content", "")).encode()) > TEXT_MAX_BYTES
        ):
            raise ApiError(40058, f"text.content is at most {TEXT_MAX_BYTES} bytes")
        content["text"] = {"content": str(text.get("content", ""))} if text else None
    for kind in ATTACHMENT_KEYS:
        if kind in ctx.body:
            value = ctx.body[kind]
            if value:
                attachment_check(ctx.corp_id, kind, value)
            content[kind] = value or None
    content = {k: v for k, v in content.items() if v}
    if not (content.get("text") or {}).get("content") and not any(k in content for k in ATTACHMENT_KEYS):
        raise ApiError(44004, "text or an attachment is required")
    return content


def _notify(ctx: Ctx, default: int) -> int:
    notify = int_param(ctx.body.get("notify"), "notify", default=default)
    if notify not in (0, 1):
        raise ApiError(40058, "notify must be 0 or 1")
    return notify


def _template(ctx: Ctx, *, own: bool) -> SandboxWelcomeTemplate:
    template_id = ctx.body.get("template_id")
    if not template_id:
        raise ApiError(40058, "template_id is required")
    template = SandboxWelcomeTemplate.objects.filter(
        corp_id=ctx.corp_id, template_id=str(template_id)
    ).first()
    if template is None:
        raise ApiError(40058, "invalid template_id")
    if own and template.app_id != ctx.app.pk:
        raise ApiError(48002, "the template was created by another app")
    return template


@endpoint("externalcontact/group_welcome_template/add", "POST", contact=True)
def template_add(ctx: Ctx) -> Json:
    content = _content(ctx)
    if SandboxWelcomeTemplate.objects.filter(corp_id=ctx.corp_id).count() >= MAX_TEMPLATES:
        raise ApiError(41055)
    agentid = ctx.body.get("agentid")
    template = SandboxWelcomeTemplate.objects.create(
        corp_id=ctx.corp_id,
        template_id="msg" + secrets.token_urlsafe(24),
        app=ctx.app,
        content=content,
        agentid=int_param(agentid, "agentid") if agentid is not None else None,
        notify=_notify(ctx, 1),
        create_time=sandbox_time(),
    )
    return {"template_id": template.template_id}


@endpoint("externalcontact/group_welcome_template/edit", "POST", contact=True)
def template_edit(ctx: Ctx) -> Json:
    template = _template(ctx, own=True)
    template.content = _content(ctx, template.content)
    if "notify" in ctx.body:
        template.notify = _notify(ctx, template.notify)
    template.save(update_fields=["content", "notify"])
    return {}


@endpoint("externalcontact/group_welcome_template/get", "POST", contact=True)
def template_get(ctx: Ctx) -> Json:
    template = _template(ctx, own=False)
    data: Json = {"text": {"content": ""}, **template.content}
    return data


@endpoint("externalcontact/group_welcome_template/del", "POST", contact=True)
def template_del(ctx: Ctx) -> Json:
    _template(ctx, own=True).delete()
    return {}
