import campaigns.models.sop
import django.db.models.deletion
import scrm.fields
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0010_moments"),
        ("customers", "0008_segments"),
        ("org", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="SopCursor",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=64, unique=True, verbose_name="name")),
                ("position", models.BigIntegerField(default=0, verbose_name="last id read")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
            ],
            options={
                "verbose_name": "SOP cursor",
                "verbose_name_plural": "SOP cursors",
            },
        ),
        migrations.CreateModel(
            name="SopRule",
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
                    "trigger",
                    models.CharField(
                        choices=[
                            ("channel", "added through a channel"),
                            ("live_code", "added through a live code"),
                            ("tagged", "tagged"),
                            ("segment", "entered a segment"),
                        ],
                        max_length=16,
                        verbose_name="trigger",
                    ),
                ),
                (
                    "allow_reenrol",
                    models.BooleanField(
                        default=False,
                        help_text="A customer whose enrolment ended may be enrolled again by a new trigger.",
                        verbose_name="allow re-enrolment",
                    ),
                ),
                (
                    "exit_on_follow_deleted",
                    models.BooleanField(
                        default=True,
                        help_text="The customer leaves when the staff member and the customer are no longer contacts.",
                        verbose_name="exit when the follow is deleted",
                    ),
                ),
                (
                    "time_zone",
                    models.CharField(
                        default=campaigns.models.sop.default_time_zone,
                        help_text="Steps at a time of day are computed in it.",
                        max_length=64,
                        verbose_name="time zone",
                    ),
                ),
                (
                    "segment_evaluated_at",
                    models.DateTimeField(
                        blank=True, editable=False, null=True, verbose_name="segment evaluated at"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
                (
                    "channel",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="sop_rules",
                        to="campaigns.channel",
                        verbose_name="channel",
                    ),
                ),
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
                    "exit_tag_removed",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="customers.tag",
                        verbose_name="exit when this tag is removed",
                    ),
                ),
                (
                    "goal_tag",
                    models.ForeignKey(
                        blank=True,
                        help_text="The customer leaves once they carry this tag: the SOP reached its goal.",
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to="customers.tag",
                        verbose_name="goal tag",
                    ),
                ),
                (
                    "live_code",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="sop_rules",
                        to="campaigns.livecode",
                        verbose_name="live code",
                    ),
                ),
                (
                    "segment",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="sop_rules",
                        to="customers.segment",
                        verbose_name="segment",
                    ),
                ),
                (
                    "trigger_tag",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="+",
                        to="customers.tag",
                        verbose_name="trigger tag",
                    ),
                ),
            ],
            options={
                "verbose_name": "customer SOP",
                "verbose_name_plural": "customer SOPs",
                "ordering": ["name", "id"],
            },
        ),
        migrations.CreateModel(
            name="SopEnrolment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("sequence", models.PositiveIntegerField(default=1, verbose_name="enrolment number")),
                ("anchor_at", models.DateTimeField(verbose_name="enrolled at")),
                (
                    "status",
                    models.CharField(
                        choices=[("active", "active"), ("exited", "exited"), ("completed", "completed")],
                        default="active",
                        max_length=16,
                        verbose_name="status",
                    ),
                ),
                ("exit_reason", models.CharField(blank=True, max_length=200, verbose_name="exit reason")),
                ("exited_at", models.DateTimeField(blank=True, null=True, verbose_name="ended at")),
                (
                    "planned_at",
                    models.DateTimeField(blank=True, editable=False, null=True, verbose_name="planned at"),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                (
                    "customer",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sop_enrolments",
                        to="customers.customer",
                        verbose_name="customer",
                    ),
                ),
                (
                    "staff",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="sop_enrolments",
                        to="org.staff",
                        verbose_name="staff member",
                    ),
                ),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="enrolments",
                        to="campaigns.soprule",
                        verbose_name="SOP",
                    ),
                ),
            ],
            options={
                "verbose_name": "SOP enrolment",
                "verbose_name_plural": "SOP enrolments",
                "ordering": ["-id"],
            },
        ),
        migrations.CreateModel(
            name="SopStep",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("position", models.PositiveSmallIntegerField(default=0, verbose_name="position")),
                (
                    "day",
                    models.PositiveSmallIntegerField(
                        blank=True, help_text="0: the day of enrolment.", null=True, verbose_name="day"
                    ),
                ),
                ("at_time", models.TimeField(blank=True, null=True, verbose_name="at")),
                ("hours", models.PositiveIntegerField(blank=True, null=True, verbose_name="hours after")),
                (
                    "action",
                    models.CharField(
                        choices=[("staff_task", "staff task"), ("broadcast", "automatic broadcast")],
                        default="staff_task",
                        max_length=16,
                        verbose_name="action",
                    ),
                ),
                ("title", models.CharField(blank=True, max_length=200, verbose_name="title")),
                ("text", models.TextField(blank=True, verbose_name="text")),
                ("material_ids", scrm.fields.IdArrayField(verbose_name="library materials")),
                (
                    "rule",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="steps",
                        to="campaigns.soprule",
                        verbose_name="SOP",
                    ),
                ),
            ],
            options={
                "verbose_name": "SOP step",
                "verbose_name_plural": "SOP steps",
                "ordering": ["rule", "position", "id"],
            },
        ),
        migrations.CreateModel(
            name="SopOccurrence",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("due_at", models.DateTimeField(verbose_name="due at")),
                (
                    "status",
                    models.CharField(
                        choices=[
                            ("pending", "pending"),
                            ("claimed", "claimed"),
                            ("done", "done"),
                            ("skipped", "skipped"),
                        ],
                        default="pending",
                        max_length=16,
                        verbose_name="status",
                    ),
                ),
                (
                    "skipped_reason",
                    models.CharField(blank=True, max_length=200, verbose_name="skipped because"),
                ),
                ("done_at", models.DateTimeField(blank=True, null=True, verbose_name="done at")),
                (
                    "enrolment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="occurrences",
                        to="campaigns.sopenrolment",
                        verbose_name="enrolment",
                    ),
                ),
                (
                    "step",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="occurrences",
                        to="campaigns.sopstep",
                        verbose_name="step",
                    ),
                ),
            ],
            options={
                "verbose_name": "SOP occurrence",
                "verbose_name_plural": "SOP occurrences",
                "ordering": ["due_at", "id"],
            },
        ),
        migrations.CreateModel(
            name="SopStepAttachment",
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
                    "step",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="attachments",
                        to="campaigns.sopstep",
                    ),
                ),
            ],
            options={
                "verbose_name": "attachment",
                "verbose_name_plural": "attachments",
                "ordering": ["position", "id"],
            },
        ),
        migrations.AddIndex(
            model_name="soprule",
            index=models.Index(fields=["active", "trigger"], name="camp_sop_rule_trigger_idx"),
        ),
        migrations.AddIndex(
            model_name="sopenrolment",
            index=models.Index(fields=["status", "rule"], name="camp_sop_enrol_status_idx"),
        ),
        migrations.AddIndex(
            model_name="sopenrolment",
            index=models.Index(
                condition=models.Q(("planned_at__isnull", True)),
                fields=["rule"],
                name="camp_sop_enrol_unplanned_idx",
            ),
        ),
        migrations.AddConstraint(
            model_name="sopenrolment",
            constraint=models.UniqueConstraint(
                condition=models.Q(("status", "active")),
                fields=("rule", "customer"),
                name="camp_sop_enrol_one_active",
            ),
        ),
        migrations.AddConstraint(
            model_name="sopenrolment",
            constraint=models.UniqueConstraint(
                fields=("rule", "customer", "sequence"), name="camp_sop_enrol_unique_seq"
            ),
        ),
        migrations.AddIndex(
            model_name="sopoccurrence",
            index=models.Index(
                condition=models.Q(("status", "pending")), fields=["due_at"], name="camp_sop_occ_pending_idx"
            ),
        ),
        migrations.AddConstraint(
            model_name="sopoccurrence",
            constraint=models.UniqueConstraint(fields=("enrolment", "step"), name="camp_sop_occ_unique"),
        ),
    ]
