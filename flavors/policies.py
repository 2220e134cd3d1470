"""Flavor policy rules, registered by the app's ``ready()``.

Nova's rules from nova/policies/flavor_manage.py and flavor_extra_specs.py, with Nova's names,
check strings, descriptions, operations and scopes.
"""

from oslo_policy import policy

from cellsv2 import policies as base

FLAVOR_MANAGE = "os_compute_api:os-flavor-manage:%s"
FLAVOR_EXTRA_SPECS = "os_compute_api:os-flavor-extra-specs:%s"

flavor_extra_specs_policies = [
    policy.DocumentedRuleDefault(
        name=FLAVOR_EXTRA_SPECS % "index",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="List extra specs for a flavor. Starting with "
        "microversion 2.61, extra specs may be returned in responses "
        "for the flavor resource.",
        operations=[
            {"path": "/flavors/{flavor_id}/os-extra_specs/", "method": "GET"},
            # Microversion 2.61 operations for flavors:
            {"path": "/flavors", "method": "POST"},
            {"path": "/flavors/detail", "method": "GET"},
            {"path": "/flavors/{flavor_id}", "method": "GET"},
            {"path": "/flavors/{flavor_id}", "method": "PUT"},
        ],
        scope_types=["project"],
    ),
]

flavor_manage_policies = [
    policy.DocumentedRuleDefault(
        name=FLAVOR_MANAGE % "create",
        check_str=base.ADMIN,
        description="Create a flavor",
        operations=[{"method": "POST", "path": "/flavors"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=FLAVOR_MANAGE % "update",
        check_str=base.ADMIN,
        description="Update a flavor",
        operations=[{"method": "PUT", "path": "/flavors/{flavor_id}"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=FLAVOR_MANAGE % "delete",
        check_str=base.ADMIN,
        description="Delete a flavor",
        operations=[{"method": "DELETE", "path": "/flavors/{flavor_id}"}],
        scope_types=["project"],
    ),
]


def list_rules():
    return [*flavor_extra_specs_policies, *flavor_manage_policies]
