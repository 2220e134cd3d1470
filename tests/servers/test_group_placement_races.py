"""Server-group policies hold when several conductors place members of one group at once."""

import threading
import time

import pytest
from django.db import connections

from servergroups.services import servergroup_create
from servers import conductor, scheduler
from tests.fixtures.compute import add_node, discover, instance_in
from tests.support import ALL_DATABASES, CELL_ALIASES, requires_postgres


def host_of(uuid) -> tuple[str, str | None]:
    [alias] = [a for a in CELL_ALIASES if instance_in(a, uuid) is not None]
    return alias, instance_in(alias, uuid).host


@requires_postgres
@pytest.mark.usefixtures("worker_mode", "default_flavors")
@pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)
@pytest.mark.parametrize("policy", ["anti-affinity", "affinity"])
def test_members_placed_at_the_same_moment_respect_the_policy(api, cells, monkeypatch, policy):
    # Two equal hosts in two cells: each conductor alone would pick the same (first) one.
    add_node(cells, "cell1", "h1", memory_mb=8192)
    add_node(cells, "cell2", "h2", memory_mb=8192)
    discover()
    group = servergroup_create(project_id="proj1", user_id="alice", name="g", policy=policy, rules=None)
    uuids = [api.create_uuid(hints={"group": group.uuid}) for _ in range(2)]

    real_select = scheduler.select_host

    def slow_select(states, flavor, group=None):
        # Widen the window between reading the members' hosts and writing the instance.
        chosen = real_select(states, flavor, group)
        time.sleep(0.3)
        return chosen

    monkeypatch.setattr(scheduler, "select_host", slow_select)
    barrier = threading.Barrier(2)
    outcomes, errors = [None, None], []

    def place(index):
        try:
            barrier.wait(10)
            outcomes[index] = conductor.build_request_place(uuids[index])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=place, args=(i,)) for i in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)

    assert not errors, errors
    assert outcomes == ["placed", "placed"]
    hosts = {host_of(uuid)[1] for uuid in uuids}
    assert len(hosts) == (2 if policy == "anti-affinity" else 1), hosts
