"""What the admins of live codes and group codes share: state and status columns, the way's
config id, and the QR downloads (PNG, SVG and the A4 poster)."""

from __future__ import annotations

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import NON_FIELD_ERRORS, PermissionDenied, ValidationError
from django.http import Http404, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext, pgettext_lazy
from django.utils.translation import gettext_lazy as _
from unfold.decorators import display

from ..services.qr import QrUnavailable, qr_download_response, qr_poster_response

#: WeCom's limit on a contact way's or join way's ``state``.
STATE_MAX = 30


class SaveRefused(Exception):
    """The service refused the save after the form validated: show its errors on the form."""

    def __init__(self, error: ValidationError) -> None:
        super().__init__(str(error))
        self.error = error


class CodeForm(forms.ModelForm):
    """A code's form: its ``state`` (a field of the subclass) starts as the channel's, and a fresh
    bound copy can show the errors of a save the service refused."""

    #: Errors of a refused save, replayed on the bound form (set by ``CodeAdminMixin.get_form``).
    service_error: ValidationError | None = None

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        if self.instance.channel_id and not self.is_bound:
            self.initial["state"] = self.instance.channel.state

    def clean(self):
        cleaned = super().clean()
        error = self.service_error
        if error is not None:
            details = (
                error.message_dict if hasattr(error, "error_dict") else {NON_FIELD_ERRORS: error.messages}
            )
            for field, problems in details.items():
                self.add_error(field if field in self.fields else None, problems)
        return cleaned


class CodeAdminMixin:
    """For a ``ModelAdmin`` of a code with ``name``, ``channel``, ``status`` (active / paused),
    ``config_id`` and ``qr_code``.

    Adds the views ``<pk>/qr.png``, ``<pk>/qr.svg`` and ``<pk>/poster/`` (named
    ``<app>_<model>_qr`` and ``…_poster``), :meth:`qr_links` for lists and forms, and
    :meth:`way_html`, which in sandbox mode links the way's config id to the console's move.
    """

    #: The downloaded file's name before the state, e.g. ``live-code``.
    qr_filename_prefix = "code"
    #: The poster's line under the title.
    poster_subtitle = ""
    #: The sandbox console's move that scans this kind of code.
    sandbox_move = ""

    @display(description=pgettext_lazy("channel", "state"), ordering="channel__state")
    def show_state(self, obj):
        return obj.channel.state

    @display(description=_("status"), ordering="status", label={"active": "success", "paused": "warning"})
    def show_status(self, obj):
        return obj.status, obj.get_status_display()

    def get_form(self, request, obj=None, change=False, **kwargs):
        form = super().get_form(request, obj, change=change, **kwargs)
        refused = getattr(request, "_code_save_refused", None)
        if refused is not None:
            form = type(form.__name__, (form,), {"service_error": refused})
        return form

    def changeform_view(self, request, object_id=None, form_url="", extra_context=None):
        # Not wrapped in a transaction (ModelAdmin's is): the services call WeCom between their
        # own short transactions. A refusal (``SaveRefused`` from ``save_related``) is replayed on
        # a fresh, bound form.
        try:
            return self._changeform_view(request, object_id, form_url, extra_context)
        except SaveRefused as refused:
            request._code_save_refused = refused.error
            return self._changeform_view(request, object_id, form_url, extra_context)

    def _qr_route(self, what: str) -> str:
        return f"{self.opts.app_label}_{self.opts.model_name}_{what}"

    def qr_urls(self) -> list:
        view = self.admin_site.admin_view
        return [
            path("<int:pk>/qr.<str:kind>", view(self.qr_view), name=self._qr_route("qr")),
            path("<int:pk>/poster/", view(self.poster_view), name=self._qr_route("poster")),
        ]

    def qr_download_links(self, obj):
        if not obj.qr_code:
            return "-"
        links = [
            (reverse(f"admin:{self._qr_route('qr')}", args=[obj.pk, "png"]), "PNG"),
            (reverse(f"admin:{self._qr_route('qr')}", args=[obj.pk, "svg"]), "SVG"),
            (reverse(f"admin:{self._qr_route('poster')}", args=[obj.pk]), gettext("A4 poster")),
        ]
        return format_html_join(" · ", '<a href="{}">{}</a>', links)

    def way_html(self, obj):
        if not obj.config_id:
            return "-"
        if settings.WECOM_MODE != "sandbox" or not self.sandbox_move:
            return obj.config_id
        console = reverse("sandbox:console") + f"#action-{self.sandbox_move}"
        return format_html(
            '<code>{}</code> · <a href="{}">{}</a>',
            obj.config_id,
            console,
            gettext("scan it in the sandbox (%(move)s)") % {"move": self.sandbox_move},
        )

    def code_for(self, request, pk: int):
        if not self.has_view_or_change_permission(request):
            raise PermissionDenied
        return get_object_or_404(self.get_queryset(request), pk=pk)

    def _no_qr(self, request, code, error: QrUnavailable):
        self.message_user(request, str(error), messages.ERROR)
        return HttpResponseRedirect(reverse(f"admin:{self._qr_route('change')}", args=[code.pk]))

    def qr_view(self, request, pk: int, kind: str):
        code = self.code_for(request, pk)
        if kind not in ("png", "svg"):
            raise Http404(kind)
        try:
            filename = f"{self.qr_filename_prefix}-{code.channel.state}"
            return qr_download_response(qr_url=code.qr_code, kind=kind, filename=filename)
        except QrUnavailable as error:
            return self._no_qr(request, code, error)

    def poster_view(self, request, pk: int):
        code = self.code_for(request, pk)
        try:
            return qr_poster_response(
                request,
                qr_url=code.qr_code,
                title=code.name,
                subtitle=str(self.poster_subtitle),
                footer=code.channel.state,
            )
        except QrUnavailable as error:
            return self._no_qr(request, code, error)
