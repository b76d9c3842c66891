"""The sandbox's app secrets encrypted at rest, found by a SHA-256 digest (docs/decisions.md).

Existing rows are re-saved: the field reads their plain text and writes it encrypted, and the
digest is filled in on the same save. Reversing writes the plain text back.
"""

from django.db import migrations, models

import scrm.fields


def encrypt_existing(apps, schema_editor):
    App = apps.get_model("sandbox", "SandboxApp")
    for app in App.objects.using(schema_editor.connection.alias).order_by("pk"):
        app.save(update_fields=["secret", "secret_digest"])


def decrypt_existing(apps, schema_editor):
    App = apps.get_model("sandbox", "SandboxApp")
    with schema_editor.connection.cursor() as cursor:
        for app in App.objects.using(schema_editor.connection.alias).order_by("pk"):
            cursor.execute("UPDATE sb_app SET secret = %s WHERE id = %s", [app.secret, app.pk])


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0004_outreach"),
    ]

    operations = [
        migrations.RemoveConstraint(
            model_name="sandboxapp",
            name="sb_app_corp_secret_uniq",
        ),
        migrations.AddField(
            model_name="sandboxapp",
            name="secret_digest",
            field=scrm.fields.DigestField(blank=True, max_length=64, source="secret"),
        ),
        migrations.AlterField(
            model_name="sandboxapp",
            name="secret",
            field=scrm.fields.EncryptedTextField(),
        ),
        migrations.RunPython(encrypt_existing, decrypt_existing),
        migrations.AddConstraint(
            model_name="sandboxapp",
            constraint=models.UniqueConstraint(
                fields=("corp_id", "secret_digest"), name="sb_app_corp_secret_digest_uniq"
            ),
        ),
    ]
