"""Key pair policy rules: Nova's (nova/policies/keypairs.py), registered by the app's ``ready()``.

The owner or an admin, whatever the roles: key pairs are the user's, not the project's.
"""

from oslo_policy import policy

from cellsv2 import policies as base

POLICY_ROOT = "os_compute_api:os-keypairs:%s"


keypairs_policies = [
    policy.DocumentedRuleDefault(
        name=POLICY_ROOT % "index",
        check_str="(" + base.ADMIN + ") or user_id:%(user_id)s",
        description="List all keypairs",
        operations=[{"path": "/os-keypairs", "method": "GET"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=POLICY_ROOT % "create",
        check_str="(" + base.ADMIN + ") or user_id:%(user_id)s",
        description="Create a keypair",
        operations=[{"path": "/os-keypairs", "method": "POST"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=POLICY_ROOT % "delete",
        check_str="(" + base.ADMIN + ") or user_id:%(user_id)s",
        description="Delete a keypair",
        operations=[{"path": "/os-keypairs/{keypair_name}", "method": "DELETE"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=POLICY_ROOT % "show",
        check_str="(" + base.ADMIN + ") or user_id:%(user_id)s",
        description="Show details of a keypair",
        operations=[{"path": "/os-keypairs/{keypair_name}", "method": "GET"}],
        scope_types=["project"],
    ),
]


def list_rules():
    return keypairs_policies
