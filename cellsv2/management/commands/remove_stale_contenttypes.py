"""``manage.py remove_stale_contenttypes``: Django's, on the API database unless ``--database`` says."""

from django.contrib.contenttypes.management.commands import remove_stale_contenttypes

from cellsv2.management.databases import ApiDatabaseByDefault


class Command(ApiDatabaseByDefault, remove_stale_contenttypes.Command):
    pass
