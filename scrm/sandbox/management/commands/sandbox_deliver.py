"""``python manage.py sandbox_deliver``: post the sandbox's pending callbacks now, in this process."""

from __future__ import annotations

from django.core.management.base import BaseCommand

from scrm.sandbox.callbacks import callbacks_deliver_pending
from scrm.sandbox.models import SandboxCallback


class Command(BaseCommand):
    help = (
        "Deliver the WeCom sandbox's pending callbacks to WECOM_SANDBOX_CALLBACK_URL "
        "(for WECOM_SANDBOX_CALLBACKS=off, or rows a stopped server left behind)."
    )

    def add_arguments(self, parser):
        parser.add_argument("--corp", default="", help="Only this corp id.")
        parser.add_argument(
            "--retry-failed",
            action="store_true",
            help="Also send again the callbacks whose four attempts all failed.",
        )

    def handle(self, *args, corp: str, retry_failed: bool, **options):
        if retry_failed:
            failed = SandboxCallback.objects.filter(status=SandboxCallback.Status.FAILED)
            if corp:
                failed = failed.filter(corp_id=corp)
            failed.update(status=SandboxCallback.Status.PENDING, attempts=0, last_result="")
        delivered = callbacks_deliver_pending(corp_id=corp or None)
        left = SandboxCallback.objects.exclude(status=SandboxCallback.Status.DELIVERED)
        if corp:
            left = left.filter(corp_id=corp)
        self.stdout.write(f"delivered {delivered} callback(s); {left.count()} not delivered")
