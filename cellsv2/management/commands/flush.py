"""``manage.py flush``: Django's, on the API database unless ``--database`` names another (or a cell)."""

from django.core.management.commands import flush

from cellsv2.management.databases import ApiDatabaseByDefault


class Command(ApiDatabaseByDefault, flush.Command):
    pass
