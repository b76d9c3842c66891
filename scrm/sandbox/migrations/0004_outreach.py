from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("sandbox", "0003_acquisition")]

    operations = []
