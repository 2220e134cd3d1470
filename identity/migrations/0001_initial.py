"""Project, RoleAssignment and ApiToken, taken over from cellsv2 (cellsv2 0002 lets them go).

The tables exist already (cellsv2 0001 created them): the models enter this app's state only,
with the same tables, columns, constraints and the foreign keys to auth.User. Their content types
follow them (app label cellsv2 -> identity), so permissions already granted and admin log entries
stay attached; on a new database there is nothing to rename yet.
"""

import django.db.models.deletion
import django.utils.timezone
from django.conf import settings
from django.db import migrations, models

MODELS = ("project", "roleassignment", "apitoken")


def _move_content_types(apps, schema_editor, *, old: str, new: str) -> None:
    ContentType = apps.get_model("contenttypes", "ContentType")
    rows = ContentType.objects.using(schema_editor.connection.alias)
    for model in MODELS:
        if rows.filter(app_label=new, model=model).exists():
            # As Django's RenameContentType: leave a stale row for remove_stale_contenttypes.
            continue
        rows.filter(app_label=old, model=model).update(app_label=new)
    ContentType.objects.clear_cache()


def content_types_to_identity(apps, schema_editor):
    _move_content_types(apps, schema_editor, old="cellsv2", new="identity")


def content_types_to_cellsv2(apps, schema_editor):
    _move_content_types(apps, schema_editor, old="identity", new="cellsv2")


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("cellsv2", "0002_identity_models_to_the_identity_app"),
        ("contenttypes", "0002_remove_content_type_name"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Project",
                    fields=[
                        (
                            "id",
                            models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("created_at", models.DateTimeField(blank=True, default=django.utils.timezone.now, null=True)),
                        ("updated_at", models.DateTimeField(blank=True, null=True)),
                        ("project_id", models.CharField(max_length=255, unique=True)),
                        ("name", models.CharField(max_length=255, unique=True)),
                        ("description", models.TextField(blank=True, default="")),
                        ("enabled", models.BooleanField(default=True)),
                    ],
                    options={
                        "db_table": "cellsv2_projects",
                        "ordering": ("name",),
                    },
                ),
                migrations.CreateModel(
                    name="ApiToken",
                    fields=[
                        (
                            "id",
                            models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("created_at", models.DateTimeField(blank=True, default=django.utils.timezone.now, null=True)),
                        ("updated_at", models.DateTimeField(blank=True, null=True)),
                        ("token_hash", models.CharField(max_length=64, unique=True)),
                        (
                            "prefix",
                            models.CharField(
                                help_text="The first characters, to recognise a token in lists", max_length=8
                            ),
                        ),
                        ("description", models.CharField(blank=True, default="", max_length=255)),
                        ("expires_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="api_tokens",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="api_tokens",
                                to="identity.project",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "cellsv2_api_tokens",
                    },
                ),
                migrations.CreateModel(
                    name="RoleAssignment",
                    fields=[
                        (
                            "id",
                            models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("created_at", models.DateTimeField(blank=True, default=django.utils.timezone.now, null=True)),
                        ("updated_at", models.DateTimeField(blank=True, null=True)),
                        (
                            "role",
                            models.CharField(
                                choices=[("reader", "reader"), ("member", "member"), ("admin", "admin")],
                                max_length=16,
                            ),
                        ),
                        (
                            "project",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="role_assignments",
                                to="identity.project",
                            ),
                        ),
                        (
                            "user",
                            models.ForeignKey(
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="role_assignments",
                                to=settings.AUTH_USER_MODEL,
                            ),
                        ),
                    ],
                    options={
                        "db_table": "cellsv2_role_assignments",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("user", "project", "role"), name="uniq_role_assignments0user0project0role"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
        # Content types live in the API database, with the tables.
        migrations.RunPython(content_types_to_identity, content_types_to_cellsv2, hints={"scope": "api"}),
    ]
