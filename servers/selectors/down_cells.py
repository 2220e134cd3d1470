"""Records of servers whose cell does not answer (Nova's 2.69 partial records)."""

from mappings.models import InstanceMapping
from servers.selectors.show import ServerView


def down_cell_records(*, cell_uuids: list[str], project_id: str | None) -> list[ServerView]:
    """2.69 partial records of the servers in unreachable cells, from instance mappings (API database)."""
    mappings = (
        InstanceMapping.objects.select_related("cell")
        .filter(cell__uuid__in=cell_uuids)
        .exclude(queued_for_delete=True)
    )
    if project_id is not None:
        mappings = mappings.filter(project_id=project_id)
    return [
        ServerView(
            uuid=m.instance_uuid,
            instance={"uuid": m.instance_uuid, "project_id": m.project_id, "created_at": m.created_at},
            source="down",
            mapping=m,
        )
        for m in mappings.order_by("id")
    ]
