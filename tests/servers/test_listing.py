"""Listing servers across the API database and every cell: pagination, sorting, filters, query counts."""

import functools
from contextlib import ExitStack, contextmanager
from datetime import UTC, datetime, timedelta
from urllib.parse import urlencode

import pytest
from django.db import connections, transaction
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cellsv2.api.microversions import MAX_VERSION_STRING as MAX
from cellsv2.cells import cells_cache_clear
from cellsv2.context import target_cell
from mappings.models import CellMapping
from servers.models import Instance
from servers.selectors import listing as listing_selectors
from tests.factories import new_uuid
from tests.fixtures.compute import ADMIN, HOST, MEMBER, fault, place_all, seed_build_request, seed_instance
from tests.servers.helpers import ids, walk_with_markers
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)

BASE = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
SORT_KEYS = ["display_name", "created_at", "vm_state", "host", "uuid"]


@contextmanager
def rolled_back():
    """Everything written inside is undone afterwards (one hypothesis example)."""
    with ExitStack() as stack:
        for alias in ALL_DATABASES:
            stack.enter_context(transaction.atomic(using=alias))
        yield
        for alias in ALL_DATABASES:
            transaction.set_rollback(True, using=alias)


# --- the expected order, computed independently of the implementation --------------------------


def full_order(keys: list[str], dirs: list[str]) -> list[tuple[str, str]]:
    """Nova's process_sort_params, with uuid asc as the final cross-cell tie-breaker."""
    default = dirs[0] if dirs else "desc"
    order = [(key, dirs[i] if i < len(dirs) else default) for i, key in enumerate(keys)]
    if "created_at" not in keys:
        order.append(("created_at", default))
    if "uuid" not in keys:
        order.append(("uuid", "asc"))
    return order


def compare(a: dict, b: dict, order) -> int:
    """NULLs first in ascending order, last in descending order."""
    for key, direction in order:
        x, y = a[key], b[key]
        if x == y:
            continue
        if x is None:
            result = -1
        elif y is None:
            result = 1
        else:
            result = -1 if x < y else 1
        return result if direction == "asc" else -result
    return 0


def expected_ids(rows: list[dict], keys, dirs) -> list[str]:
    order = full_order(keys, dirs)
    return [r["uuid"] for r in sorted(rows, key=functools.cmp_to_key(lambda a, b: compare(a, b, order)))]


def walk_links(api, *, token, first: str) -> list[str]:
    """Every page by following servers_links."""
    seen, path = [], first
    for _ in range(200):
        response = api("get", path, token=token)
        seen += ids(response)
        links = response.json().get("servers_links")
        if not links:
            return seen
        assert links[0]["href"].startswith(f"{HOST}/v2.1/servers")
        path = links[0]["href"].removeprefix(f"{HOST}/v2.1")
    raise AssertionError("too many pages")


instance_rows = st.lists(
    st.fixed_dictionaries(
        {
            "cell": st.sampled_from(["cell0", "cell1", "cell2"]),
            "project_id": st.sampled_from(["proj1", "proj1", "proj2"]),
            "display_name": st.sampled_from(["a", "A", "b", "B", "ab", "a b", "Zed", "é", "", None]),
            "created_at": st.builds(
                lambda s, us: BASE + timedelta(seconds=s, microseconds=us),
                st.integers(0, 3),
                st.sampled_from([0, 1, 250000, 999999]),
            ),
            "vm_state": st.sampled_from(["active", "error", "stopped", "building", None]),
            "host": st.sampled_from([None, "h1", "h2", "H0"]),
            "deleted": st.sampled_from([False] * 9 + [True]),
        }
    ),
    min_size=0,
    max_size=18,
)
sorting = st.lists(st.sampled_from(SORT_KEYS), unique=True, max_size=3).flatmap(
    lambda keys: st.tuples(st.just(keys), st.lists(st.sampled_from(["asc", "desc"]), max_size=len(keys)))
)


@pytest.mark.usefixtures("worker_mode")
class TestCrossCellPagination:
    @settings(
        max_examples=60,
        deadline=None,
        suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
    )
    @given(
        rows=instance_rows,
        builds=st.integers(0, 3),
        sort=sorting,
        limit=st.integers(1, 6),
        admin=st.booleans(),
        detail=st.booleans(),
    )
    def test_walking_every_page_yields_every_server_once_in_order(
        self, api, cells, rows, builds, sort, limit, admin, detail
    ):
        keys, dirs = sort
        if not admin and "host" in keys:
            keys = [k for k in keys if k != "host"]
            dirs = dirs[: len(keys)]
        with rolled_back():
            visible = []
            for row in rows:
                instance = seed_instance(
                    cells[row["cell"]],
                    project_id=row["project_id"],
                    display_name=row["display_name"],
                    created_at=row["created_at"],
                    vm_state=row["vm_state"],
                    host=row["host"],
                    deleted=row["deleted"],
                )
                if not row["deleted"] and (admin or row["project_id"] == "proj1"):
                    visible.append({**row, "uuid": instance.uuid})
            waiting = []
            for n in range(builds):
                build = seed_build_request(display_name=f"b{n}", created_at=BASE + timedelta(seconds=n))
                waiting.append(
                    {
                        "uuid": build.instance_uuid,
                        "display_name": f"b{n}",
                        "created_at": BASE + timedelta(seconds=n),
                        "vm_state": "building",
                        "host": None,
                    }
                )
            params = [("sort_key", k) for k in keys] + [("sort_dir", d) for d in dirs]
            if admin:
                params.append(("all_tenants", "1"))
            token = ADMIN if admin else MEMBER
            walked = walk_with_markers(api, token=token, params=params, limit=limit, detail=detail)

            expected = expected_ids(waiting, keys, dirs) + expected_ids(visible, keys, dirs)
            assert len(walked) == len(set(walked)), "a server was repeated"
            assert walked == expected

            if len(keys) <= 1:
                # servers_links keep one value per parameter (as Nova's): enough for one sort key.
                path = "/servers/detail" if detail else "/servers"
                first = f"{path}?{urlencode([*params, ('limit', str(limit))])}"
                assert walk_links(api, token=token, first=first) == expected

    def test_build_requests_come_first_and_a_build_request_marker_continues_into_the_cells(self, api, cells):
        placed = [seed_instance(cells["cell1"], created_at=BASE + timedelta(seconds=n)).uuid for n in range(3)]
        placed += [seed_instance(cells["cell2"], created_at=BASE + timedelta(seconds=n + 10)).uuid for n in range(2)]
        builds = [seed_build_request(created_at=BASE + timedelta(seconds=n)).instance_uuid for n in range(3)]
        expected = builds[::-1] + [placed[4], placed[3], placed[2], placed[1], placed[0]]
        for limit in range(1, 9):
            assert walk_with_markers(api, token=MEMBER, params=[], limit=limit) == expected, limit
        # A page can end on the last build request: the next one starts the cells from the beginning.
        assert ids(api("get", f"/servers?limit=2&marker={builds[1]}")) == [builds[0], placed[4]]
        assert ids(api("get", f"/servers?marker={builds[0]}")) == expected[3:]

    def test_limit_larger_than_the_number_of_servers_returns_them_all_without_a_link(self, api, cells):
        for n in range(3):
            seed_instance(cells[f"cell{n}"])
        response = api("get", "/servers?limit=103")
        assert len(ids(response)) == 3
        assert "servers_links" not in response.json()

    def test_a_full_page_has_a_next_link_with_nova_s_parameters(self, api, cells):
        uuids = [seed_instance(cells["cell1"], created_at=BASE + timedelta(seconds=n)).uuid for n in range(3)]
        response = api("get", "/servers/detail?sort_dir=asc&limit=2&sort_key=created_at")
        assert ids(response) == uuids[:2]
        assert response.json()["servers_links"] == [
            {
                "rel": "next",
                "href": f"{HOST}/v2.1/servers/detail?limit=2&sort_dir=asc&sort_key=created_at&marker={uuids[1]}",
            }
        ]

    def test_the_default_max_limit_caps_a_page(self, api, cells, settings):
        settings.CELLSV2_API_MAX_LIMIT = 2
        for n in range(3):
            seed_instance(cells["cell1"], created_at=BASE + timedelta(seconds=n))
        response = api("get", "/servers?limit=50")
        assert len(ids(response)) == 2
        # As Nova: the link repeats the request's parameters, the page size is capped again.
        assert "limit=50" in response.json()["servers_links"][0]["href"]

    def test_limit_zero_is_an_empty_page(self, api, cells):
        seed_instance(cells["cell1"])
        seed_build_request()
        response = api("get", "/servers?limit=0")
        assert response.json() == {"servers": []}
        assert api("get", "/servers/detail?limit=0").json() == {"servers": []}

    def test_a_deleted_marker_still_works(self, api, cells):
        first = seed_instance(cells["cell1"], created_at=BASE + timedelta(seconds=2))
        second = seed_instance(cells["cell2"], created_at=BASE + timedelta(seconds=1))
        with target_cell(cells["cell1"]):
            Instance.objects.filter(pk=first.pk).update(deleted=first.pk)
        assert ids(api("get", f"/servers?marker={first.uuid}")) == [second.uuid]


# --- scope and filters ----------------------------------------------------------------------------


class TestScopeAndFilters:
    def test_non_admins_see_their_project_only_whatever_they_ask(self, api, cells):
        mine = seed_instance(cells["cell1"], project_id="proj1").uuid
        seed_instance(cells["cell2"], project_id="proj2")
        seed_build_request(project_id="proj2")
        for query in ("", "?project_id=proj2", "?tenant_id=proj2", "?all_tenants=0", "?all_tenants=false"):
            assert ids(api("get", f"/servers{query}")) == [mine], query
            assert ids(api("get", f"/servers/detail{query}")) == [mine], query

    @pytest.mark.parametrize("path,rule", [("/servers", "index"), ("/servers/detail", "detail")])
    @pytest.mark.parametrize("value", ["", "1", "true", "True"])
    def test_non_admin_all_tenants_is_403(self, api, cells, path, rule, value):
        response = api("get", f"{path}?all_tenants={value}")
        assert response.status_code == 403
        assert fault(response) == (
            "forbidden",
            403,
            f"Policy doesn't allow os_compute_api:servers:{rule}:get_all_tenants to be performed.",
        )

    def test_admin_all_tenants_and_project_filter(self, api, cells):
        one = seed_instance(cells["cell1"], project_id="proj1", created_at=BASE).uuid
        two = seed_instance(cells["cell2"], project_id="proj2", created_at=BASE + timedelta(seconds=1)).uuid
        admins = seed_instance(cells["cell2"], project_id="admin", created_at=BASE + timedelta(seconds=2)).uuid
        building = seed_build_request(project_id="proj2").instance_uuid
        assert ids(api("get", "/servers?all_tenants", token=ADMIN)) == [building, admins, two, one]
        assert ids(api("get", "/servers", token=ADMIN)) == [admins]
        assert ids(api("get", "/servers?all_tenants=1&project_id=proj2", token=ADMIN)) == [building, two]
        assert ids(api("get", "/servers?all_tenants=1&tenant_id=proj1", token=ADMIN)) == [one]

    @pytest.mark.parametrize("query", ["project_id=proj1", "tenant_id=proj1", "project_id=proj1&tenant_id=proj1"])
    def test_without_all_tenants_an_admin_s_project_filter_is_ignored(self, api, cells, query):
        """Nova (LP#1185290): without all_tenants the list is the caller's project, admins included."""
        seed_instance(cells["cell1"], project_id="proj1")
        admins = seed_instance(cells["cell2"], project_id="admin").uuid
        assert ids(api("get", f"/servers?{query}", token=ADMIN)) == [admins]

    def test_changes_since_lists_deleted_servers_too(self, api, cells):
        live = seed_instance(cells["cell1"], created_at=BASE, updated_at=BASE).uuid
        gone = seed_instance(
            cells["cell2"], created_at=BASE + timedelta(seconds=1), updated_at=BASE, deleted=True
        ).uuid
        assert ids(api("get", "/servers")) == [live]
        since = "changes-since=2020-01-01T00:00:00Z"
        assert ids(api("get", f"/servers?{since}")) == [gone, live]
        statuses = [s["status"] for s in api("get", f"/servers/detail?{since}").json()["servers"]]
        assert statuses == ["DELETED", "ACTIVE"]
        before = "changes-before=2099-01-01T00:00:00Z"
        assert ids(api("get", f"/servers?{before}", version="2.66")) == [gone, live]

    def test_admin_deleted_filter_lists_only_deleted_servers(self, api, cells):
        live = seed_instance(cells["cell1"], project_id="proj1", created_at=BASE).uuid
        gone = seed_instance(cells["cell2"], project_id="proj1", deleted=True).uuid
        seed_build_request(project_id="proj1")
        assert ids(api("get", "/servers?all_tenants=1&deleted=true", token=ADMIN)) == [gone]
        assert ids(api("get", "/servers?all_tenants=1&deleted=false&sort_key=uuid", token=ADMIN))[-1:] != [gone]
        assert live in ids(api("get", "/servers?all_tenants=1&deleted=false", token=ADMIN))
        # Not an allowed filter for members: ignored.
        assert gone not in ids(api("get", "/servers?deleted=true"))

    def test_filters_allowed_to_members(self, api, cells):
        web = seed_instance(cells["cell1"], display_name="web-1", reservation_id="r-1", created_at=BASE).uuid
        db = seed_instance(
            cells["cell2"], display_name="db-1", vm_state="error", created_at=BASE + timedelta(seconds=1)
        ).uuid
        build = seed_build_request(display_name="web-2").instance_uuid
        assert ids(api("get", "/servers?name=^web")) == [build, web]
        assert ids(api("get", "/servers?status=ERROR")) == [db]
        assert ids(api("get", "/servers?status=active")) == [web]
        assert ids(api("get", "/servers?status=BUILD")) == [build]
        assert ids(api("get", "/servers?reservation_id=r-1")) == [web]
        assert ids(api("get", "/servers?flavor=1")) == [build, db, web]
        assert ids(api("get", "/servers?flavor=999")) == []

    def test_admin_only_filters_are_ignored_for_members(self, api, cells):
        one = seed_instance(cells["cell1"], host="h1", created_at=BASE).uuid
        two = seed_instance(cells["cell2"], host="h2", created_at=BASE + timedelta(seconds=1)).uuid
        assert ids(api("get", "/servers?host=h1")) == [two, one]
        assert ids(api("get", "/servers?host=h1", token=ADMIN)) == []
        assert ids(api("get", "/servers?all_tenants=1&host=h1", token=ADMIN)) == [one]

    def test_deleted_servers_are_hidden(self, api, cells):
        live = seed_instance(cells["cell1"]).uuid
        seed_instance(cells["cell2"], deleted=True)
        assert ids(api("get", "/servers")) == [live]

    @pytest.mark.parametrize("version,status", [("2.37", 200), ("2.38", 400)])
    def test_an_unknown_status(self, api, cells, version, status):
        seed_instance(cells["cell1"])
        response = api("get", "/servers?status=nonexistent", version=version)
        assert response.status_code == status
        if status == 200:
            assert response.json() == {"servers": []}
        else:
            assert fault(response) == ("badRequest", 400, "Invalid status value")

    @pytest.mark.parametrize("field", ["metadata", "system_metadata", "security_groups", "_secret"])
    def test_joined_table_filters_are_400(self, api, cells, field):
        response = api("get", f"/servers?{field}=x", token=ADMIN)
        assert response.status_code == 400
        assert fault(response) == ("badRequest", 400, f"Invalid filter field: {field}.")

    def test_unknown_parameters_are_ignored_before_2_75_and_400_from_it(self, api, cells):
        assert api("get", "/servers?whatever=1", version="2.74").status_code == 200
        response = api("get", "/servers?whatever=1", version="2.75")
        assert response.status_code == 400
        assert "whatever" in fault(response)[2]

    def test_changes_since(self, api, cells):
        seed_instance(cells["cell1"], created_at=BASE)
        assert ids(api("get", "/servers?changes-since=2030-01-01T00:00:00Z")) == []
        assert len(ids(api("get", "/servers?changes-since=2020-01-01T00:00:00Z"))) == 1
        response = api("get", "/servers?changes-since=2011/01/01")
        assert response.status_code == 400

    @pytest.mark.parametrize("path", ["/servers", "/servers/detail"])
    def test_a_moment_without_a_zone_is_utc(self, api, cells, path):
        """changes-since / changes-before without a zone (2024-05-01T11:59:59) are UTC, as in Nova."""
        server = seed_instance(cells["cell1"], created_at=BASE, updated_at=BASE).uuid

        def naive(moment):
            return moment.astimezone(UTC).replace(tzinfo=None).isoformat()

        before, after = naive(BASE - timedelta(seconds=1)), naive(BASE + timedelta(seconds=1))
        assert ids(api("get", f"{path}?changes-since={before}")) == [server]
        assert ids(api("get", f"{path}?changes-since={after}")) == []
        # changes-before is a filter from 2.66.
        assert ids(api("get", f"{path}?changes-before={after}", version=MAX)) == [server]
        assert ids(api("get", f"{path}?changes-before={before}", version=MAX)) == []

    def test_a_server_nothing_has_changed_since_it_was_placed_is_listed_by_its_updated_time(self, api, topology):
        """A placed server's `updated` is its creation time until something changes it;
        changes-before (2.66) and changes-since find it by that time."""
        uuid = api.create_uuid(version=MAX)
        place_all()
        updated = datetime.fromisoformat(api.show(uuid, version=MAX).json()["server"]["updated"])

        def listed(**moments):
            query = urlencode({key.replace("_", "-"): value.isoformat() for key, value in moments.items()})
            return ids(api("get", f"/servers/detail?{query}", version=MAX))

        second = timedelta(seconds=1)
        assert listed(changes_before=updated + second) == [uuid]
        assert listed(changes_before=updated - second) == []
        assert listed(changes_since=updated - second, changes_before=updated + second) == [uuid]
        assert listed(changes_since=updated + second) == []

    @pytest.mark.parametrize(
        "limit,message", [("-1", "limit param must be positive"), ("x", "limit param must be an integer")]
    )
    def test_bad_limits(self, api, cells, limit, message):
        response = api("get", f"/servers?limit={limit}")
        assert fault(response) == ("badRequest", 400, message)


class TestSortParameters:
    def test_sort_by_name_ascending_and_descending(self, api, cells):
        b = seed_instance(cells["cell1"], display_name="b").uuid
        a = seed_instance(cells["cell2"], display_name="a").uuid
        c = seed_instance(cells["cell0"], display_name="c").uuid
        assert ids(api("get", "/servers?sort_key=display_name&sort_dir=asc")) == [a, b, c]
        assert ids(api("get", "/servers?sort_key=display_name&sort_dir=desc")) == [c, b, a]
        assert ids(api("get", "/servers?sort_key=display_name")) == [c, b, a]  # desc by default

    @pytest.mark.parametrize("direction", ["up", "ASC", ""])
    def test_a_bad_sort_dir_is_400(self, api, cells, direction):
        response = api("get", f"/servers?sort_key=display_name&sort_dir={direction}")
        assert response.status_code == 400
        assert fault(response)[2].startswith("Invalid input for query parameters sort_dir.")

    @pytest.mark.parametrize("version", ["2.1", "2.74", "2.75", MAX])
    def test_an_unknown_sort_key_is_400(self, api, cells, version):
        response = api("get", "/servers?sort_key=bogus", version=version)
        assert response.status_code == 400
        assert fault(response)[2].startswith("Invalid input for query parameters sort_key.")

    @pytest.mark.parametrize("key", ["vcpus", "id", "deleted", "memory_mb", "user_data"])
    def test_ignored_sort_keys_are_dropped_before_2_75_and_400_from_it(self, api, cells, key):
        b = seed_instance(cells["cell1"], display_name="b").uuid
        a = seed_instance(cells["cell2"], display_name="a").uuid
        # The ignored key and its direction go; the next key keeps its own direction.
        query = f"sort_key={key}&sort_dir=desc&sort_key=display_name&sort_dir=asc"
        assert ids(api("get", f"/servers?{query}", version="2.74")) == [a, b]
        response = api("get", f"/servers?{query}", version="2.75")
        assert response.status_code == 400
        assert fault(response)[2].startswith("Invalid input for query parameters sort_key.")

    def test_locked_is_a_sort_key_from_2_73(self, api, cells):
        unlocked = seed_instance(cells["cell1"], locked=False, created_at=BASE).uuid
        locked = seed_instance(cells["cell2"], locked=True, created_at=BASE + timedelta(seconds=1)).uuid
        for version in ("2.73", MAX):
            assert ids(api("get", "/servers?sort_key=locked&sort_dir=asc", version=version)) == [unlocked, locked]
            assert ids(api("get", "/servers?sort_key=locked&sort_dir=desc", version=version)) == [locked, unlocked]
        # Before 2.73 it is one of the ignored keys: the default order applies.
        assert ids(api("get", "/servers?sort_key=locked&sort_dir=asc", version="2.72")) == [locked, unlocked]

    @pytest.mark.parametrize("key", ["host", "node"])
    def test_sorting_by_host_or_node_is_for_admins(self, api, cells, key):
        response = api("get", f"/servers?sort_key={key}")
        assert response.status_code == 403
        assert fault(response) == ("forbidden", 403, f"Only administrators can sort servers by {key}")
        assert api("get", f"/servers?sort_key={key}", token=ADMIN).status_code == 200


class TestMarkers:
    @pytest.mark.parametrize("marker", [new_uuid(), "not-a-uuid", "1"])
    def test_an_unknown_marker_is_400(self, api, cells, marker):
        seed_instance(cells["cell1"])
        for path in ("/servers", "/servers/detail"):
            response = api("get", f"{path}?marker={marker}")
            assert response.status_code == 400
            assert fault(response) == ("badRequest", 400, f"marker [{marker}] not found")

    def test_a_marker_of_a_cancelled_build_request_is_400(self, api, cells):
        build = seed_build_request()
        build.delete()
        response = api("get", f"/servers?marker={build.instance_uuid}")
        assert fault(response) == ("badRequest", 400, f"marker [{build.instance_uuid}] not found")


# --- query counts -----------------------------------------------------------------------------------


@contextmanager
def queries_per_database():
    with ExitStack() as stack:
        captured = {alias: stack.enter_context(CaptureQueriesContext(connections[alias])) for alias in ALL_DATABASES}
        counts: dict[str, int] = {}
        yield counts
    counts.update({alias: len(c.captured_queries) for alias, c in captured.items()})


@pytest.mark.usefixtures("worker_mode")
class TestQueryCounts:
    def seed(self, cells, per_cell):
        uuids = []
        for alias in ("cell0", "cell1", "cell2"):
            for n in range(per_cell):
                uuids.append(
                    seed_instance(
                        cells[alias], display_name=f"{alias}-{n}", created_at=BASE + timedelta(seconds=n)
                    ).uuid
                )
        return uuids

    @pytest.mark.parametrize("per_cell", [1, 8])
    def test_the_index_issues_one_query_per_cell(self, api, cells, per_cell, django_assert_max_num_queries):
        self.seed(cells, per_cell)
        seed_build_request()
        api("get", "/servers")  # the cell list is read once per process (cached)
        with queries_per_database() as counts:
            assert len(ids(api("get", "/servers"))) == 3 * per_cell + 1
        assert counts == {"api": 1, "cell0": 1, "cell1": 1, "cell2": 1}
        for alias in ("cell0", "cell1", "cell2"):
            with django_assert_max_num_queries(1, connection=connections[alias]):
                api("get", "/servers?limit=2")

    @pytest.mark.parametrize("per_cell", [1, 8])
    def test_the_detail_list_does_not_grow_with_the_number_of_servers(self, api, cells, per_cell):
        self.seed(cells, per_cell)
        api("get", "/servers")  # the cell list is read once per process (cached)
        with queries_per_database() as counts:
            assert len(ids(api("get", "/servers/detail"))) == 3 * per_cell
        # One page query per cell, then the chosen rows loaded with two queries per cell.
        assert counts["api"] == 1
        assert all(counts[alias] <= 3 for alias in ("cell0", "cell1", "cell2")), counts

    @pytest.mark.parametrize("per_cell", [1, 8])
    def test_the_detail_list_at_the_maximum_microversion_reads_the_specs_in_one_query(self, api, cells, per_cell):
        """2.96+ shows each server's pinned availability zone, from its request spec: the page's
        specs are one API query, whatever the number of servers."""
        self.seed(cells, per_cell)
        api("get", "/servers/detail", version=MAX)  # per-process caches filled
        with queries_per_database() as counts:
            servers = api("get", "/servers/detail", version=MAX).json()["servers"]
        assert len(servers) == 3 * per_cell
        assert all("pinned_availability_zone" in server for server in servers)
        assert counts["api"] == 2, counts  # the build requests, then the specs

    def test_a_cell_without_a_matching_server_costs_one_query(self, api, cells):
        seed_instance(cells["cell1"])
        with queries_per_database() as counts:
            api("get", "/servers/detail")
        assert counts["cell0"] == counts["cell2"] == 1

    @pytest.mark.parametrize("version", ["2.1", "2.70"])
    def test_show_of_a_placed_server_is_a_fixed_small_number_of_queries(self, api, cells, version):
        uuid = seed_instance(cells["cell1"]).uuid
        with queries_per_database() as counts:
            assert api.show(uuid, version=version).status_code == 200
        assert sum(counts.values()) <= 4, counts
        assert counts["cell0"] == counts["cell2"] == 0
        # Another cell does not change it.
        extra = CellMapping.objects.create(
            uuid=new_uuid(),
            name="cell3",
            transport_url="none:///",
            database_connection=cells["cell2"].database_connection,
        )
        cells_cache_clear()
        with queries_per_database() as again:
            assert api.show(uuid, version=version).status_code == 200
        assert again == counts
        extra.delete()

    def test_show_at_the_maximum_microversion_does_not_depend_on_the_number_of_cells(self, api, cells):
        uuid = seed_instance(cells["cell1"]).uuid
        # The first show learns (once per cache period) that no legacy server groups remain.
        assert api.show(uuid, version=MAX).status_code == 200
        with queries_per_database() as counts:
            assert api.show(uuid, version=MAX).status_code == 200
        assert counts["cell0"] == counts["cell2"] == 0, counts

    def test_show_at_the_maximum_microversion_with_spec_and_group_is_at_most_three_queries(self, api, topology):
        """Mapping with request spec and membership in one query, then instance+extra and
        metadata/tags (one round trip on PostgreSQL)."""
        uuid = api.create_uuid(version=MAX)
        place_all()
        assert api.show(uuid, version=MAX).status_code == 200
        with queries_per_database() as counts:
            body = api.show(uuid, version=MAX).json()["server"]
        assert counts["api"] == 1 and sum(counts.values()) <= 3, counts
        assert body["server_groups"] == [] and "pinned_availability_zone" in body

    def test_show_of_a_build_request_is_two_queries(self, api, cells):
        uuid = seed_build_request().instance_uuid
        with queries_per_database() as counts:
            assert api.show(uuid).status_code == 200
        assert counts == {"api": 2, "cell0": 0, "cell1": 0, "cell2": 0}

    def test_placed_servers_through_the_api_list_with_the_same_counts(self, api, topology):
        for _ in range(4):
            api.create_uuid()
        place_all()
        api("get", "/servers")
        with queries_per_database() as counts:
            assert len(ids(api("get", "/servers"))) == 4
        assert counts == {"api": 1, "cell0": 1, "cell1": 1, "cell2": 1}


_SORT_VALUES = {
    "display_name": st.one_of(st.none(), st.sampled_from(["a", "B", "b", "vm-1", "vm-10", ""])),
    "created_at": st.one_of(st.none(), st.sampled_from([BASE, BASE + timedelta(seconds=1), BASE - timedelta(days=1)])),
    "locked": st.one_of(st.none(), st.booleans()),
    "uuid": st.uuids().map(str),
}


@pytest.mark.django_db(databases=[])
@given(
    rows=st.lists(st.fixed_dictionaries(_SORT_VALUES), max_size=40),
    directions=st.lists(st.sampled_from(["asc", "desc"]), min_size=4, max_size=4),
)
@settings(max_examples=200, deadline=None)
def test_a_merged_page_is_sorted_as_the_comparison_orders_it(rows, directions):
    """The merge of the cells' pages sorts with precomputed keys; the order is the comparison's
    (NULLs first ascending, last descending, ties broken by the next key)."""
    order = list(zip(["display_name", "created_at", "locked", "uuid"], directions, strict=True))
    items = [("cell", row) for row in rows]
    listing_selectors.sort_in_order(items, order, lambda item: item[1])
    expected = sorted(rows, key=functools.cmp_to_key(lambda a, b: listing_selectors._compare(a, b, order)))
    assert [row for _, row in items] == expected
