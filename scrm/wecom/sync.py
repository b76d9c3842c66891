"""Sync from WeCom: a registry of steps that apps register, run in order by one sync run.

Each app registers its step in ``AppConfig.ready()`` (org 100: departments and staff; customers
200: corp tags, customers and follows; groups 300: group chats and members), like the callback
handlers of :mod:`.events`. A step receives a :class:`SyncContext` and must be idempotent: a run
that is repeated, or retried half-way, ends with the same data.

Modes: ``full`` fetches everything and heals differences in both directions (rows WeCom has that
we lack are created, rows we hold that WeCom no longer has are closed); ``incremental`` lists ids
cheaply, fetches details only for what is new, and closes what is gone. The nightly
reconciliation is an incremental run.
"""

from __future__ import annotations

import copy
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Literal, TypeVar

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext

from scrm.schedules import periodic_task_ensure, schedule_time_zone

from .errors import TokenError, TransientError
from .models import SyncRun

if TYPE_CHECKING:
    from .client import WecomClient

logger = logging.getLogger(__name__)

T = TypeVar("T")

SyncMode = Literal["full", "incremental"]

ORDER_ORG = 100
ORDER_CUSTOMERS = 200
ORDER_GROUPS = 300


@dataclass
class SyncContext:
    """What a step gets: the client, the mode, and a way to report progress and counts."""

    client: WecomClient
    mode: SyncMode
    #: ``progress(step, done, total)``: ``total`` may be ``None`` while still unknown.
    progress: Callable[[str, int, int | None], None] = lambda step, done, total: None
    counts: dict[str, dict[str, int]] = field(default_factory=dict)
    #: Transient WeCom errors (busy, rate limited, timeouts) are retried this often per call,
    #: waiting ``retry_delay`` seconds, doubled after each attempt.
    retry_attempts: int = 6
    retry_delay: float = 1.0

    def call(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        """``fn(*args, **kwargs)``, retried with backoff on :class:`~.errors.TransientError`.

        Every client call of a step goes through here, so that a sync survives WeCom's transient
        failures (QUALITY.md R4) without each step writing its own loop.
        """
        delay = self.retry_delay
        for attempt in range(1, self.retry_attempts + 1):
            try:
                return fn(*args, **kwargs)
            except (TransientError, TokenError) as exc:
                # A token error here came right after the client's own refresh and retry (the
                # new token was refused too, e.g. expired again at once): try again later.
                if attempt == self.retry_attempts:
                    raise
                logger.info("sync: %s, retrying in %.1f s (attempt %s)", exc, delay, attempt)
                time.sleep(delay)
                delay *= 2
        raise AssertionError("unreachable")  # pragma: no cover

    def count(self, step: str, what: str, n: int = 1) -> None:
        """Add ``n`` to the ``what`` counter of ``step`` (created, updated, closed…)."""
        counters = self.counts.setdefault(step, {})
        counters[what] = counters.get(what, 0) + n


@dataclass(frozen=True)
class SyncStep:
    name: str
    order: int
    run: Callable[[SyncContext], None]


_STEPS: dict[str, SyncStep] = {}


def register_sync_step(name: str, *, order: int) -> Callable[[Callable[[SyncContext], None]], Callable]:
    """Register ``run(ctx)`` as the sync step ``name``; steps run by ascending ``order``."""

    def decorator(run: Callable[[SyncContext], None]) -> Callable[[SyncContext], None]:
        _STEPS[name] = SyncStep(name=name, order=order, run=run)
        return run

    return decorator


def sync_steps() -> list[SyncStep]:
    """The registered steps in the order they run."""
    return sorted(_STEPS.values(), key=lambda step: (step.order, step.name))


# --- Runs -----------------------------------------------------------------------------------------

#: A run that showed no sign of life for this long died with its worker; it no longer blocks
#: new runs. Steps report progress every few calls, and a call retried with the longest backoff
#: takes about a minute, so ten minutes of silence cannot be a live run.
STALE_RUNNING = timedelta(minutes=10)
#: A queued run whose task never started (the broker lost it) blocks new runs for at most this long.
STALE_QUEUED = timedelta(hours=1)
#: Progress is written to the run's row at most this often, not on every page.
PROGRESS_WRITE_INTERVAL = 1.0
ERROR_LENGTH = 4000

ProgressListener = Callable[[str, int, "int | None"], None]


class SyncBusy(Exception):
    """A sync was requested while another one is queued or running (or this occurrence ran)."""

    def __init__(self, run: SyncRun | None, message: str):
        super().__init__(message)
        self.run = run


def _stale_runs_fail(*, corp_id: str) -> int:
    """Mark runs whose worker died as failed, so that they stop blocking new runs."""
    now = timezone.now()
    stale = SyncRun.objects.filter(corp_id=corp_id).filter(
        Q(status=SyncRun.Status.RUNNING, heartbeat_at__lt=now - STALE_RUNNING)
        | Q(status=SyncRun.Status.QUEUED, created_at__lt=now - STALE_QUEUED)
    )
    return stale.update(
        status=SyncRun.Status.FAILED,
        finished_at=now,
        error=gettext("Interrupted: the worker stopped without finishing the run."),
    )


def sync_request(*, mode: str, trigger: str, occurrence: str = "") -> SyncRun:
    """Create a queued run, or raise :class:`SyncBusy` when one is already queued or running.

    The partial unique constraint decides between two concurrent requests, so exactly one wins
    whichever process they come from.
    """
    if mode not in SyncRun.Mode.values:
        raise ValueError(f"unknown sync mode {mode!r}; expected one of {', '.join(SyncRun.Mode.values)}")
    if trigger not in SyncRun.Trigger.values:
        raise ValueError(f"unknown sync trigger {trigger!r}")
    corp_id = settings.WECOM_CORP_ID
    _stale_runs_fail(corp_id=corp_id)
    try:
        with transaction.atomic():
            return SyncRun.objects.create(corp_id=corp_id, mode=mode, trigger=trigger, occurrence=occurrence)
    except IntegrityError:
        active = SyncRun.objects.filter(corp_id=corp_id, status__in=SyncRun.ACTIVE).first()
        if active is not None:
            raise SyncBusy(
                active,
                gettext("Sync #%(id)s is already %(status)s.")
                % {"id": active.pk, "status": active.get_status_display()},
            ) from None
        if not occurrence:  # the run that refused us ended in between: a rare race, not an error
            raise SyncBusy(None, gettext("Another sync was running; try again.")) from None
        done = SyncRun.objects.filter(corp_id=corp_id, occurrence=occurrence).first()
        raise SyncBusy(
            done, gettext("This scheduled sync (%(occurrence)s) already ran.") % {"occurrence": occurrence}
        ) from None


class _Recorder:
    """Keeps a run's progress and counts, and writes them to its row at most once a second."""

    def __init__(self, run: SyncRun, listener: ProgressListener | None):
        self.run = run
        self.listener = listener
        self.progress: dict[str, dict] = {
            step.name: {"done": 0, "total": None, "state": "pending"} for step in sync_steps()
        }
        self.counts: dict[str, dict[str, int]] = {}
        self.written_at = 0.0

    def write(self, **fields: object) -> None:
        self.written_at = time.monotonic()
        SyncRun.objects.filter(pk=self.run.pk).update(
            progress=copy.deepcopy(self.progress),
            counts=copy.deepcopy(self.counts),
            heartbeat_at=timezone.now(),
            **fields,
        )

    def report(self, step: str, done: int, total: int | None) -> None:
        entry = self.progress.setdefault(step, {"done": 0, "total": None, "state": "running"})
        entry["done"], entry["total"] = done, total
        if self.listener is not None:
            self.listener(step, done, total)
        if time.monotonic() - self.written_at >= PROGRESS_WRITE_INTERVAL:
            self.write()

    def step_state(self, step: str, state: str) -> None:
        entry = self.progress.setdefault(step, {"done": 0, "total": None, "state": state})
        entry["state"] = state
        if state == "done":
            # A step that never knew its total ends with what it did as the total: a full bar.
            entry["total"] = entry["total"] if entry["total"] is not None else entry["done"]
            entry["done"] = max(entry["done"], entry["total"])
        self.write()


def sync_execute(
    *,
    run_id: int,
    client: WecomClient | None = None,
    retry_delay: float | None = None,
    on_progress: ProgressListener | None = None,
) -> SyncRun | None:
    """Claim the queued run ``run_id`` and run every registered step in order.

    Returns the finished run, or None when there was nothing to claim (the run is already
    running, or finished): a task delivered twice runs the sync once. A failing step stops the
    run and is recorded with its error; the data stays consistent because every step is
    idempotent, and the next run heals what this one left undone.
    """
    now = timezone.now()
    claimed = SyncRun.objects.filter(pk=run_id, status=SyncRun.Status.QUEUED).update(
        status=SyncRun.Status.RUNNING, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return None
    run = SyncRun.objects.get(pk=run_id)
    if client is None:
        from .client import wecom_client  # the client module is heavier; imported when a run starts

        client = wecom_client("contact")
    recorder = _Recorder(run, on_progress)
    delay = (
        retry_delay if retry_delay is not None else float(getattr(settings, "WECOM_SYNC_RETRY_DELAY", 1.0))
    )
    ctx = SyncContext(client=client, mode=run.mode, progress=recorder.report, retry_delay=delay)
    recorder.counts = ctx.counts  # the steps count into the context; the recorder writes them
    recorder.write()
    for step in sync_steps():
        recorder.step_state(step.name, "running")
        try:
            step.run(ctx)
        except Exception as error:  # a failed step ends the run; the error is kept on the row
            logger.exception("sync #%s: step %s failed", run.pk, step.name)
            recorder.progress[step.name]["state"] = "failed"
            recorder.write(
                status=SyncRun.Status.FAILED,
                finished_at=timezone.now(),
                error=f"{step.name}: {type(error).__name__}: {error}"[:ERROR_LENGTH],
            )
            break
        recorder.step_state(step.name, "done")
    else:
        recorder.write(status=SyncRun.Status.DONE, finished_at=timezone.now())
    run.refresh_from_db()
    return run


def sync_run(
    *,
    mode: str,
    trigger: str,
    client: WecomClient | None = None,
    retry_delay: float | None = None,
    on_progress: ProgressListener | None = None,
) -> SyncRun:
    """Run a sync now, in this process; raises :class:`SyncBusy` when one is already running."""
    run = sync_request(mode=mode, trigger=trigger)
    finished = sync_execute(run_id=run.pk, client=client, retry_delay=retry_delay, on_progress=on_progress)
    return finished or SyncRun.objects.get(pk=run.pk)


def sync_enqueue(*, mode: str, trigger: str) -> SyncRun:
    """Queue a sync on the ``bulk`` queue; raises :class:`SyncBusy` when one is queued or running."""
    from .tasks import sync_process  # tasks import this module

    run = sync_request(mode=mode, trigger=trigger)
    transaction.on_commit(lambda: sync_process.delay(run.pk))
    return run


def sync_nightly() -> SyncRun | None:
    """The nightly reconciliation: an incremental run, once per local date whatever triggers it."""
    occurrence = f"nightly-{timezone.localdate(timezone=_schedule_zone()).isoformat()}"
    try:
        run = sync_request(
            mode=SyncRun.Mode.INCREMENTAL, trigger=SyncRun.Trigger.SCHEDULE, occurrence=occurrence
        )
    except SyncBusy as busy:
        logger.info("nightly sync skipped: %s", busy)
        return None
    return sync_execute(run_id=run.pk)


def _schedule_zone():
    from zoneinfo import ZoneInfo

    return ZoneInfo(schedule_time_zone())


NIGHTLY_TASK_NAME = "wecom: nightly reconciliation"


def nightly_schedule_ensure(**kwargs: object) -> bool:
    """Create the nightly reconciliation schedule (03:00 local) unless one has its name."""
    return periodic_task_ensure(
        name=NIGHTLY_TASK_NAME,
        task="scrm.wecom.tasks.sync_nightly_run",
        queue="bulk",
        description="Incremental sync from WeCom that heals missed callbacks.",
        crontab={"minute": "0", "hour": "3"},
        using=kwargs.get("using"),
    )
