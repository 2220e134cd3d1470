"""``manage.py createsuperuser``: Django's, on the API database unless ``--database`` names another (or a cell)."""

from django.contrib.auth.management.commands import createsuperuser

from cellsv2.management.databases import ApiDatabaseByDefault


class Command(ApiDatabaseByDefault, createsuperuser.Command):
    pass
