from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("campaigns", "0009_broadcast_dispatch")]

    operations = []
