"""Domain errors of the mappings app; each carries an operator-readable message."""


class MappingError(Exception):
    """Base class; ``str(exc)`` is the message shown to the operator."""


class CellMappingNotFound(MappingError):
    def __init__(self, uuid):
        super().__init__(f"Cell with uuid {uuid} was not found.")
        self.uuid = uuid


class CellMappingExists(MappingError):
    def __init__(self, other_uuid):
        super().__init__(
            "The specified transport_url and/or database_connection combination already exists "
            f"for another cell with uuid {other_uuid}."
        )
        self.other_uuid = other_uuid


class InvalidCellDatabase(MappingError):
    """A database_connection that is malformed or cannot be reached."""


class CellHasHosts(MappingError):
    def __init__(self, uuid):
        super().__init__(f"There are existing hosts mapped to cell with uuid {uuid}.")


class CellHasInstances(MappingError):
    def __init__(self, uuid):
        super().__init__(f"There are existing instances mapped to cell with uuid {uuid}.")


class CellHasDeletedInstances(MappingError):
    def __init__(self, uuid):
        super().__init__(
            f"There are instance mappings to cell with uuid {uuid}, but all instances have been deleted in the "
            "cell.\nSo execute 'manage.py db archive_deleted_rows' to delete the instance mappings."
        )


class Cell0CannotBeDisabled(MappingError):
    def __init__(self):
        super().__init__("Cell0 cannot be disabled.")


class HostMappingNotFound(MappingError):
    def __init__(self, host):
        super().__init__(f"The host {host} was not found.")


class HostMappingExists(MappingError):
    def __init__(self, host):
        super().__init__(f"Host {host} is already mapped to a cell.")


class HostInOtherCell(MappingError):
    def __init__(self, host, cell_uuid):
        super().__init__(f"The host {host} was not found in the cell {cell_uuid}.")


class HostHasInstances(MappingError):
    def __init__(self, host):
        super().__init__(f"There are instances on the host {host}.")
