import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0004_groupcodes"),
        ("org", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="ChannelRollup",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("first_day", models.DateField(verbose_name="from")),
                ("last_day", models.DateField(verbose_name="until")),
                (
                    "trigger",
                    models.CharField(
                        choices=[("schedule", "nightly"), ("admin", "admin"), ("command", "command")],
                        max_length=16,
                        verbose_name="trigger",
                    ),
                ),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("queued", "queued"),
                            ("running", "running"),
                            ("done", "done"),
                            ("failed", "failed"),
                        ],
                        default="queued",
                        max_length=16,
                        verbose_name="status",
                    ),
                ),
                ("days_done", models.PositiveIntegerField(default=0, verbose_name="days done")),
                ("rows", models.PositiveIntegerField(default=0, verbose_name="rows written")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                ("started_at", models.DateTimeField(blank=True, null=True, verbose_name="started at")),
                ("finished_at", models.DateTimeField(blank=True, null=True, verbose_name="finished at")),
                ("error", models.TextField(blank=True, verbose_name="error")),
            ],
            options={
                "verbose_name": "channel analytics rollup",
                "verbose_name_plural": "channel analytics rollups",
                "ordering": ["-id"],
                "indexes": [models.Index(fields=["status", "-last_day"], name="camp_rollup_status_idx")],
            },
        ),
        migrations.CreateModel(
            name="ChannelDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("state", models.CharField(max_length=64, verbose_name="channel (state)")),
                ("day", models.DateField(verbose_name="day")),
                ("adds", models.PositiveIntegerField(default=0, verbose_name="adds")),
                (
                    "deleted_by_customer",
                    models.PositiveIntegerField(default=0, verbose_name="deleted by customer"),
                ),
                ("deleted_by_staff", models.PositiveIntegerField(default=0, verbose_name="deleted by staff")),
                (
                    "retained_1",
                    models.PositiveIntegerField(blank=True, null=True, verbose_name="retained after 1 day"),
                ),
                (
                    "retained_7",
                    models.PositiveIntegerField(blank=True, null=True, verbose_name="retained after 7 days"),
                ),
                (
                    "retained_30",
                    models.PositiveIntegerField(blank=True, null=True, verbose_name="retained after 30 days"),
                ),
                ("computed_at", models.DateTimeField(verbose_name="computed at")),
                (
                    "staff",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="org.staff",
                        verbose_name="staff member",
                    ),
                ),
            ],
            options={
                "verbose_name": "channel analytics",
                "verbose_name_plural": "channel analytics",
                "ordering": ["state", "day"],
                "indexes": [
                    models.Index(fields=["day", "state"], name="camp_channelday_day_idx"),
                    models.Index(
                        condition=models.Q(("retained_30__isnull", True)),
                        fields=["day"],
                        name="camp_channelday_open_idx",
                    ),
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("state", "day", "staff"), name="camp_channelday_unique")
                ],
            },
        ),
    ]
