"""The flavor models, moved from the servers app (servers 0010) with their tables unchanged.

Django's state only: the tables were created in the API database by servers 0002 (and an index
dropped by servers 0006); no database operation, so no database (API or cell) is touched.
"""

import django.db.models.deletion
import django.utils.timezone
from django.db import migrations, models


class Migration(migrations.Migration):
    initial = True

    dependencies = [
        ("servers", "0010_flavors_moved_to_their_own_app"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.CreateModel(
                    name="Flavor",
                    fields=[
                        (
                            "id",
                            models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("created_at", models.DateTimeField(blank=True, default=django.utils.timezone.now, null=True)),
                        ("updated_at", models.DateTimeField(blank=True, null=True)),
                        ("name", models.CharField(max_length=255)),
                        ("memory_mb", models.IntegerField()),
                        ("vcpus", models.IntegerField()),
                        ("root_gb", models.IntegerField(blank=True, null=True)),
                        ("ephemeral_gb", models.IntegerField(blank=True, null=True)),
                        ("flavorid", models.CharField(max_length=255)),
                        ("swap", models.IntegerField(default=0)),
                        ("rxtx_factor", models.FloatField(blank=True, default=1.0, null=True)),
                        ("vcpu_weight", models.IntegerField(blank=True, null=True)),
                        ("disabled", models.BooleanField(default=False, null=True)),
                        ("is_public", models.BooleanField(default=True, null=True)),
                        ("description", models.TextField(blank=True, null=True)),
                    ],
                    options={
                        "db_table": "flavors",
                        "constraints": [
                            models.UniqueConstraint(fields=("flavorid",), name="uniq_flavors0flavorid"),
                            models.UniqueConstraint(fields=("name",), name="uniq_flavors0name"),
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="FlavorExtraSpec",
                    fields=[
                        (
                            "id",
                            models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("created_at", models.DateTimeField(blank=True, default=django.utils.timezone.now, null=True)),
                        ("updated_at", models.DateTimeField(blank=True, null=True)),
                        ("key", models.CharField(max_length=255)),
                        ("value", models.CharField(blank=True, max_length=255, null=True)),
                        (
                            "flavor",
                            models.ForeignKey(
                                db_column="flavor_id",
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="extra_specs",
                                to="flavors.flavor",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "flavor_extra_specs",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("flavor", "key"), name="uniq_flavor_extra_specs0flavor_id0key"
                            )
                        ],
                    },
                ),
                migrations.CreateModel(
                    name="FlavorProject",
                    fields=[
                        (
                            "id",
                            models.AutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID"),
                        ),
                        ("created_at", models.DateTimeField(blank=True, default=django.utils.timezone.now, null=True)),
                        ("updated_at", models.DateTimeField(blank=True, null=True)),
                        ("project_id", models.CharField(max_length=255)),
                        (
                            "flavor",
                            models.ForeignKey(
                                db_column="flavor_id",
                                db_index=False,
                                on_delete=django.db.models.deletion.CASCADE,
                                related_name="projects",
                                to="flavors.flavor",
                            ),
                        ),
                    ],
                    options={
                        "db_table": "flavor_projects",
                        "constraints": [
                            models.UniqueConstraint(
                                fields=("flavor", "project_id"), name="uniq_flavor_projects0flavor_id0project_id"
                            )
                        ],
                    },
                ),
            ],
            database_operations=[],
        ),
    ]
