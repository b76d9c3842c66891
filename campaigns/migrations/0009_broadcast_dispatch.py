from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0008_broadcast_plan")]

    operations = []
