"""``manage.py changepassword``: Django's, on the API database unless ``--database`` names another (or a cell)."""

from django.contrib.auth.management.commands import changepassword

from cellsv2.management.databases import ApiDatabaseByDefault


class Command(ApiDatabaseByDefault, changepassword.Command):
    pass
