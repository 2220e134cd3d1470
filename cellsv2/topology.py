"""Which tables live in which database, read from the models (the operator's guide embeds it)."""

from dataclasses import dataclass

from django.apps import apps

from cellsv2.db import DbScope, model_scope


@dataclass(frozen=True)
class TableInfo:
    table: str
    model: str
    concept: str


def table_inventory() -> dict[str, list[TableInfo]]:
    """{"api": [...], "cell": [...]}: every table of each tier, sorted by name (Django's own under api)."""
    inventory: dict[str, list[TableInfo]] = {"api": [], "cell": []}
    for model in apps.get_models(include_auto_created=True):
        tier = "cell" if model_scope(model) is DbScope.CELL else "api"
        doc = (model.__doc__ or "").strip().splitlines()[0] if model.__doc__ else ""
        if model._meta.auto_created:
            doc = "Many-to-many link table"
        elif model_scope(model) is None:
            doc = f"Django {model._meta.app_config.verbose_name}"
        inventory[tier].append(TableInfo(model._meta.db_table, model._meta.label, doc))
    for tier in inventory:
        inventory[tier].sort(key=lambda info: info.table)
    return inventory


def moved_tables() -> list[str]:
    """Tables present in both tiers: moved to the API database, legacy copy drained from the cells."""
    inventory = table_inventory()
    cell_tables = {info.table for info in inventory["cell"]}
    return sorted(info.table for info in inventory["api"] if info.table in cell_tables)


def table_inventory_markdown() -> str:
    """The inventory as Markdown (what docs/operators-guide.md must contain between its markers)."""
    inventory = table_inventory()
    lines = []
    for tier, title in (("api", "API database (`api`)"), ("cell", "Every cell database (`cell0`, `cell1`, ...)")):
        lines += [f"#### {title}", "", "| table | model | what it holds |", "|---|---|---|"]
        lines += [f"| `{i.table}` | `{i.model}` | {i.concept} |" for i in inventory[tier]]
        lines.append("")
    moved = moved_tables()
    lines += ["#### Moved to the API database (legacy copies in the cells are drained by online data migrations)", ""]
    lines += [f"- `{table}`" for table in moved] if moved else ["- none yet"]
    return "\n".join(lines).rstrip() + "\n"
