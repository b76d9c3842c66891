import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [("sandbox", "0002_clock_and_callbacks")]

    operations = [
        migrations.CreateModel(
            name='SandboxLimits',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('api_quota', models.PositiveIntegerField(default=500000, help_text='Contact ways plus join ways one corp may create through the API (41045).')),
                ('group_member_cap', models.PositiveIntegerField(default=500, help_text='Members of a customer group before a join way moves on to the next group.')),
                ('frequency_limits', models.JSONField(blank=True, default=dict, help_text='Per-API limits, e.g. {"*": {"minute": 10000, "hour": 150000}}.')),
            ],
            options={
                'verbose_name_plural': 'sandbox limits',
                'db_table': 'sb_limits',
            },
        ),
        migrations.CreateModel(
            name='SandboxMedia',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('corp_id', models.CharField(max_length=64)),
                ('media_id', models.CharField(help_text='media_id, or the image URL.', max_length=128, unique=True)),
                ('type', models.CharField(help_text='image, video, file; uploadimg for permanent images.', max_length=16)),
                ('filename', models.CharField(max_length=255)),
                ('content_type', models.CharField(blank=True, max_length=128)),
                ('size', models.PositiveIntegerField()),
                ('sha256', models.CharField(max_length=64)),
                ('created_at', models.BigIntegerField(help_text='Simulated Unix time of the upload.')),
            ],
            options={
                'db_table': 'sb_media',
            },
        ),
        migrations.CreateModel(
            name='SandboxWelcomeCode',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('corp_id', models.CharField(max_length=64)),
                ('code', models.CharField(max_length=64, unique=True)),
                ('userid', models.CharField(max_length=64)),
                ('external_userid', models.CharField(max_length=64)),
                ('issued_at', models.BigIntegerField(help_text='Simulated Unix time of the add event.')),
                ('used_at', models.BigIntegerField(blank=True, null=True)),
            ],
            options={
                'db_table': 'sb_welcome_code',
            },
        ),
        migrations.CreateModel(
            name='SandboxChatActivity',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('corp_id', models.CharField(max_length=64)),
                ('userid', models.CharField(max_length=64)),
                ('day', models.DateField()),
                ('new_apply_cnt', models.PositiveIntegerField(default=0)),
                ('chat_cnt', models.PositiveIntegerField(default=0)),
                ('message_cnt', models.PositiveIntegerField(default=0)),
                ('reply_percentage', models.FloatField(blank=True, null=True)),
                ('avg_reply_time', models.PositiveIntegerField(blank=True, help_text='Minutes.', null=True)),
            ],
            options={
                'db_table': 'sb_chat_activity',
                'constraints': [models.UniqueConstraint(fields=('corp_id', 'userid', 'day'), name='sb_chat_activity_uniq')],
            },
        ),
        migrations.CreateModel(
            name='SandboxContactWay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('corp_id', models.CharField(max_length=64)),
                ('config_id', models.CharField(max_length=64)),
                ('type', models.PositiveSmallIntegerField(help_text='1 single member, 2 multiple members.')),
                ('scene', models.PositiveSmallIntegerField(help_text='1 mini-program button, 2 QR code.')),
                ('style', models.PositiveSmallIntegerField(blank=True, null=True)),
                ('remark', models.CharField(blank=True, max_length=30)),
                ('skip_verify', models.BooleanField(default=True)),
                ('state', models.CharField(blank=True, max_length=30)),
                ('user', models.JSONField(default=list)),
                ('party', models.JSONField(default=list)),
                ('is_temp', models.BooleanField(default=False)),
                ('expires_in', models.PositiveIntegerField(blank=True, null=True)),
                ('chat_expires_in', models.PositiveIntegerField(blank=True, null=True)),
                ('unionid', models.CharField(blank=True, max_length=64)),
                ('is_exclusive', models.BooleanField(default=False)),
                ('conclusions', models.JSONField(blank=True, default=dict)),
                ('qr_code', models.CharField(blank=True, max_length=200)),
                ('create_time', models.BigIntegerField(help_text='Simulated Unix time of creation.')),
                ('used', models.BooleanField(default=False, help_text="A temporary way's QR dies once used.")),
                ('next_member', models.PositiveIntegerField(default=0, help_text="Rotation among a multi-member way's members, for the next scan.")),
            ],
            options={
                'db_table': 'sb_contact_way',
                'indexes': [models.Index(fields=['corp_id', 'create_time'], name='sb_contact_way_created_idx')],
                'constraints': [models.UniqueConstraint(fields=('corp_id', 'config_id'), name='sb_contact_way_corp_config_uniq')],
            },
        ),
        migrations.CreateModel(
            name='SandboxFollowDeletion',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('corp_id', models.CharField(max_length=64)),
                ('userid', models.CharField(max_length=64)),
                ('external_userid', models.CharField(max_length=64)),
                ('by_customer', models.BooleanField(help_text='The customer deleted/blocked the member.')),
                ('deleted_at', models.BigIntegerField(help_text='Simulated Unix time.')),
            ],
            options={
                'db_table': 'sb_follow_deletion',
                'indexes': [models.Index(fields=['corp_id', 'userid', 'deleted_at'], name='sb_follow_deletion_idx')],
            },
        ),
        migrations.CreateModel(
            name='SandboxFrequencyBlock',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('corp_id', models.CharField(max_length=64)),
                ('path', models.CharField(max_length=128)),
                ('until', models.BigIntegerField()),
            ],
            options={
                'db_table': 'sb_frequency_block',
                'constraints': [models.UniqueConstraint(fields=('corp_id', 'path'), name='sb_freq_block_uniq')],
            },
        ),
        migrations.CreateModel(
            name='SandboxFrequencyCounter',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('corp_id', models.CharField(max_length=64)),
                ('path', models.CharField(max_length=128)),
                ('window', models.CharField(help_text='minute or hour', max_length=8)),
                ('bucket', models.BigIntegerField(help_text='Simulated Unix time divided by the window length.')),
                ('count', models.PositiveIntegerField(default=0)),
            ],
            options={
                'db_table': 'sb_frequency_counter',
                'constraints': [models.UniqueConstraint(fields=('corp_id', 'path', 'window', 'bucket'), name='sb_freq_counter_uniq')],
            },
        ),
        migrations.CreateModel(
            name='SandboxGroupActivity',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('corp_id', models.CharField(max_length=64)),
                ('chat_id', models.CharField(max_length=64)),
                ('day', models.DateField()),
                ('msg_total', models.PositiveIntegerField(default=0)),
                ('member_has_msg', models.PositiveIntegerField(default=0, help_text='Members who spoke that day.')),
            ],
            options={
                'db_table': 'sb_group_activity',
                'constraints': [models.UniqueConstraint(fields=('corp_id', 'chat_id', 'day'), name='sb_group_activity_uniq')],
            },
        ),
        migrations.CreateModel(
            name='SandboxJoinWay',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('corp_id', models.CharField(max_length=64)),
                ('config_id', models.CharField(max_length=64)),
                ('scene', models.PositiveSmallIntegerField(help_text='1 mini-program plugin, 2 QR code.')),
                ('remark', models.CharField(blank=True, max_length=30)),
                ('auto_create_room', models.BooleanField(default=True)),
                ('room_base_name', models.CharField(blank=True, max_length=40)),
                ('room_base_id', models.PositiveIntegerField(default=1)),
                ('chat_id_list', models.JSONField(default=list)),
                ('state', models.CharField(blank=True, max_length=30)),
                ('mark_source', models.BooleanField(default=False)),
                ('qr_code', models.CharField(blank=True, max_length=200)),
                ('create_time', models.BigIntegerField()),
                ('rooms_created', models.PositiveIntegerField(default=0, help_text='Groups opened automatically so far.')),
            ],
            options={
                'db_table': 'sb_join_way',
                'constraints': [models.UniqueConstraint(fields=('corp_id', 'config_id'), name='sb_join_way_corp_config_uniq')],
            },
        ),
        migrations.CreateModel(
            name='SandboxWelcomeTemplate',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('corp_id', models.CharField(max_length=64)),
                ('template_id', models.CharField(max_length=64, unique=True)),
                ('content', models.JSONField(default=dict, help_text='text, image, link, miniprogram, file, video as WeCom returns them.')),
                ('agentid', models.IntegerField(blank=True, null=True)),
                ('notify', models.PositiveSmallIntegerField(default=1)),
                ('create_time', models.BigIntegerField()),
                ('app', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='+', to='sandbox.sandboxapp')),
            ],
            options={
                'db_table': 'sb_welcome_template',
                'indexes': [models.Index(fields=['corp_id'], name='sb_welcome_template_corp_idx')],
            },
        ),
    ]
