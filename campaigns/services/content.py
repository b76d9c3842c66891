"""Content library services: materials, scripts and the sensitive-word screen (PRODUCT.md D1).

Interface used by every outbound feature (broadcasts, moments, SOP steps, welcome messages):
call :func:`sensitive_words_check` with the texts when content is saved (the error goes to the
form or the API as a 400) and again right before it is sent.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError


class SensitiveWordBlocked(ValidationError):
    """Content holds a word on the list with the ``block`` action; the message names the word(s)."""


def sensitive_words_check(*texts: str) -> list[str]:
    """Screen ``texts`` against the sensitive-word list.

    Raises :class:`SensitiveWordBlocked` naming every blocking word found; returns the warn-only
    words found (an empty list when the content is clean), for the caller to show as a warning.
    """
    raise NotImplementedError
