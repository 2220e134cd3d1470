"""Domain errors of the flavors app."""


class FlavorNotFound(Exception):
    def __init__(self, flavorid):
        super().__init__(f"Flavor {flavorid} could not be found.")
        self.flavorid = flavorid


class FlavorExists(Exception):
    """Another flavor has this name."""

    def __init__(self, name):
        super().__init__(f"Flavor with name {name} already exists.")
        self.name = name


class FlavorIdExists(Exception):
    """Another flavor has this flavor id."""

    def __init__(self, flavorid):
        super().__init__(f"Flavor with ID {flavorid} already exists.")
        self.flavorid = flavorid


class InvalidFlavorInput(ValueError):
    """A flavor attribute out of range (Nova's InvalidInput from flavors.create)."""

    def __init__(self, reason):
        super().__init__(f"Invalid input received: {reason}")
        self.reason = reason


class FlavorMarkerNotFound(Exception):
    """The marker of a flavor listing names no flavor the caller can see."""

    def __init__(self, marker):
        super().__init__(f"marker [{marker}] not found")
        self.marker = marker


class InvalidFlavorSort(ValueError):
    """A sort key or direction the flavor listing does not accept."""
