"""Prepare the embedded default for a first look: the demo admin and, on an empty database, demo data."""

from __future__ import annotations

import os
import secrets

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

from customers.models import Customer

PASSWORD_FILE = settings.VAR_DIR / "demo_admin_password"


class Command(BaseCommand):
    help = (
        "Create the demo superuser 'admin' (password printed) and load demo data if there are no customers."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--customers", type=int, default=300, help="Demo size when the database is empty."
        )

    def handle(self, *args, customers: int, **options):
        password = self._admin_password()
        User = get_user_model()
        admin, created = User.objects.get_or_create(
            username="admin", defaults={"is_staff": True, "is_superuser": True, "email": "admin@example.com"}
        )
        if created or os.environ.get("DEMO_ADMIN_PASSWORD") or not admin.has_usable_password():
            admin.set_password(password)
        admin.is_staff = admin.is_superuser = admin.is_active = True
        admin.save()

        if not Customer.objects.exists():
            self.stdout.write("Empty database: loading demo data…")
            call_command("seed_demo", customers=customers, stdout=self.stdout)

        if admin.check_password(password):
            self.stdout.write(self.style.SUCCESS(f"Demo admin: user 'admin', password '{password}'"))
        else:
            self.stdout.write(
                self.style.WARNING(
                    "User 'admin' exists with another password; set DEMO_ADMIN_PASSWORD to reset it."
                )
            )

    def _admin_password(self) -> str:
        """DEMO_ADMIN_PASSWORD wins; otherwise one random password, kept under var/ across runs."""
        if os.environ.get("DEMO_ADMIN_PASSWORD"):
            return os.environ["DEMO_ADMIN_PASSWORD"]
        if PASSWORD_FILE.exists():
            return PASSWORD_FILE.read_text().strip()
        password = secrets.token_urlsafe(9)
        PASSWORD_FILE.parent.mkdir(parents=True, exist_ok=True)
        PASSWORD_FILE.write_text(password)
        PASSWORD_FILE.chmod(0o600)
        return password
