"""Fixtures of the operators' tests: the servers' topology and API client."""

from tests.servers.conftest import api, topology, worker_mode  # noqa: F401  (fixtures used here)
