import django.db.models.deletion
from django.conf import settings
from django.db import migrations, models

import campaigns.models.groupsop


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0011_sop"),
        ("groups", "0002_verbose_names"),
        ("org", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="GroupSopRule",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=128, verbose_name="name")),
                ("active", models.BooleanField(default=True, verbose_name="active")),
                (
                    "schedule_kind",
                    models.CharField(
                        choices=[("weekly", "weekdays and a time"), ("cron", "cron expression")],
                        default="weekly",
                        max_length=8,
                        verbose_name="schedule",
                    ),
                ),
                (
                    "weekdays",
                    models.JSONField(
                        blank=True,
                        default=list,
                        help_text="0 = Monday … 6 = Sunday.",
                        verbose_name="weekdays",
                    ),
                ),
                ("time_of_day", models.TimeField(blank=True, null=True, verbose_name="time of day")),
                (
                    "cron",
                    models.CharField(
                        blank=True,
                        help_text="Five fields: minute hour day-of-month month day-of-week (0 = Sunday), e.g. 0 10 * * 1.",
                        max_length=100,
                        verbose_name="cron expression",
                    ),
                ),
                (
                    "time_zone",
                    models.CharField(
                        default=campaigns.models.groupsop.default_time_zone,
                        max_length=64,
                        verbose_name="time zone",
                    ),
                ),
                (
                    "action",
                    models.CharField(
                        choices=[
                            ("owner_tasks", "a task for each group owner"),
                            ("broadcast", "a group broadcast"),
                        ],
                        default="owner_tasks",
                        max_length=16,
                        verbose_name="action",
                    ),
                ),
                ("text", models.TextField(blank=True, verbose_name="text")),
                ("material_ids", models.JSONField(blank=True, default=list, verbose_name="materials")),
                (
                    "active_since",
                    models.DateTimeField(blank=True, editable=False, null=True, verbose_name="active since"),
                ),
                (
                    "last_scheduled_for",
                    models.DateTimeField(
                        blank=True, editable=False, null=True, verbose_name="latest occurrence"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="created by",
                    ),
                ),
                (
                    "group_tags",
                    models.ManyToManyField(
                        blank=True,
                        related_name="+",
                        to="groups.grouptag",
                        verbose_name="groups with these tags",
                    ),
                ),
                (
                    "groups",
                    models.ManyToManyField(
                        blank=True, related_name="+", to="groups.groupchat", verbose_name="groups"
                    ),
                ),
                (
                    "owners",
                    models.ManyToManyField(
                        blank=True, related_name="+", to="org.staff", verbose_name="groups of these owners"
                    ),
                ),
                (
                    "stores",
                    models.ManyToManyField(
                        blank=True,
                        related_name="+",
                        to="org.department",
                        verbose_name="groups of these stores",
                    ),
                ),
            ],
            options={
                "verbose_name": "group SOP rule",
                "verbose_name_plural": "group SOP rules",
                "ordering": ["-id"],
            },
        ),
        migrations.CreateModel(
            name="GroupSopAttachment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("image", "image"),
                            ("link", "link"),
                            ("miniprogram", "mini-program"),
                            ("file", "file"),
                            ("video", "video"),
                        ],
                        max_length=16,
                        verbose_name="type",
                    ),
                ),
                (
                    "title",
                    models.CharField(
                        blank=True,
                        help_text="Links: at most 128 bytes; mini-programs: 64.",
                        max_length=128,
                        verbose_name="title",
                    ),
                ),
                ("link_url", models.URLField(blank=True, max_length=2048, verbose_name="link URL")),
                ("description", models.CharField(blank=True, max_length=512, verbose_name="description")),
                (
                    "pic_url",
                    models.URLField(
                        blank=True,
                        help_text="Links: the thumbnail. Images: an URL from WeCom's uploadimg, instead of a file.",
                        max_length=2048,
                        verbose_name="picture URL",
                    ),
                ),
                ("appid", models.CharField(blank=True, max_length=64, verbose_name="mini-program appid")),
                ("page", models.CharField(blank=True, max_length=512, verbose_name="mini-program page")),
                ("file_name", models.CharField(blank=True, max_length=255, verbose_name="file name")),
                ("file_content", models.BinaryField(blank=True, null=True, verbose_name="file")),
                ("file_size", models.PositiveIntegerField(default=0, verbose_name="file size")),
                (
                    "media_id",
                    models.CharField(
                        blank=True, editable=False, max_length=255, verbose_name="WeCom media id"
                    ),
                ),
                (
                    "media_uploaded_at",
                    models.DateTimeField(
                        blank=True, editable=False, null=True, verbose_name="media uploaded at"
                    ),
                ),
                ("position", models.PositiveSmallIntegerField(default=0, verbose_name="position")),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attachments",
                        to="campaigns.groupsoprule",
                    ),
                ),
            ],
            options={
                "verbose_name": "attachment",
                "verbose_name_plural": "attachments",
                "ordering": ["position", "id"],
            },
        ),
        migrations.CreateModel(
            name="GroupSopRun",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("scheduled_for", models.DateTimeField(verbose_name="scheduled for")),
                ("due_at", models.DateTimeField(verbose_name="due at")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "pending"),
                                                        ("done", "done"),
                            ("skipped", "skipped"),
                        ],
                        default="pending",
                        max_length=8,
                        verbose_name="status",
                    ),
                ),
                ("reason", models.CharField(blank=True, max_length=300, verbose_name="reason")),
                ("groups_count", models.PositiveIntegerField(default=0, verbose_name="groups")),
                ("tasks_count", models.PositiveIntegerField(default=0, verbose_name="tasks created")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                ("finished_at", models.DateTimeField(blank=True, null=True, verbose_name="finished at")),
                (
                    "broadcast",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="campaigns.broadcast",
                        verbose_name="broadcast",
                    ),
                ),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="runs",
                        to="campaigns.groupsoprule",
                        verbose_name="rule",
                    ),
                ),
            ],
            options={
                "verbose_name": "group SOP run",
                "verbose_name_plural": "group SOP runs",
                "ordering": ["-scheduled_for", "-id"],
                "indexes": [
                    models.Index(
                        condition=models.Q(("status", "pending")),
                        fields=["due_at"],
                        name="camp_gsop_run_pending_idx",
                    )
                ],
                "constraints": [
                    models.UniqueConstraint(fields=("rule", "scheduled_for"), name="camp_gsop_run_uniq")
                ],
            },
        ),
    ]
