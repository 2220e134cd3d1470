"""Flavor, FlavorExtraSpec and FlavorProject now belong to the flavors app (flavors 0001).

Django's state only: the tables (flavors, flavor_extra_specs, flavor_projects) stay exactly as
they are in the API database, rows included. No database operation, so no database (API or
cell) is touched; the flavors app's content types are renamed by flavors 0002.
"""

from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [
        ("servers", "0009_block_device_mapping"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                # The models holding a foreign key to Flavor go first.
                migrations.DeleteModel(name="FlavorExtraSpec"),
                migrations.DeleteModel(name="FlavorProject"),
                migrations.DeleteModel(name="Flavor"),
            ],
            database_operations=[],
        ),
    ]
