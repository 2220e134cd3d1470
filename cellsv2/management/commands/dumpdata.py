"""``manage.py dumpdata``: Django's, on the API database unless ``--database`` names another (or a cell)."""

from django.core.management.commands import dumpdata

from cellsv2.management.databases import ApiDatabaseByDefault


class Command(ApiDatabaseByDefault, dumpdata.Command):
    pass
