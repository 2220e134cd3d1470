"""Domain exceptions of instance actions (str() is the client message)."""


class ActionNotFound(LookupError):
    def __init__(self, request_id: str):
        super().__init__(f"Action {request_id} not found")


class MarkerNotFound(ValueError):
    def __init__(self, marker: str):
        super().__init__(f"Marker {marker} could not be found.")


class InvalidChangesWindow(ValueError):
    def __init__(self):
        super().__init__("The value of changes-since must be less than or equal to changes-before.")
