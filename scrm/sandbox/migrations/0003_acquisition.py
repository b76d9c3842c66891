from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("sandbox", "0002_clock_and_callbacks")]

    operations = []
