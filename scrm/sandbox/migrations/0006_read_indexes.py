"""Timeouts in fault injection: a share of calls hang longer than the client waits."""

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0005_secrets"),
    ]

    operations = [
        migrations.AddField(
            model_name="sandboxfaults",
            name="timeout_rate",
            field=models.FloatField(
                default=0.0,
                help_text="Share of calls that hang for timeout_ms before answering (client timeouts).",
            ),
        ),
        migrations.AddField(
            model_name="sandboxfaults",
            name="timeout_ms",
            field=models.PositiveIntegerField(default=15000),
        ),
    ]
