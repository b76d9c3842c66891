from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("sandbox", "0006_read_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="sandboxlimits",
            name="scan_join_cap",
            field=models.PositiveIntegerField(
                default=200,
                help_text="A WeChat user may join a group by QR only while it has fewer members than this.",
            ),
        ),
    ]
