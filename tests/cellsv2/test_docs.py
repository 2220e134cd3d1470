"""The operator's guide cannot drift from the models."""

from pathlib import Path

from cellsv2.management.commands.table_inventory import END, START
from cellsv2.topology import moved_tables, table_inventory, table_inventory_markdown
from tests.support import run_command

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "operators-guide.md"


def test_the_guide_lists_exactly_the_tables_the_models_define():
    text = GUIDE.read_text()
    block = text.split(START, 1)[1].split(END, 1)[0]
    assert block == table_inventory_markdown(), (
        "docs/operators-guide.md is stale: run `python manage.py table_inventory --update docs/operators-guide.md`"
    )


def test_update_rewrites_only_the_marked_block_and_says_so(tmp_path):
    doc = tmp_path / "guide.md"
    doc.write_text(f"# Guide\n{START}stale\n{END}\nrest\n")

    updated = run_command("table_inventory", "--update", str(doc))
    again = run_command("table_inventory", "--update", str(doc))

    assert (updated.code, updated.out) == (0, f"Updated the table inventory in {doc}\n")
    assert doc.read_text() == f"# Guide\n{START}{table_inventory_markdown()}{END}\nrest\n"
    assert (again.code, again.out) == (0, f"{doc} is up to date\n")


def test_the_inventory_puts_mappings_in_the_api_tier_and_instances_in_cells():
    inventory = table_inventory()
    api = {i.table for i in inventory["api"]}
    cell = {i.table for i in inventory["cell"]}
    assert {"cell_mappings", "host_mappings", "instance_mappings", "auth_user"} <= api
    assert {"instances", "instance_extra", "compute_nodes"} <= cell
    assert set(moved_tables()) == api & cell
