"""Running the generator in a second process, so that a big PostgreSQL load uses both cores.

psycopg2 holds the GIL while it copies, so a thread cannot overlap generating and loading. A
child process can: it generates the rows and encodes the COPY text; the parent only streams that
text into the database, inside its own transaction, while the child works on the next chunk.
The child never touches the database, and the rows are exactly those of an in-process run.
"""

from __future__ import annotations

import multiprocessing
import queue
from datetime import date, tzinfo

from . import child as child_process
from .generator import DemoFacts, DemoGenerator
from .writers import CopySink

# Big builds only: starting the child costs about a second.
CHILD_PROCESS_FROM = 50_000


class _ForwardingSink(CopySink):
    """The child's sink: encodes like CopySink, but hands each chunk to the parent."""

    def __init__(self, connection, *, now: int, freeze: set[str], channel, rename: dict[str, str]):
        super().__init__(connection, now=now, freeze=freeze, rename=rename)
        self.channel = channel

    def _copy(self, sql: str, data: str) -> None:
        self.channel.put(("copy", sql, data))


def produce_chunks(
    kwargs: dict, freeze: set[str], channel, rename: dict[str, str] | None = None
) -> tuple[DemoFacts, dict[str, int]]:
    """In the child: generate everything, handing COPY chunks to ``channel``."""
    from django.db import DEFAULT_DB_ALIAS, connections

    generator = DemoGenerator(**kwargs)
    sink = _ForwardingSink(
        connections[DEFAULT_DB_ALIAS],
        now=generator.clock.latest,
        freeze=freeze,
        channel=channel,
        rename=rename or {},
    )
    facts = generator.run(sink)
    sink.close()
    return facts, {model._meta.label: count for model, count in sink.counts().items()}


def generate_in_child(
    *, sink: CopySink, customers: int, seed: int, base_date: date, tz: tzinfo, progress
) -> tuple[DemoFacts, dict[str, int]]:
    """Generate in a child process and COPY its chunks through ``sink``'s connection."""
    context = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited database socket
    channel = context.Queue(maxsize=4)
    kwargs = {"customers": customers, "seed": seed, "base_date": base_date, "tz": tz}
    child = context.Process(
        target=child_process.produce,
        args=(kwargs, sink.freeze, channel, sink.rename),
        name="seed-demo",
        daemon=True,
    )
    child.start()
    copied = 0
    try:
        while True:
            try:
                message = channel.get(timeout=5)
            except queue.Empty:
                if not child.is_alive():
                    raise RuntimeError(
                        f"The demo generator process died (exit code {child.exitcode})."
                    ) from None
                continue
            if message[0] == "copy":
                sink._copy(message[1], message[2])
                copied += message[2].count("\n")
                if progress and copied // 1_000_000 != (copied - message[2].count("\n")) // 1_000_000:
                    progress(f"{copied:,} rows loaded")
            elif message[0] == "done":
                return message[1], message[2]
            else:
                raise RuntimeError(f"The demo generator process failed:\n{message[1]}")
    finally:
        child.join(timeout=10)
        if child.is_alive():
            child.terminate()
