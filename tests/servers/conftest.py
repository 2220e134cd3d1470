"""The servers tests' fixtures are the shared ones of tests/fixtures/compute.py (registered in
tests/conftest.py). The helpers are re-exported here for the modules that import them from here."""

from tests.factories import IMAGE, TINY, new_uuid  # noqa: F401
from tests.fixtures.compute import (  # noqa: F401
    ADMIN,
    HOST,
    MEMBER,
    MEMBER_SAME_PROJECT,
    OTHER,
    Topology,
    add_node,
    api_rows,
    cells_holding,
    discover,
    extra_of,
    fault,
    faults_of,
    instance_in,
    mapping_of,
    metadata_of,
    place_all,
    seed_build_request,
    seed_instance,
)
