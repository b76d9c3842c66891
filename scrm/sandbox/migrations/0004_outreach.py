import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0003_acquisition"),
    ]

    operations = [
        migrations.CreateModel(
            name="SandboxOutreachRules",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                (
                    "receive_cap",
                    models.CharField(
                        choices=[
                            ("month_days", "days in the month, per month"),
                            ("week_7", "7 per week"),
                            ("day_1", "1 per day"),
                            ("month_4", "4 per month (legacy)"),
                        ],
                        default="month_days",
                        max_length=16,
                    ),
                ),
                ("member_customer_limit", models.PositiveIntegerField(default=20000)),
            ],
            options={
                "verbose_name_plural": "sandbox outreach rules",
                "db_table": "sb_outreach_rules",
            },
        ),
        migrations.AddField(
            model_name="sandboxmember",
            name="dimission_time",
            field=models.BigIntegerField(blank=True, help_text="Unix time of leaving.", null=True),
        ),
        migrations.CreateModel(
            name="SandboxGroupTransfer",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("corp_id", models.CharField(max_length=64)),
                (
                    "kind",
                    models.CharField(choices=[("onjob", "on-job"), ("resigned", "resigned")], max_length=8),
                ),
                ("chat_id", models.CharField(max_length=64)),
                ("old_owner", models.CharField(max_length=64)),
                ("new_owner", models.CharField(max_length=64)),
                ("create_time", models.BigIntegerField()),
            ],
            options={
                "db_table": "sb_group_transfer",
                "indexes": [
                    models.Index(
                        fields=["corp_id", "chat_id", "kind", "create_time"], name="sb_group_xfer_chat_idx"
                    ),
                    models.Index(
                        fields=["corp_id", "old_owner", "create_time"], name="sb_group_xfer_owner_idx"
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="SandboxMassMessage",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("corp_id", models.CharField(max_length=64)),
                ("msgid", models.CharField(max_length=64, unique=True)),
                ("chat_type", models.CharField(default="single", max_length=8)),
                ("creator", models.CharField(blank=True, max_length=64)),
                ("create_type", models.PositiveSmallIntegerField(default=0)),
                ("create_time", models.BigIntegerField()),
                ("text", models.JSONField(blank=True, null=True)),
                ("attachments", models.JSONField(default=list)),
                ("allow_select", models.BooleanField(default=False)),
                ("canceled", models.BooleanField(default=False)),
                (
                    "reminders",
                    models.JSONField(default=list, help_text="Unix times of remind_groupmsg_send calls."),
                ),
            ],
            options={
                "db_table": "sb_mass_message",
                "indexes": [models.Index(fields=["corp_id", "create_time"], name="sb_mass_corp_time_idx")],
            },
        ),
        migrations.CreateModel(
            name="SandboxMoment",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("corp_id", models.CharField(max_length=64)),
                ("moment_id", models.CharField(max_length=64, unique=True)),
                ("jobid", models.CharField(blank=True, max_length=64, null=True, unique=True)),
                ("job_status", models.PositiveSmallIntegerField(default=3)),
                (
                    "job_result",
                    models.JSONField(default=dict, help_text="Invalid senders, departments and tags."),
                ),
                ("creator", models.CharField(blank=True, max_length=64)),
                ("create_type", models.PositiveSmallIntegerField(default=0)),
                ("visible_type", models.PositiveSmallIntegerField(default=1)),
                ("create_time", models.BigIntegerField()),
                ("text", models.TextField(blank=True)),
                ("attachments", models.JSONField(default=list)),
                (
                    "audience_tags",
                    models.JSONField(default=list, help_text="Corp tag ids of external_contact_list."),
                ),
                ("canceled", models.BooleanField(default=False)),
            ],
            options={
                "db_table": "sb_moment",
                "indexes": [models.Index(fields=["corp_id", "create_time"], name="sb_moment_corp_time_idx")],
            },
        ),
        migrations.CreateModel(
            name="SandboxTransfer",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("corp_id", models.CharField(max_length=64)),
                (
                    "kind",
                    models.CharField(choices=[("onjob", "on-job"), ("resigned", "resigned")], max_length=8),
                ),
                ("handover_userid", models.CharField(max_length=64)),
                ("takeover_userid", models.CharField(max_length=64)),
                ("external_userid", models.CharField(max_length=64)),
                ("status", models.PositiveSmallIntegerField(default=2)),
                ("start_time", models.BigIntegerField()),
                ("takeover_time", models.BigIntegerField()),
                ("transfer_success_msg", models.CharField(blank=True, max_length=200)),
            ],
            options={
                "db_table": "sb_transfer",
                "indexes": [
                    models.Index(
                        fields=["corp_id", "kind", "handover_userid", "takeover_userid", "id"],
                        name="sb_transfer_pair_idx",
                    ),
                    models.Index(
                        fields=["corp_id", "external_userid", "status"], name="sb_transfer_customer_idx"
                    ),
                    models.Index(fields=["status", "takeover_time"], name="sb_transfer_due_idx"),
                ],
            },
        ),
        migrations.CreateModel(
            name="SandboxMassRecipient",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("corp_id", models.CharField(max_length=64)),
                ("userid", models.CharField(max_length=64)),
                ("target", models.CharField(max_length=64)),
                ("status", models.PositiveSmallIntegerField(default=0)),
                ("send_time", models.BigIntegerField(default=0)),
                (
                    "message",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="recipients",
                        to="sandbox.sandboxmassmessage",
                    ),
                ),
            ],
            options={
                "db_table": "sb_mass_recipient",
                "indexes": [
                    models.Index(fields=["message", "userid", "id"], name="sb_mass_rcpt_msg_user_idx"),
                    models.Index(
                        fields=["corp_id", "target", "status", "send_time"], name="sb_mass_rcpt_cap_idx"
                    ),
                ],
            },
        ),
        migrations.CreateModel(
            name="SandboxMassTask",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("userid", models.CharField(max_length=64)),
                ("status", models.PositiveSmallIntegerField(default=0)),
                ("send_time", models.BigIntegerField(default=0)),
                (
                    "message",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tasks",
                        to="sandbox.sandboxmassmessage",
                    ),
                ),
            ],
            options={
                "db_table": "sb_mass_task",
                "constraints": [
                    models.UniqueConstraint(fields=("message", "userid"), name="sb_mass_task_msg_user_uniq")
                ],
            },
        ),
        migrations.CreateModel(
            name="SandboxMomentCustomer",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("userid", models.CharField(max_length=64)),
                ("external_userid", models.CharField(max_length=64)),
                (
                    "moment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="customers",
                        to="sandbox.sandboxmoment",
                    ),
                ),
            ],
            options={
                "db_table": "sb_moment_customer",
                "indexes": [models.Index(fields=["moment", "userid", "id"], name="sb_moment_cust_idx")],
            },
        ),
        migrations.CreateModel(
            name="SandboxMomentTask",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("userid", models.CharField(max_length=64)),
                ("publish_status", models.PositiveSmallIntegerField(default=0)),
                ("publish_time", models.BigIntegerField(default=0)),
                ("comments", models.JSONField(default=list)),
                ("likes", models.JSONField(default=list)),
                (
                    "moment",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="tasks",
                        to="sandbox.sandboxmoment",
                    ),
                ),
            ],
            options={
                "db_table": "sb_moment_task",
                "constraints": [
                    models.UniqueConstraint(fields=("moment", "userid"), name="sb_moment_task_uniq")
                ],
            },
        ),
    ]
