"""``manage.py showmigrations``: Django's, on the API database unless ``--database`` names another (or a cell)."""

from django.core.management.commands import showmigrations

from cellsv2.management.databases import ApiDatabaseByDefault


class Command(ApiDatabaseByDefault, showmigrations.Command):
    pass
