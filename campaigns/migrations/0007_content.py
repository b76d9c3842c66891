from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0006_broadcasts_tasks"), ("customers", "0009_segment_rules")]

    operations = []
