"""Domain errors of the servers app."""


class ComputeNodeExists(Exception):
    def __init__(self, host, hypervisor_hostname):
        super().__init__(f"Compute node {hypervisor_hostname} of host {host} already exists in this cell.")


class ComputeNodeNotFound(Exception):
    def __init__(self, host):
        super().__init__(f"Compute host {host} could not be found.")
