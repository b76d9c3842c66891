import django.db.models.deletion
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0008_broadcast_plan")]

    operations = [
        migrations.AddField(
            model_name="broadcastbatch",
            name="claim_token",
            field=models.CharField(blank=True, max_length=32, verbose_name="claim token"),
        ),
        migrations.AddField(
            model_name="broadcastbatch",
            name="not_before",
            field=models.DateTimeField(blank=True, null=True, verbose_name="next attempt at"),
        ),
        migrations.AddField(
            model_name="broadcastbatch",
            name="queued_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="queued at"),
        ),
        migrations.AddField(
            model_name="broadcastbatch",
            name="reminded_at",
            field=models.JSONField(blank=True, default=list, verbose_name="reminded at"),
        ),
        migrations.AddField(
            model_name="broadcastbatch",
            name="results_synced_at",
            field=models.DateTimeField(blank=True, null=True, verbose_name="results synced at"),
        ),
        migrations.AddField(
            model_name="broadcastbatch",
            name="first_id",
            field=models.PositiveBigIntegerField(default=0, verbose_name="first recipient id"),
        ),
        migrations.AddField(
            model_name="broadcastbatch",
            name="last_id",
            field=models.PositiveBigIntegerField(default=0, verbose_name="last recipient id"),
        ),
        migrations.AlterField(
            model_name="broadcastrecipient",
            name="batch",
            field=models.ForeignKey(
                blank=True,
                db_index=False,
                null=True,
                on_delete=django.db.models.deletion.SET_NULL,
                related_name="+",
                to="campaigns.broadcastbatch",
            ),
        ),
        migrations.AlterField(
            model_name="broadcastrecipient",
            name="broadcast",
            field=models.ForeignKey(
                db_index=False,
                on_delete=django.db.models.deletion.CASCADE,
                related_name="recipients",
                to="campaigns.broadcast",
            ),
        ),
        migrations.AddIndex(
            model_name="broadcastrecipient",
            index=models.Index(
                condition=models.Q(("status", "pending")),
                fields=["broadcast", "sender", "id"],
                name="camp_bcast_rcpt_pending_idx",
            ),
        ),
    ]
