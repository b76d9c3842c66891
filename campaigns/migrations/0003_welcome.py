import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0002_livecodes"),
        ("customers", "0006_welcome_events"),
        ("org", "0001_initial"),
    ]

    operations = [
        migrations.CreateModel(
            name="GroupWelcomeTemplate",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
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
                ("name", models.CharField(max_length=100, verbose_name="name")),
                (
                    "text",
                    models.TextField(
                        blank=True, help_text="May use %NICKNAME%; at most 4000 bytes.", verbose_name="text"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        blank=True,
                        choices=[
                            ("image", "image"),
                            ("link", "link"),
                            ("miniprogram", "mini-program"),
                            ("file", "file"),
                            ("video", "video"),
                        ],
                        help_text="Optional.",
                        max_length=16,
                        verbose_name="attachment",
                    ),
                ),
                (
                    "notify",
                    models.BooleanField(
                        default=True,
                        help_text="Tell the group's staff members when it is sent.",
                        verbose_name="notify members",
                    ),
                ),
                (
                    "template_id",
                    models.CharField(
                        blank=True, editable=False, max_length=128, verbose_name="WeCom template id"
                    ),
                ),
                (
                    "synced_at",
                    models.DateTimeField(
                        blank=True, editable=False, null=True, verbose_name="written to WeCom at"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
            ],
            options={
                "verbose_name": "group welcome template",
                "verbose_name_plural": "group welcome templates",
                "ordering": ["-id"],
                "constraints": [
                    models.UniqueConstraint(
                        condition=models.Q(("template_id", ""), _negated=True),
                        fields=("template_id",),
                        name="camp_groupwelcome_tid_unique",
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="WelcomeMessage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                (
                    "scope",
                    models.CharField(
                        choices=[
                            ("default", "default"),
                            ("department", "department"),
                            ("live_code", "live code"),
                        ],
                        default="default",
                        max_length=16,
                        verbose_name="applies to",
                    ),
                ),
                (
                    "text",
                    models.TextField(
                        blank=True,
                        help_text="May use {customer} and {staff}; at most 4000 bytes once filled in.",
                        verbose_name="text",
                    ),
                ),
                ("window_start", models.TimeField(blank=True, null=True, verbose_name="from (time of day)")),
                (
                    "window_end",
                    models.TimeField(
                        blank=True,
                        help_text="Empty: all day. An end earlier than the start spans midnight.",
                        null=True,
                        verbose_name="until (time of day)",
                    ),
                ),
                ("active", models.BooleanField(default=True, verbose_name="active")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
                (
                    "department",
                    models.ForeignKey(
                        blank=True,
                        help_text="For staff in this department or below it.",
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="welcome_messages",
                        to="org.department",
                        verbose_name="department",
                    ),
                ),
                (
                    "live_code",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="welcome_messages",
                        to="campaigns.livecode",
                        verbose_name="live code",
                    ),
                ),
            ],
            options={
                "verbose_name": "welcome message",
                "verbose_name_plural": "welcome messages",
                "ordering": ["-id"],
            },
        ),
        migrations.CreateModel(
            name="WelcomeAttachment",
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
                ("order", models.PositiveSmallIntegerField(default=0, verbose_name="order")),
                (
                    "message",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attachments",
                        to="campaigns.welcomemessage",
                    ),
                ),
            ],
            options={
                "verbose_name": "attachment",
                "verbose_name_plural": "attachments",
                "ordering": ["message", "order", "id"],
            },
        ),
        migrations.CreateModel(
            name="WelcomeSend",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("welcome_code", models.CharField(max_length=128, unique=True, verbose_name="welcome code")),
                ("content", models.JSONField(blank=True, default=dict, verbose_name="content")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "pending"),
                            ("sending", "sending"),
                            ("sent", "sent"),
                            ("already_delivered", "already delivered"),
                            ("expired", "expired"),
                            ("failed", "failed"),
                            ("skipped", "skipped (no message)"),
                        ],
                        default="pending",
                        max_length=24,
                        verbose_name="status",
                    ),
                ),
                ("error", models.TextField(blank=True, verbose_name="error")),
                ("attempts", models.PositiveSmallIntegerField(default=0, verbose_name="attempts")),
                ("received_at", models.DateTimeField(verbose_name="add received at")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                ("finished_at", models.DateTimeField(blank=True, null=True, verbose_name="finished at")),
                (
                    "follow",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="+",
                        to="customers.follow",
                        verbose_name="follow",
                    ),
                ),
                (
                    "live_code",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="campaigns.livecode",
                        verbose_name="live code",
                    ),
                ),
                (
                    "message",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="sends",
                        to="campaigns.welcomemessage",
                        verbose_name="message",
                    ),
                ),
            ],
            options={
                "verbose_name": "welcome send",
                "verbose_name_plural": "welcome sends",
                "ordering": ["-id"],
            },
        ),
        migrations.AddIndex(
            model_name="welcomemessage",
            index=models.Index(fields=["scope", "active"], name="camp_welcome_scope_idx"),
        ),
        migrations.AddIndex(
            model_name="welcomemessage",
            index=models.Index(fields=["department", "active"], name="camp_welcome_dept_idx"),
        ),
        migrations.AddIndex(
            model_name="welcomemessage",
            index=models.Index(fields=["live_code", "active"], name="camp_welcome_code_idx"),
        ),
        migrations.AddConstraint(
            model_name="welcomemessage",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("department__isnull", True), ("live_code__isnull", True), ("scope", "default")),
                    models.Q(
                        ("department__isnull", False), ("live_code__isnull", True), ("scope", "department")
                    ),
                    models.Q(
                        ("department__isnull", True), ("live_code__isnull", False), ("scope", "live_code")
                    ),
                    _connector="OR",
                ),
                name="camp_welcome_scope_target",
            ),
        ),
        migrations.AddConstraint(
            model_name="welcomemessage",
            constraint=models.CheckConstraint(
                condition=models.Q(
                    models.Q(("window_end__isnull", True), ("window_start__isnull", True)),
                    models.Q(("window_end__isnull", False), ("window_start__isnull", False)),
                    _connector="OR",
                ),
                name="camp_welcome_window_both",
            ),
        ),
        migrations.AddIndex(
            model_name="welcomeattachment",
            index=models.Index(fields=["media_uploaded_at"], name="camp_welcomeatt_media_idx"),
        ),
        migrations.AddIndex(
            model_name="welcomesend",
            index=models.Index(fields=["status", "-id"], name="camp_welcomesend_status_idx"),
        ),
        migrations.AddIndex(
            model_name="welcomesend",
            index=models.Index(fields=["follow"], name="camp_welcomesend_follow_idx"),
        ),
        migrations.AddIndex(
            model_name="welcomesend",
            index=models.Index(fields=["message", "-id"], name="camp_welcomesend_msg_idx"),
        ),
    ]
