"""Fixtures of the operators' tests: the servers' topology and API client."""

from tests.servers.conftest import api, default_flavors, topology, worker_mode  # noqa: F401  (fixtures used here)
