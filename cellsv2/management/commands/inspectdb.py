"""``manage.py inspectdb``: Django's, on the API database unless ``--database`` names another (or a cell)."""

from django.core.management.commands import inspectdb

from cellsv2.management.databases import ApiDatabaseByDefault


class Command(ApiDatabaseByDefault, inspectdb.Command):
    pass
