"""``manage.py sqlflush``: Django's, on the API database unless ``--database`` names another (or a cell)."""

from django.core.management.commands import sqlflush

from cellsv2.management.databases import ApiDatabaseByDefault


class Command(ApiDatabaseByDefault, sqlflush.Command):
    pass
