"""``manage.py create_api_key --user USERNAME --name NAME [--days N]``: print a new API key once."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from scrm.org.scoping import user_role
from scrm.org.services import api_key_create

MAX_DAYS = 3650


class Command(BaseCommand):
    help = (
        "Create an API key that acts as USERNAME, with that user's role and data scope. The key is "
        "printed once on standard output and cannot be shown again: only its digest is stored."
    )

    def add_arguments(self, parser):
        parser.add_argument("--user", required=True, metavar="USERNAME", help="The login the key acts as.")
        parser.add_argument("--name", required=True, help="What the key is for, e.g. 'POS sync'.")
        parser.add_argument(
            "--days",
            type=int,
            default=settings.SCRM_API_KEY_DEFAULT_DAYS,
            help="Days until the key expires (default: %(default)s, from SCRM_API_KEY_DEFAULT_DAYS).",
        )

    def handle(self, *args, user: str, name: str, days: int, **options):
        if not 1 <= days <= MAX_DAYS:
            raise CommandError(f"--days must be between 1 and {MAX_DAYS}.")
        User = get_user_model()
        login = User.objects.filter(**{User.USERNAME_FIELD: user}).first()
        if login is None:
            raise CommandError(f"No user named {user!r}.")
        if not login.is_active:
            raise CommandError(f"User {user!r} is inactive: a key acting as them would be refused.")
        if not name.strip():
            raise CommandError("--name must not be blank.")
        try:
            key, raw_key = api_key_create(
                user=login, name=name.strip(), expires_at=timezone.now() + timedelta(days=days)
            )
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from exc
        # The key alone goes to stdout, so that scripts can capture it; the rest goes to stderr.
        expires = f"{key.expires_at:%Y-%m-%d %H:%M %Z}"
        self.stderr.write(
            f"API key {key.name!r} (prefix {key.prefix}) for {user}, expires {expires}. "
            "Store it now: it is not shown again."
        )
        if user_role(login) is None:
            self.stderr.write(
                self.style.WARNING(f"{user} has no role: every API call with this key gets 403.")
            )
        self.stdout.write(raw_key)
