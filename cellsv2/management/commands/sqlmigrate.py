"""``manage.py sqlmigrate``: Django's, on the API database unless ``--database`` names another (or a cell)."""

from django.core.management.commands import sqlmigrate

from cellsv2.management.databases import ApiDatabaseByDefault


class Command(ApiDatabaseByDefault, sqlmigrate.Command):
    pass
