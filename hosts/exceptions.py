"""Domain errors of the hosts app (``str()`` is the client message, Nova's wording)."""


class ServiceNotFound(LookupError):
    def __init__(self, service_id):
        super().__init__(f"Service {service_id} could not be found.")


class ServiceNotUnique(LookupError):
    def __init__(self, service_id):
        super().__init__(f"Service id {service_id} refers to multiple services.")


class HostBinaryNotFound(LookupError):
    def __init__(self, host, binary):
        super().__init__(f"Could not find binary {binary} on host {host}.")


class ServiceNotCompute(ValueError):
    """Only nova-compute services can be enabled, disabled or forced down (Nova's rule)."""

    def __init__(self, binary):
        super().__init__(f"Updating a {binary} service is not supported. Only nova-compute services can be updated.")


class ServiceHostsInstances(Exception):
    def __init__(self):
        super().__init__(
            "Unable to delete compute service that is hosting instances. Migrate or delete the instances first."
        )


class HypervisorNotFound(LookupError):
    def __init__(self, hypervisor_id):
        super().__init__(f"Hypervisor with ID '{hypervisor_id}' could not be found.")


class HypervisorPatternNotFound(LookupError):
    def __init__(self, pattern):
        super().__init__(f"No hypervisor matching '{pattern}' could be found.")


class HypervisorMarkerNotFound(LookupError):
    def __init__(self, marker):
        super().__init__(f"marker [{marker}] not found")
