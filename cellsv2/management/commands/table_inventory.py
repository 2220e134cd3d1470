"""``manage.py table_inventory [--update FILE]``: which tables live in which database (Markdown).

With ``--update`` the block between ``<!-- table-inventory:start -->`` and
``<!-- table-inventory:end -->`` in FILE is replaced (docs/operators-guide.md keeps it).
"""

from pathlib import Path

from cellsv2.management.base import OperatorCommand
from cellsv2.topology import table_inventory_markdown

START, END = "<!-- table-inventory:start -->\n", "<!-- table-inventory:end -->"


def replace_block(text: str, block: str) -> str:
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    return f"{head}{START}{block}{END}{tail}"


class Command(OperatorCommand):
    help = "Print the tables of the API database and of every cell database, from the models."

    def add_arguments(self, parser):
        parser.add_argument("--update", metavar="FILE", help="Rewrite the marked block of FILE instead of printing")

    def run(self, *args, update=None, **options):
        block = table_inventory_markdown()
        if not update:
            self.stdout.write(block, ending="")
            return 0
        path = Path(update)
        text = path.read_text()
        if START not in text or END not in text:
            self.fail(f"{update} has no table-inventory markers")
            return 1
        updated = replace_block(text, block)
        if updated == text:
            self.say(f"{update} is up to date")
            return 0
        path.write_text(updated)
        self.say(f"Updated the table inventory in {update}")
        return 0
