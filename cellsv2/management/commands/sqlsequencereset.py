"""``manage.py sqlsequencereset``: Django's, on the API database unless ``--database`` names another (or a cell)."""

from django.core.management.commands import sqlsequencereset

from cellsv2.management.databases import ApiDatabaseByDefault


class Command(ApiDatabaseByDefault, sqlsequencereset.Command):
    pass
