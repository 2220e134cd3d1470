"""``manage.py createcachetable``: Django's, on the API database unless ``--database`` names another (or a cell)."""

from django.core.management.commands import createcachetable

from cellsv2.management.databases import ApiDatabaseByDefault


class Command(ApiDatabaseByDefault, createcachetable.Command):
    pass
