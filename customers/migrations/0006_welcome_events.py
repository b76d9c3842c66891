from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("customers", "0005_follow_gone_transfer_failed"),
    ]

    operations = [
        migrations.AlterField(
            model_name="customerevent",
            name="type",
            field=models.CharField(
                choices=[
                    ("added", "added a staff member"),
                    ("deleted_by_staff", "deleted by staff"),
                    ("deleted_by_customer", "deleted the staff member"),
                    ("tagged", "tagged"),
                    ("untagged", "untagged"),
                    ("joined_group", "joined a group"),
                    ("left_group", "left a group"),
                    ("message_received", "received a message"),
                    ("order", "placed an order"),
                    ("note", "note"),
                    ("transferred", "transferred"),
                    ("profile_updated", "profile updated"),
                    ("transfer_failed", "transfer failed"),
                    ("follow_gone", "no longer a contact (cause unknown)"),
                    ("welcome_sent", "welcome message sent"),
                    ("welcome_failed", "welcome message not delivered"),
                ],
                max_length=32,
                verbose_name="type",
            ),
        ),
    ]
