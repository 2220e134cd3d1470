"""Server policy rules, registered by the app's ``ready()``.

Nova's rules for what this app serves, copied from nova/policies/servers.py,
and extended_server_attributes.py: the rules the code
enforces, with Nova's names, check strings, descriptions, operations and scopes. Nova's rules for
APIs not served here (reboot, resize, ...) are not registered; an operator's policy file that
sets them still loads.
"""

from oslo_policy import policy

from cellsv2 import policies as base

SERVERS = "os_compute_api:servers:%s"
REQUESTED_DESTINATION = "compute:servers:create:requested_destination"
EXTENDED_SERVER_ATTRIBUTES = "os_compute_api:os-extended-server-attributes"

# Nova's servers.py passes the deprecation's reason and date to the new rule; oslo.policy wants
# them on the DeprecatedRule (and warns otherwise). It reads them from either place, so the
# behaviour and the sample file are the same.
DEPRECATED_REASON = """
Policies for showing flavor extra specs in server APIs response is
separated as new policy. This policy is deprecated only for that but
not for list extra specs and showing it in flavor API response.
"""

DEPRECATED_POLICY = policy.DeprecatedRule(
    "os_compute_api:os-flavor-extra-specs:index",
    base.RULE_ADMIN_OR_OWNER,
    deprecated_reason=DEPRECATED_REASON,
    deprecated_since="25.0.0",
)

servers_policies = [
    policy.DocumentedRuleDefault(
        name=SERVERS % "index",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="List all servers",
        operations=[{"method": "GET", "path": "/servers"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVERS % "detail",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="List all servers with detailed information",
        operations=[{"method": "GET", "path": "/servers/detail"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVERS % "index:get_all_tenants",
        check_str=base.ADMIN,
        description="List all servers for all projects",
        operations=[{"method": "GET", "path": "/servers"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVERS % "detail:get_all_tenants",
        check_str=base.ADMIN,
        description="List all servers with detailed information for  all projects",
        operations=[{"method": "GET", "path": "/servers/detail"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVERS % "allow_all_filters",
        check_str=base.ADMIN,
        description="Allow all filters when listing servers",
        operations=[{"method": "GET", "path": "/servers"}, {"method": "GET", "path": "/servers/detail"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVERS % "show",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show a server",
        operations=[{"method": "GET", "path": "/servers/{server_id}"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVERS % "show:flavor-extra-specs",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Starting with microversion 2.47, the flavor and its "
        "extra specs used for a server is also returned in the response "
        "when showing server details, updating a server or rebuilding a "
        "server.",
        operations=[
            # Microversion 2.47 operations for servers:
            {"path": "/servers/detail", "method": "GET"},
            {"path": "/servers/{server_id}", "method": "GET"},
            {"path": "/servers/{server_id}", "method": "PUT"},
            {"path": "/servers/{server_id}/action (rebuild)", "method": "POST"},
        ],
        scope_types=["project"],
        deprecated_rule=DEPRECATED_POLICY,
    ),
    # the details in host_status are pretty sensitive, only admins
    # should do that by default.
    policy.DocumentedRuleDefault(
        name=SERVERS % "show:host_status",
        check_str=base.ADMIN,
        description="""
Show a server with additional host status information.

This means host_status will be shown irrespective of status value. If showing
only host_status UNKNOWN is desired, use the
``os_compute_api:servers:show:host_status:unknown-only`` policy rule.

Microvision 2.75 added the ``host_status`` attribute in the
``PUT /servers/{server_id}`` and ``POST /servers/{server_id}/action (rebuild)``
API responses which are also controlled by this policy rule, like the
``GET /servers*`` APIs.
""",
        operations=[
            {"method": "GET", "path": "/servers/{server_id}"},
            {"method": "GET", "path": "/servers/detail"},
            {"method": "PUT", "path": "/servers/{server_id}"},
            {"method": "POST", "path": "/servers/{server_id}/action (rebuild)"},
        ],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVERS % "create",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Create a server",
        operations=[{"method": "POST", "path": "/servers"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVERS % "create:forced_host",
        check_str=base.ADMIN,
        description="""
Create a server on the specified host and/or node.

In this case, the server is forced to launch on the specified
host and/or node by bypassing the scheduler filters unlike the
``compute:servers:create:requested_destination`` rule.
""",
        operations=[{"method": "POST", "path": "/servers"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=REQUESTED_DESTINATION,
        check_str=base.ADMIN,
        description="""
Create a server on the requested compute service host and/or
hypervisor_hostname.

In this case, the requested host and/or hypervisor_hostname is
validated by the scheduler filters unlike the
``os_compute_api:servers:create:forced_host`` rule.
""",
        operations=[{"method": "POST", "path": "/servers"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVERS % "create:attach_volume",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Create a server with the requested volume attached to it",
        operations=[{"method": "POST", "path": "/servers"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVERS % "delete",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Delete a server",
        operations=[{"method": "DELETE", "path": "/servers/{server_id}"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVERS % "update",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Update a server",
        operations=[{"method": "PUT", "path": "/servers/{server_id}"}],
        scope_types=["project"],
    ),
]

extended_server_attributes_policies = [
    policy.DocumentedRuleDefault(
        name=EXTENDED_SERVER_ATTRIBUTES,
        check_str=base.ADMIN,
        description="""Return extended attributes for server.

This rule will control the visibility for a set of servers attributes:

- ``OS-EXT-SRV-ATTR:host``
- ``OS-EXT-SRV-ATTR:instance_name``
- ``OS-EXT-SRV-ATTR:reservation_id`` (since microversion 2.3)
- ``OS-EXT-SRV-ATTR:launch_index`` (since microversion 2.3)
- ``OS-EXT-SRV-ATTR:hostname`` (since microversion 2.3)
- ``OS-EXT-SRV-ATTR:kernel_id`` (since microversion 2.3)
- ``OS-EXT-SRV-ATTR:ramdisk_id`` (since microversion 2.3)
- ``OS-EXT-SRV-ATTR:root_device_name`` (since microversion 2.3)
- ``OS-EXT-SRV-ATTR:user_data`` (since microversion 2.3)

Microvision 2.75 added the above attributes in the ``PUT /servers/{server_id}``
and ``POST /servers/{server_id}/action (rebuild)`` API responses which are
also controlled by this policy rule, like the ``GET /servers*`` APIs.

Microversion 2.90 made the ``OS-EXT-SRV-ATTR:hostname`` attribute available to
all users, so this policy has no effect on that field for microversions 2.90
and greater. Controlling the visibility of this attribute for all microversions
is therefore deprecated and will be removed in a future release.
""",
        operations=[
            {"method": "GET", "path": "/servers/{id}"},
            {"method": "GET", "path": "/servers/detail"},
            {"method": "PUT", "path": "/servers/{server_id}"},
            {"method": "POST", "path": "/servers/{server_id}/action (rebuild)"},
        ],
        scope_types=["project"],
    ),
]


def list_rules():
    return [
        *extended_server_attributes_policies,
        *servers_policies,
    ]
