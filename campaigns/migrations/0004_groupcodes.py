import django.core.validators
import django.db.models.deletion
from django.db import migrations, models

import campaigns.models.groupcodes


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0003_welcome"),
        ("groups", "0002_verbose_names"),
    ]

    operations = [
        migrations.CreateModel(
            name="GroupCode",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                (
                    "status",
                    models.CharField(
                        choices=[("active", "active"), ("paused", "paused")],
                        default="active",
                        help_text="A paused code keeps its QR and its groups but does not rotate them.",
                        max_length=16,
                        verbose_name="status",
                    ),
                ),
                (
                    "member_cap",
                    models.PositiveSmallIntegerField(
                        default=campaigns.models.groupcodes.default_member_cap,
                        help_text="A group with this many members leaves the QR and the next group comes in. WeChat users can join a group by QR only while it has fewer than 200 members.",
                        validators=[
                            django.core.validators.MinValueValidator(2),
                            django.core.validators.MaxValueValidator(500),
                        ],
                        verbose_name="members per group",
                    ),
                ),
                (
                    "auto_create_room",
                    models.BooleanField(
                        default=True,
                        help_text="When every group is full, WeCom opens a new group named after the base name.",
                        verbose_name="create groups automatically",
                    ),
                ),
                (
                    "room_base_name",
                    models.CharField(
                        blank=True,
                        help_text="At most 40 characters; WeCom adds the sequence number.",
                        max_length=40,
                        verbose_name="new groups' base name",
                    ),
                ),
                (
                    "room_base_id",
                    models.PositiveIntegerField(
                        default=1,
                        help_text="The number of the first group WeCom opens.",
                        verbose_name="first sequence number",
                    ),
                ),
                (
                    "config_id",
                    models.CharField(
                        blank=True, db_index=True, max_length=64, verbose_name="WeCom config id"
                    ),
                ),
                ("qr_code", models.URLField(blank=True, max_length=512, verbose_name="QR code URL")),
                (
                    "wecom_chat_ids",
                    models.JSONField(blank=True, default=list, verbose_name="groups in WeCom"),
                ),
                (
                    "synced_at",
                    models.DateTimeField(blank=True, null=True, verbose_name="written to WeCom at"),
                ),
                ("sync_error", models.TextField(blank=True, verbose_name="last WeCom error")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
                (
                    "channel",
                    models.OneToOneField(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="group_code",
                        to="campaigns.channel",
                        verbose_name="channel",
                    ),
                ),
                (
                    "welcome_template",
                    models.ForeignKey(
                        blank=True,
                        help_text="The welcome shown to people who join the code's groups.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="group_codes",
                        to="campaigns.groupwelcometemplate",
                        verbose_name="group welcome",
                    ),
                ),
            ],
            options={
                "verbose_name": "group live code",
                "verbose_name_plural": "group live codes",
                "ordering": ["-id"],
            },
        ),
        migrations.CreateModel(
            name="GroupCodeChat",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("position", models.PositiveIntegerField(default=0, verbose_name="order")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("waiting", "waiting"),
                            ("live", "live"),
                            ("full", "full"),
                            ("gone", "gone"),
                        ],
                        default="waiting",
                        max_length=16,
                        verbose_name="status",
                    ),
                ),
                (
                    "auto_created",
                    models.BooleanField(
                        default=False,
                        help_text="Opened by WeCom when every group was full.",
                        verbose_name="created by WeCom",
                    ),
                ),
                ("full_at", models.DateTimeField(blank=True, null=True, verbose_name="full since")),
                ("added_at", models.DateTimeField(auto_now_add=True, verbose_name="added at")),
                (
                    "code",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="chats",
                        to="campaigns.groupcode",
                    ),
                ),
                (
                    "group",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="code_seats",
                        to="groups.groupchat",
                        verbose_name="group chat",
                    ),
                ),
            ],
            options={
                "verbose_name": "group of a group code",
                "verbose_name_plural": "groups of the code",
                "ordering": ["position", "id"],
                "indexes": [models.Index(fields=["group", "status"], name="camp_gcchat_group_idx")],
                "constraints": [models.UniqueConstraint(fields=("code", "group"), name="camp_gcchat_unique")],
            },
        ),
    ]
