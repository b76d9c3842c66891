"""Re-encrypt every secret stored in an ``EncryptedTextField`` with the first configured key.

Rotation: put the new key first in ``SCRM_ENCRYPTION_KEYS`` and keep the old ones after it, deploy,
run this command, then drop the old keys. Values written before a model adopted the field (plain
text) are encrypted on the way.
"""

from __future__ import annotations

from django.apps import apps
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils.translation import gettext as _

from scrm.fields import EncryptedTextField

BATCH = 500


class Command(BaseCommand):
    help = _("Re-encrypt every secret stored in the database with the first key of SCRM_ENCRYPTION_KEYS.")

    def handle(self, *args, **options):
        total = 0
        for model in apps.get_models():
            fields = [f.name for f in model._meta.concrete_fields if isinstance(f, EncryptedTextField)]
            if not fields:
                continue
            count = 0
            rows = model._default_manager.order_by("pk").only("pk", *fields)
            last_pk = None
            while True:
                page = rows.filter(pk__gt=last_pk) if last_pk is not None else rows
                batch = list(page[:BATCH])
                if not batch:
                    break
                # Reading decrypted each value with whichever key it was under; writing encrypts
                # it with the first key.
                with transaction.atomic():
                    model._default_manager.bulk_update(batch, fields)
                count += len(batch)
                last_pk = batch[-1].pk
            total += count
            self.stdout.write(
                _("%(model)s: %(count)d rows re-encrypted (%(fields)s)")
                % {"model": model._meta.label, "count": count, "fields": ", ".join(fields)}
            )
        self.stdout.write(self.style.SUCCESS(_("%(total)d rows re-encrypted.") % {"total": total}))
