"""``manage.py loaddata``: Django's, on the API database unless ``--database`` names another (or a cell)."""

from django.core.management.commands import loaddata

from cellsv2.management.databases import ApiDatabaseByDefault


class Command(ApiDatabaseByDefault, loaddata.Command):
    pass
