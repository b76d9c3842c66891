"""Log filters: no access token or corp secret reaches a log handler.

WeCom wants ``access_token`` (and ``gettoken`` the ``corpsecret``) in the query string, so any
line that prints a URL would print them: httpx's request log on our side, and the development
server's request log when it serves the sandbox's ``/sandbox/cgi-bin/…``. Settings attach
:class:`RedactSecrets` to the console handler and to ``django.server``.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping

_SECRET_IN_URL = re.compile(r"(access_token|corpsecret)=[^&\s\"']*")


def redact(text: str) -> str:
    """``text`` with the value of every ``access_token=`` and ``corpsecret=`` replaced by ``***``."""
    return _SECRET_IN_URL.sub(r"\1=***", text)


class RedactSecrets(logging.Filter):
    """Rewrites a record's message and arguments with :func:`redact`; never drops a record."""

    def filter(self, record: logging.LogRecord) -> bool:
        # Arguments may be URL objects (httpx passes ``request.url``): redact their text form.
        if isinstance(record.args, tuple):
            record.args = tuple(_redacted(a) for a in record.args)
        elif isinstance(record.args, Mapping):
            record.args = {k: _redacted(v) for k, v in record.args.items()}
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def _redacted(value: object) -> object:
    text = str(value)
    return redact(text) if "=" in text else value
