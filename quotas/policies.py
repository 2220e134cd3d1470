"""Limits and quota policy rules: Nova's (nova/policies/{limits,quota_sets,quota_class_sets}.py),
registered by the app's ``ready()``."""

from oslo_policy import policy

from cellsv2 import policies as base

LIMITS = "os_compute_api:limits"
LIMITS_OTHER_PROJECT = "os_compute_api:limits:other_project"
QUOTA_SETS = "os_compute_api:os-quota-sets:%s"
QUOTA_CLASS_SETS = "os_compute_api:os-quota-class-sets:%s"

rules = [
    policy.DocumentedRuleDefault(
        name=LIMITS,
        check_str=base.RULE_ANY,
        description="Show rate and absolute limits for the current user project",
        operations=[{"method": "GET", "path": "/limits"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=LIMITS_OTHER_PROJECT,
        check_str=base.ADMIN,
        description="Show rate and absolute limits of other project. This policy only checks if the user has "
        "access to the requested project limits. And this check is performed only after the check "
        "os_compute_api:limits passes",
        operations=[{"method": "GET", "path": "/limits"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=QUOTA_SETS % "update",
        check_str=base.ADMIN,
        description="Update the quotas",
        operations=[{"method": "PUT", "path": "/os-quota-sets/{tenant_id}"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=QUOTA_SETS % "defaults",
        check_str=base.RULE_ANY,
        description="List default quotas",
        operations=[{"method": "GET", "path": "/os-quota-sets/{tenant_id}/defaults"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=QUOTA_SETS % "show",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show a quota",
        operations=[{"method": "GET", "path": "/os-quota-sets/{tenant_id}"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=QUOTA_SETS % "delete",
        check_str=base.ADMIN,
        description="Revert quotas to defaults",
        operations=[{"method": "DELETE", "path": "/os-quota-sets/{tenant_id}"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=QUOTA_SETS % "detail",
        check_str=base.PROJECT_READER_OR_ADMIN,
        description="Show the detail of quota",
        operations=[{"method": "GET", "path": "/os-quota-sets/{tenant_id}/detail"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=QUOTA_CLASS_SETS % "show",
        check_str=base.ADMIN,
        description="List quotas for specific quota classes",
        operations=[{"method": "GET", "path": "/os-quota-class-sets/{quota_class}"}],
        scope_types=["project"],
    ),
    policy.DocumentedRuleDefault(
        name=QUOTA_CLASS_SETS % "update",
        check_str=base.ADMIN,
        description="Update quotas for specific quota class",
        operations=[{"method": "PUT", "path": "/os-quota-class-sets/{quota_class}"}],
        scope_types=["project"],
    ),
]


def list_rules():
    return rules
