import django.db.models.deletion
import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("campaigns", "0006_broadcasts_tasks"),
        ("customers", "0009_segment_rules"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.CreateModel(
            name="MaterialTag",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=50, unique=True, verbose_name="name")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
            ],
            options={
                "verbose_name": "material tag",
                "verbose_name_plural": "material tags",
                "ordering": ["name"],
            },
        ),
        migrations.CreateModel(
            name="ScriptCategory",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, unique=True, verbose_name="name")),
                ("sort_order", models.PositiveSmallIntegerField(default=0, verbose_name="order")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
            ],
            options={
                "verbose_name": "script category",
                "verbose_name_plural": "script categories",
                "ordering": ["sort_order", "name"],
            },
        ),
        migrations.CreateModel(
            name="MaterialFolder",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("name", models.CharField(max_length=100, verbose_name="name")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                (
                    "parent",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="children",
                        to="campaigns.materialfolder",
                        verbose_name="parent folder",
                    ),
                ),
            ],
            options={
                "verbose_name": "material folder",
                "verbose_name_plural": "material folders",
                "ordering": ["name", "id"],
            },
        ),
        migrations.CreateModel(
            name="Material",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("link_url", models.URLField(blank=True, max_length=2048, verbose_name="link URL")),
                ("description", models.CharField(blank=True, max_length=512, verbose_name="description")),
                (
                    "pic_url",
                    models.URLField(
                        blank=True,
                        help_text="Links: the thumbnail. Images: an URL from WeCom's uploadimg, instead of a file.",
                        max_length=2048,
                        verbose_name="picture URL",
                    ),
                ),
                ("appid", models.CharField(blank=True, max_length=64, verbose_name="mini-program appid")),
                ("page", models.CharField(blank=True, max_length=512, verbose_name="mini-program page")),
                ("file_name", models.CharField(blank=True, max_length=255, verbose_name="file name")),
                ("file_content", models.BinaryField(blank=True, null=True, verbose_name="file")),
                ("file_size", models.PositiveIntegerField(default=0, verbose_name="file size")),
                (
                    "media_id",
                    models.CharField(
                        blank=True, editable=False, max_length=255, verbose_name="WeCom media id"
                    ),
                ),
                (
                    "media_uploaded_at",
                    models.DateTimeField(
                        blank=True, editable=False, null=True, verbose_name="media uploaded at"
                    ),
                ),
                (
                    "kind",
                    models.CharField(
                        choices=[
                            ("text", "text"),
                            ("image", "image"),
                            ("link", "link"),
                            ("miniprogram", "mini-program"),
                            ("file", "file"),
                            ("video", "video"),
                        ],
                        default="text",
                        max_length=16,
                        verbose_name="type",
                    ),
                ),
                (
                    "title",
                    models.CharField(
                        help_text="Links: at most 128 bytes; mini-programs: 64.",
                        max_length=128,
                        verbose_name="title",
                    ),
                ),
                (
                    "text",
                    models.TextField(
                        blank=True, help_text="Text materials: at most 4000 bytes.", verbose_name="text"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="created by",
                    ),
                ),
                (
                    "folder",
                    models.ForeignKey(
                        blank=True,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="materials",
                        to="campaigns.materialfolder",
                        verbose_name="folder",
                    ),
                ),
                (
                    "tags",
                    models.ManyToManyField(
                        blank=True, related_name="materials", to="campaigns.materialtag", verbose_name="tags"
                    ),
                ),
            ],
            options={
                "verbose_name": "material",
                "verbose_name_plural": "materials",
                "ordering": ["-id"],
            },
        ),
        migrations.CreateModel(
            name="Script",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("title", models.CharField(max_length=100, verbose_name="title")),
                ("text", models.TextField(blank=True, help_text="At most 4000 bytes.", verbose_name="text")),
                ("sort_order", models.PositiveSmallIntegerField(default=0, verbose_name="order")),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
                ("updated_at", models.DateTimeField(auto_now=True, verbose_name="updated at")),
                (
                    "created_by",
                    models.ForeignKey(
                        blank=True,
                        editable=False,
                        null=True,
                        on_delete=django.db.models.deletion.SET_NULL,
                        related_name="+",
                        to=settings.AUTH_USER_MODEL,
                        verbose_name="created by",
                    ),
                ),
                (
                    "materials",
                    models.ManyToManyField(
                        blank=True,
                        help_text="Sent along with the text.",
                        related_name="scripts",
                        to="campaigns.material",
                        verbose_name="materials",
                    ),
                ),
                (
                    "category",
                    models.ForeignKey(
                        on_delete=django.db.models.deletion.PROTECT,
                        related_name="scripts",
                        to="campaigns.scriptcategory",
                        verbose_name="category",
                    ),
                ),
            ],
            options={
                "verbose_name": "script",
                "verbose_name_plural": "scripts",
                "ordering": ["category__sort_order", "sort_order", "id"],
            },
        ),
        migrations.CreateModel(
            name="SensitiveWord",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("word", models.CharField(max_length=100, verbose_name="word")),
                (
                    "action",
                    models.CharField(
                        choices=[("block", "block"), ("warn", "warn")],
                        default="block",
                        max_length=8,
                        verbose_name="action",
                    ),
                ),
                (
                    "note",
                    models.CharField(
                        blank=True, help_text="Why it is on the list.", max_length=200, verbose_name="note"
                    ),
                ),
                ("created_at", models.DateTimeField(auto_now_add=True, verbose_name="created at")),
            ],
            options={
                "verbose_name": "sensitive word",
                "verbose_name_plural": "sensitive words",
                "ordering": ["word"],
                "constraints": [
                    models.UniqueConstraint(
                        django.db.models.functions.text.Lower("word"),
                        name="camp_sensitiveword_word_uniq",
                        violation_error_message="This word is on the list already.",
                    )
                ],
            },
        ),
        migrations.AddConstraint(
            model_name="materialfolder",
            constraint=models.UniqueConstraint(
                fields=("parent", "name"), name="camp_folder_parent_name_uniq"
            ),
        ),
        migrations.AddConstraint(
            model_name="materialfolder",
            constraint=models.UniqueConstraint(
                condition=models.Q(("parent__isnull", True)),
                fields=("name",),
                name="camp_folder_root_name_uniq",
            ),
        ),
        migrations.AddIndex(
            model_name="material",
            index=models.Index(fields=["folder", "-id"], name="camp_material_folder_idx"),
        ),
        migrations.AddIndex(
            model_name="material",
            index=models.Index(fields=["kind", "-id"], name="camp_material_kind_idx"),
        ),
        migrations.AddIndex(
            model_name="script",
            index=models.Index(fields=["category", "sort_order", "id"], name="camp_script_cat_idx"),
        ),
    ]
