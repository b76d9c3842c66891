"""The sandbox console at ``/sandbox/`` and the player's JSON API at ``/sandbox/player/``.

The console shows the emulated corp at a glance (address book, latest customers and groups, the
callback outbox with each delivery's fate, the latest API calls, the simulated clock) and a form
per player action, rendered from the actions' :class:`~scrm.sandbox.player.Field` specs. The JSON
API runs the same actions for scripts and tests:

- ``GET /sandbox/player/`` lists the actions and their fields;
- ``POST /sandbox/player/<name>/`` with a JSON object of the fields (and optionally ``corp_id``)
  answers 200 with the action's result, 400 ``{"error": …}`` for bad input, 404 for an unknown
  action.

Both need a logged-in staff user (the admin's session). The JSON API is exempt from Django's CSRF
token, for scripts, but takes only ``Content-Type: application/json``: a browser cannot send that
cross-site without a CORS preflight, which this server never grants, so another site cannot make
a logged-in admin's browser play actions. The console's own forms keep the CSRF token.

The whole of ``/sandbox/`` answers 404 when ``WECOM_MODE`` is ``live``.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable, Mapping
from functools import wraps
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.views import redirect_to_login
from django.db import OperationalError, transaction
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from . import actions as _registered_actions  # noqa: F401  (importing registers the actions)
from .clock import clock_offset, sandbox_now
from .models import (
    SandboxApp,
    SandboxCall,
    SandboxCallback,
    SandboxExternalContact,
    SandboxGroupChat,
    SandboxMember,
)
from .player import ACTIONS, Action, Field, PlayerError

logger = logging.getLogger(__name__)

#: Rows shown per panel of the console.
PANEL_ROWS = 20
#: Counts stop here ("10,000+"): the sandbox may hold a million customers.
COUNT_LIMIT = 10_000


# --- guards -----------------------------------------------------------------------------------------


def sandbox_only(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """404 for the whole sandbox when the project talks to real WeCom."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if settings.WECOM_MODE != "sandbox":
            raise Http404("the sandbox is off in live mode")
        return view(request, *args, **kwargs)

    return guarded


def _is_staff(request: HttpRequest) -> bool:
    user = request.user
    return bool(user.is_authenticated and user.is_active and user.is_staff)


def staff_console(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The admin's login for the console pages."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not _is_staff(request):
            return redirect_to_login(request.get_full_path(), reverse("admin:login"))
        return view(request, *args, **kwargs)

    return guarded


def staff_json(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The admin's login for the JSON API: 403 with a JSON error instead of a redirect."""

    @wraps(view)
    def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not _is_staff(request):
            return _error(_("Log in to the admin as a staff user first."), status=403)
        return view(request, *args, **kwargs)

    return guarded


def _error(message: str, *, status: int = 400) -> JsonResponse:
    return JsonResponse({"error": message}, status=status, json_dumps_params={"ensure_ascii": False})


# --- input: the Field specs decide how each value is read ---------------------------------------------

_LIST_SEPARATORS = re.compile(r"[,\s，]+")
_TRUE = {"1", "true", "on", "yes"}
_FALSE = {"", "0", "false", "off", "no"}


def _value(spec: Field, raw: Any) -> Any:
    if spec.kind == "text":
        if isinstance(raw, bool) or not isinstance(raw, str | int):
            raise PlayerError(_("%(field)s must be text.") % {"field": spec.name})
        return str(raw).strip()
    if spec.kind == "int":
        if isinstance(raw, bool):
            raise PlayerError(_("%(field)s must be a whole number.") % {"field": spec.name})
        try:
            return int(str(raw).strip())
        except ValueError:
            raise PlayerError(_("%(field)s must be a whole number.") % {"field": spec.name}) from None
    if spec.kind == "bool":
        if isinstance(raw, bool):
            return raw
        text = str(raw).strip().lower()
        if text in _TRUE | _FALSE:
            return text in _TRUE
        raise PlayerError(_("%(field)s must be true or false.") % {"field": spec.name})
    if isinstance(raw, str):
        return [item for item in _LIST_SEPARATORS.split(raw) if item]
    if isinstance(raw, list) and all(isinstance(item, str) for item in raw):
        return [item.strip() for item in raw if item.strip()]
    raise PlayerError(_("%(field)s must be a list of strings.") % {"field": spec.name})


def action_input(spec: Action, raw: Mapping[str, Any]) -> dict[str, Any]:
    """The action's input read from JSON or a form by its fields; unknown names are refused."""
    known = {f.name for f in spec.fields}
    unknown = sorted(set(raw) - known - {"corp_id", "csrfmiddlewaretoken"})
    if unknown:
        raise PlayerError(_("Unknown fields: %(names)s.") % {"names": ", ".join(unknown)})
    data: dict[str, Any] = {}
    for field in spec.fields:
        raw_value = raw.get(field.name)
        if raw_value is None or (isinstance(raw_value, str | list) and not raw_value):
            if field.required:
                raise PlayerError(_("%(field)s is required.") % {"field": field.name})
            if field.default is not None:
                data[field.name] = field.default
            continue
        data[field.name] = _value(field, raw_value)
    return data


def action_play(*, name: str, corp_id: str, raw: Mapping[str, Any]) -> dict[str, Any]:
    """Run the action ``name`` in one transaction; PlayerError for bad input, KeyError if unknown."""
    spec = ACTIONS[name]
    data = action_input(spec, raw)
    with transaction.atomic():
        return spec.run(corp_id, data)


def _corp(request: HttpRequest, raw: Mapping[str, Any] | None = None) -> str:
    corp = (raw or {}).get("corp_id") or request.GET.get("corp") or settings.WECOM_CORP_ID
    if not isinstance(corp, str):
        raise PlayerError(_("corp_id must be text."))
    return corp


def actions_describe() -> list[dict[str, Any]]:
    return [
        {
            "name": spec.name,
            "title": str(spec.title),
            "group": str(spec.group),
            "help": str(spec.help),
            "fields": [
                {
                    "name": f.name,
                    "label": str(f.label),
                    "kind": f.kind,
                    "required": f.required,
                    "help": str(f.help),
                    "default": f.default,
                }
                for f in spec.fields
            ],
        }
        for spec in ACTIONS.values()
    ]


# --- JSON API ----------------------------------------------------------------------------------------


@sandbox_only
@staff_json
@require_http_methods(["GET"])
def player_list(request: HttpRequest) -> JsonResponse:
    return JsonResponse(
        {"corp_id": settings.WECOM_CORP_ID, "actions": actions_describe()},
        json_dumps_params={"ensure_ascii": False},
    )


@csrf_exempt
@sandbox_only
@staff_json
@require_POST
def player_run(request: HttpRequest, name: str) -> JsonResponse:
    if name not in ACTIONS:
        return _error(_("No action %(name)s.") % {"name": name}, status=404)
    if request.content_type != "application/json":
        return _error(_("Send a JSON object with Content-Type: application/json."), status=415)
    try:
        raw = json.loads(request.body or b"{}")
    except ValueError:
        return _error(_("The body is not valid JSON."))
    if not isinstance(raw, dict):
        return _error(_("The body must be a JSON object."))
    try:
        result = action_play(name=name, corp_id=_corp(request, raw), raw=raw)
    except PlayerError as error:
        return _error(str(error))
    except OperationalError:
        # SQLite's one writer is busy (a worker mid-transaction): nothing was written.
        logger.warning("sandbox action %s: database busy", name, exc_info=True)
        return _error(_("The database is busy; play the action again."), status=503)
    return JsonResponse(result, json_dumps_params={"ensure_ascii": False})


# --- the console ------------------------------------------------------------------------------------


def _capped_count(queryset) -> str:
    n = queryset.order_by().values("pk")[: COUNT_LIMIT + 1].count()
    return f"{COUNT_LIMIT:,}+" if n > COUNT_LIMIT else f"{n:,}"


def _field_widget(field: Field) -> str:
    return {"int": "number", "bool": "checkbox"}.get(field.kind, "text")


#: The console lists groups of actions in the order of a visit: people first, the clock last.
_LEADING_ACTIONS = ["add_contact", "group_create", "scan_contact_way", "mass_message_send", "member_join"]


def _group_rank(entries: list[dict[str, Any]]) -> tuple[int, str]:
    names = [entry["spec"].name for entry in entries]
    if "advance_time" in names:
        return len(_LEADING_ACTIONS) + 1, ""
    ranks = [_LEADING_ACTIONS.index(n) for n in names if n in _LEADING_ACTIONS]
    return (min(ranks) if ranks else len(_LEADING_ACTIONS)), str(entries[0]["spec"].group)


def console_context(corp_id: str) -> dict[str, Any]:
    """What the console shows of one emulated corp: a fixed number of rows per panel."""
    members = SandboxMember.objects.filter(corp_id=corp_id)
    contacts = SandboxExternalContact.objects.filter(corp_id=corp_id)
    chats = SandboxGroupChat.objects.filter(corp_id=corp_id)
    latest_contacts = list(contacts.order_by("-id").prefetch_related("follows__member")[:PANEL_ROWS])
    latest_chats = [
        {"chat": chat, "size": len(chat.member_list)} for chat in chats.order_by("-id")[:PANEL_ROWS]
    ]
    groups: dict[str, list[dict[str, Any]]] = {}
    for spec in ACTIONS.values():
        groups.setdefault(str(spec.group), []).append(
            {
                "spec": spec,
                "fields": [{"field": f, "widget": _field_widget(f)} for f in spec.fields],
            }
        )
    return {
        "corp_id": corp_id,
        "corps": sorted(set(SandboxApp.objects.values_list("corp_id", flat=True))),
        "now": sandbox_now(),
        "offset": clock_offset(),
        "counts": {
            "members": _capped_count(members),
            "contacts": _capped_count(contacts),
            "groups": _capped_count(chats),
        },
        "members": list(members.order_by("userid")[:PANEL_ROWS]),
        "contacts": latest_contacts,
        "chats": latest_chats,
        "callbacks": list(SandboxCallback.objects.filter(corp_id=corp_id).order_by("-id")[:PANEL_ROWS]),
        "calls": list(SandboxCall.objects.order_by("-id")[:PANEL_ROWS]),
        "action_groups": sorted(groups.items(), key=lambda item: _group_rank(item[1])),
        "callback_mode": settings.WECOM_SANDBOX_CALLBACKS,
        "callback_url": settings.WECOM_SANDBOX_CALLBACK_URL,
    }


@sandbox_only
@staff_console
@require_http_methods(["GET"])
def console(request: HttpRequest) -> HttpResponse:
    return render(request, "sandbox/console.html", console_context(_corp(request)))


@sandbox_only
@staff_console
@require_POST
def console_play(request: HttpRequest, name: str) -> HttpResponse:
    """A console form: run the action, say how it went, back to the console."""
    if name not in ACTIONS:
        raise Http404(name)
    spec = ACTIONS[name]
    raw: dict[str, Any] = {k: v for k, v in request.POST.items() if k != "csrfmiddlewaretoken"}
    for field in spec.fields:
        if field.kind == "bool":
            raw[field.name] = field.name in request.POST
    raw = {k: v for k, v in raw.items() if v != ""}
    corp_id = request.POST.get("corp_id") or settings.WECOM_CORP_ID
    try:
        result = action_play(name=name, corp_id=corp_id, raw=raw)
    except PlayerError as error:
        messages.error(request, f"{spec.title}: {error}")
    except OperationalError:
        logger.warning("sandbox action %s: database busy", name, exc_info=True)
        messages.error(request, f"{spec.title}: {_('The database is busy; play the action again.')}")
    else:
        messages.success(request, f"{spec.title}: {json.dumps(result, ensure_ascii=False)}")
    url = reverse("sandbox:console")
    if corp_id != settings.WECOM_CORP_ID:
        url += "?" + urlencode({"corp": corp_id})
    return HttpResponseRedirect(f"{url}#action-{name}")
