"""Server policy rules, registered by the app's ``ready()``.

Nova's rules for what this app serves, copied from nova/policies/servers.py,
extended_server_attributes.py, server_metadata.py, pause_server.py, suspend_server.py,
lock_server.py, deferred_delete.py, console_output.py, server_tags.py and server_password.py:
the rules the code enforces, with
Nova's names, check strings, descriptions, operations and scopes. Nova's rules for APIs not
served here (resize, shelve, ...) are not registered; an operator's policy file that sets them
still loads.
"""

from oslo_policy import policy

from cellsv2 import policies as base

SERVERS = "os_compute_api:servers:%s"
REQUESTED_DESTINATION = "compute:servers:create:requested_destination"
EXTENDED_SERVER_ATTRIBUTES = "os_compute_api:os-extended-server-attributes"
SERVER_METADATA = "os_compute_api:server-metadata:%s"
PAUSE_SERVER = "os_compute_api:os-pause-server:%s"
SUSPEND_SERVER = "os_compute_api:os-suspend-server:%s"
LOCK_SERVER = "os_compute_api:os-lock-server:%s"
DEFERRED_DELETE = "os_compute_api:os-deferred-delete:%s"
CONSOLE_OUTPUT = "os_compute_api:os-console-output"
SERVER_TAGS = "os_compute_api:os-server-tags:%s"
SERVER_PASSWORD = "os_compute_api:os-server-password:%s"

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


def _action(path_action: str) -> list[dict]:
    return [{"method": "POST", "path": f"/servers/{{server_id}}/action ({path_action})"}]


server_action_policies = [
    policy.DocumentedRuleDefault(
        name=SERVERS % "reboot",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Reboot a server",
        operations=_action("reboot"),
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVERS % "rebuild",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Rebuild a server",
        operations=_action("rebuild"),
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVERS % "rebuild:trusted_certs",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Rebuild a server with trusted image certificate IDs",
        operations=_action("rebuild"),
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVERS % "start",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Start a server",
        operations=_action("os-start"),
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVERS % "stop",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Stop a server",
        operations=_action("os-stop"),
        scope_types=["project"],
    ),
]

pause_server_policies = [
    policy.DocumentedRuleDefault(
        name=PAUSE_SERVER % "pause",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Pause a server",
        operations=_action("pause"),
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=PAUSE_SERVER % "unpause",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Unpause a paused server",
        operations=_action("unpause"),
        scope_types=["project"],
    ),
]

suspend_server_policies = [
    policy.DocumentedRuleDefault(
        name=SUSPEND_SERVER % "resume",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Resume suspended server",
        operations=_action("resume"),
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SUSPEND_SERVER % "suspend",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Suspend server",
        operations=_action("suspend"),
        scope_types=["project"],
    ),
]

lock_server_policies = [
    policy.DocumentedRuleDefault(
        name=LOCK_SERVER % "lock",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Lock a server",
        operations=_action("lock"),
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=LOCK_SERVER % "unlock",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Unlock a server",
        operations=_action("unlock"),
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=LOCK_SERVER % "unlock:unlock_override",
        check_str=base.ADMIN,
        description="""Unlock a server, regardless who locked the server.

This check is performed only after the check
os_compute_api:os-lock-server:unlock passes""",
        operations=_action("unlock"),
        scope_types=["project"],
    ),
]

DEFERRED_DELETE_DEPRECATED_REASON = """
Nova API policies are introducing new default roles with scope_type
capabilities. Old policies are deprecated and silently going to be ignored
in nova 23.0.0 release.
"""
DEFERRED_DELETE_DEPRECATED_POLICY = policy.DeprecatedRule(
    "os_compute_api:os-deferred-delete",
    base.RULE_ADMIN_OR_OWNER,
    deprecated_reason=DEFERRED_DELETE_DEPRECATED_REASON,
    deprecated_since="21.0.0",
)

deferred_delete_policies = [
    policy.DocumentedRuleDefault(
        name=DEFERRED_DELETE % "restore",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Restore a soft deleted server",
        operations=_action("restore"),
        scope_types=["project"],
        deprecated_rule=DEFERRED_DELETE_DEPRECATED_POLICY,
    ),
    policy.DocumentedRuleDefault(
        name=DEFERRED_DELETE % "force",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Force delete a server before deferred cleanup",
        operations=_action("forceDelete"),
        scope_types=["project"],
        deprecated_rule=DEFERRED_DELETE_DEPRECATED_POLICY,
    ),
]

console_output_policies = [
    policy.DocumentedRuleDefault(
        name=CONSOLE_OUTPUT,
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Show console output for a server",
        operations=_action("os-getConsoleOutput"),
        scope_types=["project"],
    ),
]

server_metadata_policies = [
    policy.DocumentedRuleDefault(
        name=SERVER_METADATA % "index",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="List all metadata of a server",
        operations=[{"path": "/servers/{server_id}/metadata", "method": "GET"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVER_METADATA % "show",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show metadata for a server",
        operations=[{"path": "/servers/{server_id}/metadata/{key}", "method": "GET"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVER_METADATA % "create",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Create metadata for a server",
        operations=[{"path": "/servers/{server_id}/metadata", "method": "POST"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVER_METADATA % "update_all",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Replace metadata for a server",
        operations=[{"path": "/servers/{server_id}/metadata", "method": "PUT"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVER_METADATA % "update",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Update metadata from a server",
        operations=[{"path": "/servers/{server_id}/metadata/{key}", "method": "PUT"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=SERVER_METADATA % "delete",
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="Delete metadata from a server",
        operations=[{"path": "/servers/{server_id}/metadata/{key}", "method": "DELETE"}],
        scope_types=["project"],
    ),
]


def _rule(name, check_str, description, path, method):
    return policy.DocumentedRuleDefault(
        name=name,
        check_str=check_str,
        description=description,
        operations=[{"path": path, "method": method}],
        scope_types=["project"],
    )


TAGS_PATH = "/servers/{server_id}/tags"
TAG_PATH = "/servers/{server_id}/tags/{tag}"
server_tags_policies = [
    _rule(SERVER_TAGS % "delete_all", base.PROJECT_MEMBER_OR_ADMIN, "Delete all the server tags", TAGS_PATH, "DELETE"),
    _rule(SERVER_TAGS % "index", base.PROJECT_READER_OR_ADMIN, "List all tags for given server", TAGS_PATH, "GET"),
    _rule(
        SERVER_TAGS % "update_all",
        base.PROJECT_MEMBER_OR_ADMIN,
        "Replace all tags on specified server with the new set of tags.",
        TAGS_PATH,
        "PUT",
    ),
    _rule(
        SERVER_TAGS % "delete",
        base.PROJECT_MEMBER_OR_ADMIN,
        "Delete a single tag from the specified server",
        TAG_PATH,
        "DELETE",
    ),
    _rule(
        SERVER_TAGS % "update",
        base.PROJECT_MEMBER_OR_ADMIN,
        "Add a single tag to the server if server has no specified tag",
        TAG_PATH,
        "PUT",
    ),
    _rule(SERVER_TAGS % "show", base.PROJECT_READER_OR_ADMIN, "Check tag existence on the server.", TAG_PATH, "GET"),
]

PASSWORD_PATH = "/servers/{server_id}/os-server-password"
server_password_policies = [
    _rule(
        SERVER_PASSWORD % "show",
        base.PROJECT_READER_OR_ADMIN,
        "Show the encrypted administrative password of a server",
        PASSWORD_PATH,
        "GET",
    ),
    _rule(
        SERVER_PASSWORD % "clear",
        base.PROJECT_MEMBER_OR_ADMIN,
        "Clear the encrypted administrative password of a server",
        PASSWORD_PATH,
        "DELETE",
    ),
]


def list_rules():
    return [
        *extended_server_attributes_policies,
        *servers_policies,
        *server_action_policies,
        *pause_server_policies,
        *suspend_server_policies,
        *lock_server_policies,
        *server_metadata_policies,
        *deferred_delete_policies,
        *console_output_policies,
        *server_tags_policies,
        *server_password_policies,
    ]
