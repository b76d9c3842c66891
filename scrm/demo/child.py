"""Entry point of the generator's child process (see pipeline.py).

Kept apart from every module that imports models: a freshly spawned interpreter imports this
module before Django is set up.
"""

from __future__ import annotations

import traceback


def produce(kwargs: dict, freeze: set[str], channel, rename: dict[str, str] | None = None) -> None:
    """Set Django up (models only, never the database), generate, and send every chunk to the parent."""
    try:
        import django

        django.setup()
        from .pipeline import produce_chunks

        channel.put(("done", *produce_chunks(kwargs, freeze, channel, rename)))
    except BaseException:
        channel.put(("error", traceback.format_exc()))
