from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0007_content")]

    operations = [
        migrations.AddField(
            model_name="broadcast",
            name="customer_ids",
            field=models.JSONField(blank=True, editable=False, null=True, verbose_name="customers"),
        ),
    ]
