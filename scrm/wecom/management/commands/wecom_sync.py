"""``manage.py wecom_sync [--full|--incremental] [--async]``: sync from WeCom now, or queue it."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import gettext as _

from scrm.wecom.models import SyncRun
from scrm.wecom.sync import SyncBusy, sync_enqueue, sync_run

#: Seconds between two progress lines of the same step.
PRINT_INTERVAL = 2.0


class Command(BaseCommand):
    help = (
        "Sync departments, staff, tags, customers and groups from WeCom. Runs here and prints its "
        "progress, or with --async queues the run for a worker of the bulk queue. Incremental by "
        "default: lists everything, fetches details only for what is new, closes what is gone."
    )

    def add_arguments(self, parser):
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--full", action="store_const", const="full", dest="mode", help="Fetch every detail."
        )
        mode.add_argument(
            "--incremental",
            action="store_const",
            const="incremental",
            dest="mode",
            help="Fetch details only for what is new (the default).",
        )
        parser.add_argument("--async", action="store_true", dest="queue", help="Queue the run for a worker.")

    def handle(self, *args, mode: str | None, queue: bool, **options):
        mode = mode or SyncRun.Mode.INCREMENTAL
        try:
            if queue:
                run = sync_enqueue(mode=mode, trigger=SyncRun.Trigger.COMMAND)
                self.stdout.write(_("Sync #%(id)s queued (%(mode)s).") % {"id": run.pk, "mode": mode})
                return
            run = sync_run(mode=mode, trigger=SyncRun.Trigger.COMMAND, on_progress=self._printer())
        except SyncBusy as busy:
            raise CommandError(str(busy)) from None
        for step, counts in run.counts.items():
            details = ", ".join(f"{what} {n}" for what, n in sorted(counts.items()))
            self.stdout.write(f"  {step}: {details}")
        if run.status != SyncRun.Status.DONE:
            raise CommandError(_("Sync #%(id)s failed: %(error)s") % {"id": run.pk, "error": run.error})
        self.stdout.write(
            self.style.SUCCESS(_("Sync #%(id)s done (%(mode)s).") % {"id": run.pk, "mode": mode})
        )

    def _printer(self):
        printed: dict[str, float] = {}

        def show(step: str, done: int, total: int | None) -> None:
            now = time.monotonic()
            finished = total is not None and done >= total
            if not finished and now - printed.get(step, 0.0) < PRINT_INTERVAL:
                return
            printed[step] = now
            self.stdout.write(f"{step}: {done}/{total if total is not None else '?'}")

        return show
