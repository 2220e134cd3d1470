"""``manage.py dbshell``: Django's, on the API database unless ``--database`` names another (or a cell)."""

from django.core.management.commands import dbshell

from cellsv2.management.databases import ApiDatabaseByDefault


class Command(ApiDatabaseByDefault, dbshell.Command):
    pass
