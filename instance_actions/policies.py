"""Instance action policy rules: Nova's (nova/policies/instance_actions.py), registered by the
app's ``ready()``."""

from oslo_policy import policy

from cellsv2 import policies as base

POLICY_ROOT = "os_compute_api:os-instance-actions:%s"
_SHOW_PATH = "/servers/{server_id}/os-instance-actions/{request_id}"

rules = [
    policy.DocumentedRuleDefault(
        name=POLICY_ROOT % "events:details",
        check_str=base.ADMIN,
        description='Add "details" key in action events for a server. This check is performed only after the '
        "check os_compute_api:os-instance-actions:show passes. Beginning with Microversion 2.84, new field "
        "'details' is exposed via API which can have more details about event failure. That field is controlled "
        "by this policy which is system reader by default. Making the 'details' field visible to the non-admin "
        "user helps to understand the nature of the problem (i.e. if the action can be retried), but in the "
        "other hand it might leak information about the deployment (e.g. the type of the hypervisor).",
        operations=[{"method": "GET", "path": _SHOW_PATH}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=POLICY_ROOT % "events",
        check_str=base.ADMIN,
        description="Add events details in action details for a server. This check is performed only after the "
        "check os_compute_api:os-instance-actions:show passes. Beginning with Microversion 2.51, events details "
        "are always included; traceback information is provided per event if policy enforcement passes. "
        "Beginning with Microversion 2.62, each event includes a hashed host identifier and, if policy "
        "enforcement passes, the name of the host.",
        operations=[{"method": "GET", "path": _SHOW_PATH}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=POLICY_ROOT % "list",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="List actions for a server.",
        operations=[{"method": "GET", "path": "/servers/{server_id}/os-instance-actions"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=POLICY_ROOT % "show",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show action details for a server.",
        operations=[{"method": "GET", "path": _SHOW_PATH}],
        scope_types=["project"],
    ),
]


def list_rules():
    return rules
