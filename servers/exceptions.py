"""Domain errors of the servers app."""


class ComputeNodeExists(Exception):
    def __init__(self, host, hypervisor_hostname):
        super().__init__(f"Compute node {hypervisor_hostname} of host {host} already exists in this cell.")


class ComputeNodeNotFound(Exception):
    def __init__(self, host):
        super().__init__(f"Compute host {host} could not be found.")


# --- servers: show, list, create, update, delete -------------------------------------------


class ServerNotFound(Exception):
    def __init__(self, uuid):
        super().__init__(f"Instance {uuid} could not be found.")
        self.uuid = uuid


class CellDown(Exception):
    """The server's cell did not answer."""

    def __init__(self, mapping, reason):
        super().__init__(f"The cell {mapping.cell.identity} holding server {mapping.instance_uuid} is unreachable")
        self.mapping = mapping
        self.reason = reason


class MarkerNotFound(Exception):
    def __init__(self, marker):
        super().__init__(f"marker [{marker}] not found")


class InvalidKeyName(Exception):
    def __init__(self):
        super().__init__("Invalid key_name provided.")


class ServerGroupNotFound(Exception):
    def __init__(self, uuid):
        super().__init__(f"Instance group {uuid} could not be found.")


class AvailabilityZoneNotAvailable(Exception):
    def __init__(self):
        super().__init__("The requested availability zone is not available")


class InvalidAvailabilityZone(ValueError):
    def __init__(self):
        super().__init__("Invalid input received: Unable to parse availability_zone")


class ComputeHostNotFound(Exception):
    def __init__(self, host):
        super().__init__(f"Compute host {host} could not be found.")


class ServerLocked(Exception):
    def __init__(self, uuid):
        super().__init__(f"Instance {uuid} is locked")


class DestinationConflict(ValueError):
    def __init__(self):
        super().__init__(
            "One mechanism with host and/or hypervisor_hostname and another mechanism with zone:host:node are "
            "mutually exclusive."
        )


# --- block device mappings of a server create (nova/exception.py; 400 with these messages) ------


class InvalidBlockDeviceRequest(ValueError):
    """A server create refused for its block device mappings (every subclass is a 400)."""

    message = "The request is invalid."

    def __init__(self, message: str | None = None, **kwargs):
        super().__init__(message or self.message.format(**kwargs))


class InvalidRequest(InvalidBlockDeviceRequest):
    """Nova's InvalidRequest, raised with its own message."""


class InvalidBDM(InvalidBlockDeviceRequest):
    message = "Block Device Mapping is Invalid."


class InvalidBDMFormat(InvalidBDM):
    message = "Block Device Mapping is Invalid: {details}"

    def __init__(self, details: str):
        super().__init__(details=details)


class InvalidBDMBootSequence(InvalidBDM):
    message = (
        "Block Device Mapping is Invalid: Boot sequence for the instance and image/block device mapping "
        "combination is not valid."
    )


class InvalidBDMLocalsLimit(InvalidBDM):
    message = "Block Device Mapping is Invalid: You specified more local devices than the limit allows"


class InvalidBDMEphemeralSize(InvalidBDM):
    message = (
        "Ephemeral disks requested are larger than the instance type allows. If no size is given in one block "
        "device mapping, flavor ephemeral size will be used."
    )


class InvalidBDMSwapSize(InvalidBDM):
    message = "Swap drive requested is larger than instance type allows."


class InvalidBDMImage(InvalidBDM):
    message = "Block Device Mapping is Invalid: failed to get image {id}."


class InvalidBDMVolume(InvalidBDM):
    message = "Block Device Mapping is Invalid: failed to get volume {id}."


class InvalidBDMSnapshot(InvalidBDM):
    message = "Block Device Mapping is Invalid: failed to get snapshot {id}."


class InvalidBDMDiskBus(InvalidBDM):
    # Nova's class misspells its message attribute (msg_fmr), so its users read the base message.
    message = InvalidBDM.message


class VolumeNotFound(InvalidBlockDeviceRequest):
    message = "Volume {volume_id} could not be found."


class SnapshotNotFound(InvalidBlockDeviceRequest):
    message = "Snapshot {snapshot_id} could not be found."


# --- actions and metadata: Nova's conflicts (409), limits (403) and misses (404) -----------------


class InstanceInvalidState(Exception):
    """An action refused in the server's state; the message is Nova's
    raise_http_conflict_for_instance_invalid_state's (common.py)."""

    def __init__(self, uuid, action: str, attr: str, state):
        if state is not None:
            message = f"Cannot '{action}' instance {uuid} while it is in {attr} {state}"
        else:
            message = f"Instance {uuid} is in an invalid state for '{action}'"
        super().__init__(message)
        self.uuid, self.action, self.attr, self.state = uuid, action, attr, state


class InstanceNotReady(Exception):
    """A server with no host yet (a stop or start needs one)."""

    def __init__(self, uuid):
        super().__init__(f"Instance {uuid} is not ready")


class MetadataItemNotFound(Exception):
    def __init__(self):
        super().__init__("Metadata item was not found")


class MetadataLimitExceeded(Exception):
    def __init__(self, allowed: int):
        super().__init__(f"Maximum number of metadata items exceeds {allowed}")


class ServerTagNotFound(Exception):
    """Nova's answer of show (the server has no such tag)."""

    def __init__(self, uuid, tag):
        super().__init__(f"Server {uuid} has no tag '{tag}'")


class InstanceTagNotFound(Exception):
    """Nova's answer of delete (exception.InstanceTagNotFound)."""

    def __init__(self, uuid, tag):
        super().__init__(f"Instance {uuid} has no tag '{tag}'")


class InvalidTag(Exception):
    """A tag in the URL that breaks Nova's tag rules (non-empty, at most 60 characters, no '/' or ',')."""

    def __init__(self, tag, error: str):
        super().__init__(
            f"Tag '{tag}' is invalid. It must be a non empty string without characters '/' and ','. "
            f"Validation error message: {error}"
        )


class TooManyTags(Exception):
    def __init__(self, limit: int):
        super().__init__(f"The number of tags exceeded the per-server limit {limit}")


class ConsoleOutputUnavailable(Exception):
    """No hypervisor keeps a console log here (Nova's answer for a driver without one: 501)."""

    def __init__(self):
        super().__init__("The requested functionality is not supported.")


class RequestURIMismatch(ValueError):
    """PUT /servers/{id}/metadata/{key} whose body names another key."""

    def __init__(self):
        super().__init__("Request body and URI mismatch")
