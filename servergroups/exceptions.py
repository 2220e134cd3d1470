"""Domain errors of server groups; str() is the client message (Nova's wording)."""


class ServerGroupNotFound(Exception):
    """Nova's InstanceGroupNotFound."""

    def __init__(self, group_uuid):
        super().__init__(f"Instance group {group_uuid} could not be found.")
        self.group_uuid = group_uuid


class ServerGroupExists(Exception):
    """Nova's InstanceGroupIdExists: the uuid is taken in the API database or live in a cell."""

    def __init__(self, group_uuid):
        super().__init__(f"Instance group {group_uuid} already exists.")
        self.group_uuid = group_uuid


class InvalidServerGroup(ValueError):
    """A policy or rules Nova refuses with 400 after schema validation."""


class CellsUnavailable(RuntimeError):
    """Cells that had to answer (to prove a uuid is free, or to migrate) did not."""

    def __init__(self, cells):
        super().__init__(f"Cells did not answer: {', '.join(sorted(cells))}")
        self.cells = cells
