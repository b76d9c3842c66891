"""A GIN index on Customer.tag_ids, on PostgreSQL only: tag filters become index lookups.

SQLite keeps the ids as JSON text and has no such index; the embedded default is not meant for a
million customers.
"""

from django.db import migrations

INDEX = "cust_customer_tag_ids_gin"


def create_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"CREATE INDEX IF NOT EXISTS {INDEX} ON customers_customer USING gin (tag_ids)")


def drop_index(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(f"DROP INDEX IF EXISTS {INDEX}")


class Migration(migrations.Migration):
    dependencies = [("customers", "0001_initial")]
    operations = [migrations.RunPython(create_index, drop_index)]
