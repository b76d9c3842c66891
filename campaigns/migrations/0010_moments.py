from django.conf import settings
from django.db import migrations, models
import django.db.models.deletion


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0009_broadcast_dispatch"),
        ("customers", "0008_segments"),
        ("org", "0001_initial"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name='MomentCampaign',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('name', models.CharField(max_length=100, verbose_name='name')),
                ('text', models.TextField(blank=True, help_text='At most 2000 characters.', verbose_name='text')),
                ('status', models.CharField(choices=[('draft', 'draft'), ('creating', 'creating in WeCom'), ('publishing', 'staff publishing'), ('done', 'done'), ('canceled', 'canceled'), ('failed', 'failed')], default='draft', max_length=16, verbose_name='status')),
                ('jobid', models.CharField(blank=True, editable=False, max_length=128, verbose_name='WeCom job id')),
                ('moment_id', models.CharField(blank=True, editable=False, max_length=128, verbose_name='WeCom moment id')),
                ('error', models.TextField(blank=True, editable=False, verbose_name='error')),
                ('invalid', models.JSONField(blank=True, default=dict, editable=False, help_text='Senders, departments and tags WeCom reported invalid.', verbose_name='refused by WeCom')),
                ('launch_attempts', models.PositiveSmallIntegerField(default=0, editable=False, verbose_name='launch attempts')),
                ('publishers_count', models.PositiveIntegerField(default=0, editable=False, verbose_name='publishers')),
                ('published_count', models.PositiveIntegerField(default=0, editable=False, verbose_name='published')),
                ('customers_reached', models.PositiveIntegerField(default=0, editable=False, verbose_name='customers reached')),
                ('comments_count', models.PositiveIntegerField(default=0, editable=False, verbose_name='comments')),
                ('likes_count', models.PositiveIntegerField(default=0, editable=False, verbose_name='likes')),
                ('created_at', models.DateTimeField(auto_now_add=True, verbose_name='created at')),
                ('updated_at', models.DateTimeField(auto_now=True, verbose_name='updated at')),
                ('launched_at', models.DateTimeField(blank=True, editable=False, null=True, verbose_name='launched at')),
                ('job_done_at', models.DateTimeField(blank=True, editable=False, null=True, verbose_name='created in WeCom at')),
                ('finished_at', models.DateTimeField(blank=True, editable=False, null=True, verbose_name='finished at')),
                ('synced_at', models.DateTimeField(blank=True, editable=False, null=True, verbose_name='results synced at')),
                ('created_by', models.ForeignKey(blank=True, editable=False, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to=settings.AUTH_USER_MODEL, verbose_name='created by')),
                ('departments', models.ManyToManyField(blank=True, help_text="Their members and those of every department below them. No staff and no department: every member in the app's range.", related_name='moment_campaigns', to='org.department', verbose_name='publishing departments')),
                ('staff', models.ManyToManyField(blank=True, help_text='Who must publish it, with the members of the departments below.', related_name='moment_campaigns', to='org.staff', verbose_name='publishing staff')),
                ('tags', models.ManyToManyField(blank=True, help_text="Customers with any of these corporate tags see it; none: all of the staff's customers.", related_name='moment_campaigns', to='customers.tag', verbose_name='audience tags')),
            ],
            options={
                'verbose_name': 'moments campaign',
                'verbose_name_plural': 'moments campaigns',
                'ordering': ['-id'],
            },
        ),
        migrations.CreateModel(
            name='MomentAttachment',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('kind', models.CharField(choices=[('image', 'image'), ('link', 'link'), ('miniprogram', 'mini-program'), ('file', 'file'), ('video', 'video')], max_length=16, verbose_name='type')),
                ('title', models.CharField(blank=True, help_text='Links: at most 128 bytes; mini-programs: 64.', max_length=128, verbose_name='title')),
                ('link_url', models.URLField(blank=True, max_length=2048, verbose_name='link URL')),
                ('description', models.CharField(blank=True, max_length=512, verbose_name='description')),
                ('pic_url', models.URLField(blank=True, help_text="Links: the thumbnail. Images: an URL from WeCom's uploadimg, instead of a file.", max_length=2048, verbose_name='picture URL')),
                ('appid', models.CharField(blank=True, max_length=64, verbose_name='mini-program appid')),
                ('page', models.CharField(blank=True, max_length=512, verbose_name='mini-program page')),
                ('file_name', models.CharField(blank=True, max_length=255, verbose_name='file name')),
                ('file_content', models.BinaryField(blank=True, null=True, verbose_name='file')),
                ('file_size', models.PositiveIntegerField(default=0, verbose_name='file size')),
                ('media_id', models.CharField(blank=True, editable=False, max_length=255, verbose_name='WeCom media id')),
                ('media_uploaded_at', models.DateTimeField(blank=True, editable=False, null=True, verbose_name='media uploaded at')),
                ('order', models.PositiveSmallIntegerField(default=0, verbose_name='order')),
                ('campaign', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='attachments', to='campaigns.momentcampaign')),
            ],
            options={
                'verbose_name': 'attachment',
                'verbose_name_plural': 'attachments',
                'ordering': ['campaign', 'order', 'id'],
            },
        ),
        migrations.CreateModel(
            name='MomentPublisher',
            fields=[
                ('id', models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name='ID')),
                ('userid', models.CharField(max_length=64, verbose_name='WeCom userid')),
                ('publish_status', models.PositiveSmallIntegerField(choices=[(0, 'not yet'), (1, 'published')], default=0, verbose_name='published')),
                ('published_at', models.DateTimeField(blank=True, null=True, verbose_name='published at')),
                ('customers_visible', models.PositiveIntegerField(default=0, verbose_name='customers who can see it')),
                ('customers_reached', models.PositiveIntegerField(default=0, verbose_name='customers reached')),
                ('comments_count', models.PositiveIntegerField(default=0, verbose_name='comments')),
                ('likes_count', models.PositiveIntegerField(default=0, verbose_name='likes')),
                ('synced_at', models.DateTimeField(blank=True, null=True, verbose_name='synced at')),
                ('campaign', models.ForeignKey(on_delete=django.db.models.deletion.CASCADE, related_name='publishers', to='campaigns.momentcampaign')),
                ('staff', models.ForeignKey(blank=True, null=True, on_delete=django.db.models.deletion.SET_NULL, related_name='+', to='org.staff', verbose_name='staff member')),
            ],
            options={
                'verbose_name': 'moment publisher',
                'verbose_name_plural': 'moment publishers',
                'ordering': ['campaign', 'id'],
            },
        ),
        migrations.AddIndex(
            model_name='momentcampaign',
            index=models.Index(fields=['status', 'launched_at'], name='camp_moment_status_idx'),
        ),
        migrations.AddConstraint(
            model_name='momentcampaign',
            constraint=models.UniqueConstraint(condition=models.Q(('moment_id', ''), _negated=True), fields=('moment_id',), name='camp_moment_moment_id_unique'),
        ),
        migrations.AddIndex(
            model_name='momentpublisher',
            index=models.Index(fields=['staff', 'campaign'], name='camp_momentpub_staff_idx'),
        ),
        migrations.AddConstraint(
            model_name='momentpublisher',
            constraint=models.UniqueConstraint(fields=('campaign', 'userid'), name='camp_momentpub_unique'),
        ),
    ]
