"""``manage.py check``: Django's; ``--database`` also takes a cell by alias, name or uuid."""

from django.core.management.commands import check

from cellsv2.management.databases import database_alias


class Command(check.Command):
    def handle(self, *app_labels, **options):
        options["databases"] = [database_alias(ref) for ref in options.get("databases") or ()]
        return super().handle(*app_labels, **options)
