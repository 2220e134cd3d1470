"""The `openstack` CLI's quota and compute admin commands against cellsv2 behind a real Keystone.

With CELLSV2_AUTH=keystone the CLI resolves project names and ids in Keystone, as it does against
Nova, so `quota show/set` run here the way an operator and a project member run them: the cloud's
admin sets and reads any project's quotas and the default class; a member reads their own
project's and is refused the rest. The compute admin commands (services, hypervisors, zones,
limits, server events) run as the admin. Every assertion is on what the CLI prints (`-f json`).
"""

import json

import pytest

from tests.fixtures.keystone_cloud import call, openstack_cli

pytestmark = pytest.mark.slow

QUOTA_SET_UPDATE = "os_compute_api:os-quota-sets:update"
QUOTA_SET_SHOW = "os_compute_api:os-quota-sets:show"


def cli_json(clouds_yaml, cloud_name, *args):
    return json.loads(openstack_cli(clouds_yaml, cloud_name, *args, "-f", "json").stdout)


def quotas(clouds_yaml, cloud_name, *args):
    """`openstack quota show --compute ...` as {resource: limit} (or the whole row with --usage)."""
    rows = cli_json(clouds_yaml, cloud_name, "quota", "show", "--compute", *args)
    if "--usage" in args:
        return {row["Resource"]: (row["Limit"], row["In Use"]) for row in rows}
    return {row["Resource"]: row["Limit"] for row in rows}


def refused(result, url: str, rule: str):
    assert result.returncode == 1, result.stdout
    assert f"403: Client Error for url: {url}" in result.stderr
    assert f"Policy doesn't allow {rule} to be performed." in result.stderr


@pytest.fixture(scope="module")
def cli(keystone_clouds_yaml):
    return lambda cloud_name, *args: cli_json(keystone_clouds_yaml, cloud_name, *args)


@pytest.fixture(scope="module")
def server(keystone_cloud, keystone_clouds_yaml, glance):
    """A member's server (m1.tiny: 1 vCPU, 512 MB), created and deleted through the CLI."""
    created = cli_json(
        keystone_clouds_yaml, "member", "server", "create", "--flavor", "m1.tiny", "--image", "cirros-tiny",
        "--no-network", "--wait", "quota-vm",
    )  # fmt: skip
    assert created["status"] == "ACTIVE"
    yield created
    openstack_cli(keystone_clouds_yaml, "member", "server", "delete", "--wait", created["id"])


# --- quota show / set ------------------------------------------------------------------------------


def test_the_admin_sets_a_projects_quotas_by_name_and_reads_them_back(keystone_cloud, keystone_clouds_yaml, cli):
    project = keystone_cloud.member.project_name
    defaults = quotas(keystone_clouds_yaml, "admin", project)
    assert (defaults["instances"], defaults["cores"], defaults["ram"], defaults["key-pairs"]) == (10, 20, 51200, 100)
    # The CLI asks for 2.56, where Nova no longer shows nova-network's quotas.
    assert defaults["fixed_ips"] is None and defaults["security_groups"] is None

    done = openstack_cli(
        keystone_clouds_yaml, "admin", "quota", "set", "--cores", "8", "--key-pairs", "3", "--instances", "4", project
    )
    assert done.stdout == ""
    try:
        shown = quotas(keystone_clouds_yaml, "admin", project)
        assert (shown["instances"], shown["cores"], shown["key-pairs"]) == (4, 8, 3)
        assert shown["ram"] == 51200 and shown["server-groups"] == 10  # not set: the default class's
        assert quotas(keystone_clouds_yaml, "admin", keystone_cloud.member.project_id) == shown  # by id too

        listed = cli("admin", "quota", "list", "--compute")
        row = next(r for r in listed if r["Project ID"] == keystone_cloud.member.project_id)
        assert (row["Instances"], row["Cores"], row["Key Pairs"]) == (4, 8, 3)
        assert keystone_cloud.other.project_id not in {r["Project ID"] for r in listed}  # no quotas of its own
    finally:
        openstack_cli(keystone_clouds_yaml, "admin", "quota", "delete", "--compute", project)
    assert quotas(keystone_clouds_yaml, "admin", project) == defaults


def test_usage_counts_the_members_server_in_its_cell(keystone_cloud, keystone_clouds_yaml, server):
    for cloud_name in ("admin", "member"):
        args = ("--usage", keystone_cloud.member.project_id) if cloud_name == "admin" else ("--usage",)
        usage = quotas(keystone_clouds_yaml, cloud_name, *args)
        assert (usage["instances"], usage["cores"], usage["ram"]) == ((10, 1), (20, 1), (51200, 512))
    other = quotas(keystone_clouds_yaml, "admin", "--usage", keystone_cloud.other.project_id)
    assert other["instances"] == (10, 0)


def test_the_admin_sets_the_default_class_every_project_falls_back_to(keystone_cloud, keystone_clouds_yaml):
    yaml_ = keystone_clouds_yaml
    openstack_cli(yaml_, "admin", "quota", "set", "--default", "--instances", "20", "--server-groups", "7")
    try:
        assert quotas(yaml_, "admin", "--default")["instances"] == 20
        assert quotas(yaml_, "member", "--default")["server-groups"] == 7  # defaults: any user
        assert quotas(yaml_, "admin", keystone_cloud.other.project_name)["instances"] == 20
        # --class (deprecated in the CLI) names the class: Nova has only `default`.
        deprecated = openstack_cli(yaml_, "admin", "quota", "set", "--class", "--cores", "30", "default")
        assert "The '--class' option has been deprecated." in deprecated.stderr
        assert quotas(yaml_, "member")["cores"] == 30
    finally:
        openstack_cli(
            yaml_, "admin", "quota", "set", "--default", "--instances", "10", "--server-groups", "10", "--cores", "20"
        )
    assert quotas(yaml_, "member", "--default")["instances"] == 10


def test_a_member_reads_their_projects_quotas_and_is_refused_the_rest(keystone_cloud, keystone_clouds_yaml):
    yaml_, url = keystone_clouds_yaml, keystone_cloud.url
    own, other = keystone_cloud.member.project_id, keystone_cloud.other.project_id
    assert quotas(yaml_, "member")["instances"] == 10  # the token's project
    assert quotas(yaml_, "member", own)["instances"] == 10  # by id: Keystone shows a member their project
    assert quotas(yaml_, "reader")["instances"] == 10

    result = openstack_cli(yaml_, "member", "quota", "show", "--compute", other, check=False)
    assert result.returncode == 1  # Keystone does not show a member another project; nor does the API:
    token = keystone_cloud.member.session().get_token()
    response = call(keystone_cloud, "GET", f"/os-quota-sets/{other}", token)
    assert response.status_code == 403
    assert response.json()["forbidden"]["message"] == f"Policy doesn't allow {QUOTA_SET_SHOW} to be performed."
    refused(
        openstack_cli(yaml_, "member", "quota", "set", "--cores", "9", own, check=False),
        f"{url}/os-quota-sets/{own}",
        QUOTA_SET_UPDATE,
    )
    refused(
        openstack_cli(yaml_, "member", "quota", "set", "--default", "--cores", "9", check=False),
        f"{url}/os-quota-class-sets/default",
        "os_compute_api:os-quota-class-sets:update",
    )
    refused(
        openstack_cli(yaml_, "member", "quota", "delete", "--compute", own, check=False),
        f"{url}/os-quota-sets/{own}",
        "os_compute_api:os-quota-sets:delete",
    )
    assert quotas(yaml_, "admin", own)["cores"] == 20  # nothing was changed


# --- the compute admin commands ----------------------------------------------------------------------


def test_services_hypervisors_and_zones_as_the_admin(cli):
    services = cli("admin", "compute", "service", "list")
    assert [(s["Binary"], s["Host"], s["Zone"], s["Status"], s["State"]) for s in services] == [
        ("nova-compute", "node1", "nova", "enabled", "up")
    ]
    hypervisors = cli("admin", "hypervisor", "list")
    assert [(h["Hypervisor Hostname"], h["Host IP"], h["State"]) for h in hypervisors] == [
        ("node1", "127.0.0.1", "up")
    ]
    shown = cli("admin", "hypervisor", "show", hypervisors[0]["ID"])
    assert shown["service_host"] == "node1"
    zones = cli("admin", "availability", "zone", "list", "--compute")
    assert [(z["Zone Name"], z["Zone Status"]) for z in zones] == [("nova", "available")]
    detailed = cli("admin", "availability", "zone", "list", "--compute", "--long")
    assert {(z["Host Name"], z["Service Name"]) for z in detailed} == {("node1", "nova-compute")}


def test_absolute_limits_as_the_admin_and_for_a_project(keystone_cloud, cli, server):
    own = {row["Name"]: row["Value"] for row in cli("admin", "limits", "show", "--absolute")}
    assert (own["max_total_instances"], own["total_instances_used"]) == (10, 0)  # the admin project's
    project = keystone_cloud.member.project_name
    theirs = {row["Name"]: row["Value"] for row in cli("admin", "limits", "show", "--absolute", "--project", project)}
    assert (theirs["max_total_instances"], theirs["total_instances_used"], theirs["total_ram_used"]) == (10, 1, 512)
    assert (theirs["max_total_cores"], theirs["total_cores_used"]) == (20, 1)


def test_server_events_as_the_member_and_the_admin(keystone_cloud, cli, server):
    for cloud_name in ("member", "admin"):
        events = cli(cloud_name, "server", "event", "list", server["id"])
        assert [e["Action"] for e in events] == ["create"]
        assert events[0]["Server ID"] == server["id"]
        shown = cli(cloud_name, "server", "event", "show", server["id"], events[0]["Request ID"])
        assert shown["action"] == "create"
        assert shown["project_id"] == keystone_cloud.member.project_id
        assert shown["user_id"] == keystone_cloud.member.user_id
