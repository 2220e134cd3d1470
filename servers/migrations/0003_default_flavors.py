"""Devstack's default flavors m1.tiny .. m1.xlarge (flavor ids "1" to "5"), created if absent.

API database only: the ``scope`` hint keeps the router from running this on the cells.
A flavor whose id or name is already taken is left alone, so operators' flavors survive and the
migration can run against a database that already has them. Unapplying it deletes nothing.
"""

from django.db import migrations

# (flavorid, name, memory_mb, vcpus, root_gb), as devstack creates them.
DEFAULT_FLAVORS = [
    ("1", "m1.tiny", 512, 1, 1),
    ("2", "m1.small", 2048, 1, 20),
    ("3", "m1.medium", 4096, 2, 40),
    ("4", "m1.large", 8192, 4, 80),
    ("5", "m1.xlarge", 16384, 8, 160),
]


def create_default_flavors(apps, schema_editor):
    Flavor = apps.get_model("servers", "Flavor")
    flavors = Flavor.objects.using(schema_editor.connection.alias)
    for flavorid, name, memory_mb, vcpus, root_gb in DEFAULT_FLAVORS:
        if flavors.filter(flavorid=flavorid).exists() or flavors.filter(name=name).exists():
            continue
        flavors.create(
            flavorid=flavorid,
            name=name,
            memory_mb=memory_mb,
            vcpus=vcpus,
            root_gb=root_gb,
            ephemeral_gb=0,
            swap=0,
            rxtx_factor=1.0,
            disabled=False,
            is_public=True,
        )


class Migration(migrations.Migration):
    dependencies = [
        ("servers", "0002_flavors"),
    ]

    operations = [
        migrations.RunPython(create_default_flavors, migrations.RunPython.noop, hints={"scope": "api"}),
    ]
