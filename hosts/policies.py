"""Services, hypervisors and availability zone policy rules, registered by the app's ``ready()``.

Nova's rules from nova/policies/services.py, hypervisors.py and availability_zone.py, with Nova's
names, check strings, descriptions, operations, scopes and deprecated rules.
"""

from oslo_policy import policy

from cellsv2 import policies as base

SERVICES = "os_compute_api:os-services:%s"
HYPERVISORS = "os_compute_api:os-hypervisors:%s"
AVAILABILITY_ZONE = "os_compute_api:os-availability-zone:%s"
AGGREGATES = "os_compute_api:os-aggregates:%s"

DEPRECATED_REASON = """
Nova API policies are introducing new default roles with scope_type
capabilities. Old policies are deprecated and silently going to be ignored
in nova 23.0.0 release.
"""

DEPRECATED_SERVICE_POLICY = policy.DeprecatedRule(
    "os_compute_api:os-services",
    base.RULE_ADMIN_API,
    deprecated_reason=DEPRECATED_REASON,
    deprecated_since="21.0.0",
)

DEPRECATED_HYPERVISOR_POLICY = policy.DeprecatedRule(
    "os_compute_api:os-hypervisors",
    base.RULE_ADMIN_API,
    deprecated_reason=DEPRECATED_REASON,
    deprecated_since="21.0.0",
)


def _rule(name, check_str, description, method, path, deprecated=None):
    return policy.DocumentedRuleDefault(
        name=name,
        check_str=check_str,
        description=description,
        operations=[{"method": method, "path": path}],
        scope_types=["project"],
        deprecated_rule=deprecated,
    )


services_policies = [
    _rule(
        SERVICES % "list",
        base.ADMIN,
        "List all running Compute services in a region.",
        "GET",
        "/os-services",
        DEPRECATED_SERVICE_POLICY,
    ),
    _rule(
        SERVICES % "update",
        base.ADMIN,
        "Update a Compute service.",
        "PUT",
        "/os-services/{service_id}",
        DEPRECATED_SERVICE_POLICY,
    ),
    _rule(
        SERVICES % "delete",
        base.ADMIN,
        "Delete a Compute service.",
        "DELETE",
        "/os-services/{service_id}",
        DEPRECATED_SERVICE_POLICY,
    ),
]

hypervisors_policies = [
    _rule(
        HYPERVISORS % "list",
        base.ADMIN,
        "List all hypervisors.",
        "GET",
        "/os-hypervisors",
        DEPRECATED_HYPERVISOR_POLICY,
    ),
    _rule(
        HYPERVISORS % "list-detail",
        base.ADMIN,
        "List all hypervisors with details",
        "GET",
        "/os-hypervisors/details",
        DEPRECATED_HYPERVISOR_POLICY,
    ),
    _rule(
        HYPERVISORS % "statistics",
        base.ADMIN,
        "Show summary statistics for all hypervisors over all compute nodes.",
        "GET",
        "/os-hypervisors/statistics",
        DEPRECATED_HYPERVISOR_POLICY,
    ),
    _rule(
        HYPERVISORS % "show",
        base.ADMIN,
        "Show details for a hypervisor.",
        "GET",
        "/os-hypervisors/{hypervisor_id}",
        DEPRECATED_HYPERVISOR_POLICY,
    ),
    _rule(
        HYPERVISORS % "uptime",
        base.ADMIN,
        "Show the uptime of a hypervisor.",
        "GET",
        "/os-hypervisors/{hypervisor_id}/uptime",
        DEPRECATED_HYPERVISOR_POLICY,
    ),
    _rule(
        HYPERVISORS % "search",
        base.ADMIN,
        "Search hypervisor by hypervisor_hostname pattern.",
        "GET",
        "/os-hypervisors/{hypervisor_hostname_pattern}/search",
        DEPRECATED_HYPERVISOR_POLICY,
    ),
    _rule(
        HYPERVISORS % "servers",
        base.ADMIN,
        "List all servers on hypervisors that can match the provided hypervisor_hostname pattern.",
        "GET",
        "/os-hypervisors/{hypervisor_hostname_pattern}/servers",
        DEPRECATED_HYPERVISOR_POLICY,
    ),
]

availability_zone_policies = [
    _rule(
        AVAILABILITY_ZONE % "list",
        base.RULE_ANY,
        "List availability zone information without host information",
        "GET",
        "/os-availability-zone",
    ),
    _rule(
        AVAILABILITY_ZONE % "detail",
        base.ADMIN,
        "List detailed availability zone information with host information",
        "GET",
        "/os-availability-zone/detail",
    ),
]


aggregates_policies = [
    _rule(AGGREGATES % "index", base.ADMIN, "List all aggregates", "GET", "/os-aggregates"),
]


def list_rules():
    return [*services_policies, *hypervisors_policies, *availability_zone_policies, *aggregates_policies]
