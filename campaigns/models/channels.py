"""Named acquisition channels: the labels behind WeCom's ``state``."""

from __future__ import annotations

from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

__all__ = ["Channel"]


class Channel(models.Model):
    """A named acquisition channel (渠道). Every add that carries ``state`` is attributed to it.

    WeCom echoes the ``state`` of the contact way or join way that brought a customer; live codes
    (a later capability) each own one channel, and posters, ads or stores can be given their own.
    """

    state = models.CharField(
        pgettext_lazy("channel", "state"),
        max_length=30,
        unique=True,
        help_text=_("The value WeCom echoes back; at most 30 characters."),
    )
    name = models.CharField(_("name"), max_length=100)
    description = models.TextField(_("description"), blank=True)
    created_at = models.DateTimeField(_("created at"), auto_now_add=True)

    class Meta:
        verbose_name = _("channel")
        verbose_name_plural = _("channels")
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name
