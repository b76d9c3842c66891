from django.db import migrations, models


class Migration(migrations.Migration):
    """Indexes of channel analytics: a channel's adds of a day, and the deletions of a day."""

    dependencies = [
        ("customers", "0006_welcome_events"),
    ]

    operations = [
        migrations.AddIndex(
            model_name="follow",
            index=models.Index(fields=["state", "added_at"], name="cust_follow_state_added_idx"),
        ),
        migrations.AddIndex(
            model_name="follow",
            index=models.Index(
                condition=models.Q(("status__in", ["deleted_by_customer", "deleted_by_staff"])),
                fields=["status_changed_at"],
                name="cust_follow_deleted_idx",
            ),
        ),
    ]
