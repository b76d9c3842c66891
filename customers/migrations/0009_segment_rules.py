from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [("customers", "0008_segments")]

    operations = [
        migrations.AlterField(
            model_name="customer",
            name="spend_90d",
            field=models.DecimalField(
                decimal_places=2,
                db_default=0,
                default=0,
                max_digits=14,
                verbose_name="spend in the last 90 days",
            ),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                condition=models.Q(("last_order_at__isnull", False)),
                fields=["last_order_at"],
                name="cust_customer_last_order_idx",
            ),
        ),
        migrations.AddIndex(
            model_name="customer",
            index=models.Index(
                condition=models.Q(("spend_90d__gt", 0)),
                fields=["spend_90d"],
                name="cust_customer_spend_idx",
            ),
        ),
    ]
