"""Console policy rules: Nova's (nova/policies/remote_consoles.py, console_auth_tokens.py),
registered by the app's ``ready()``."""

from oslo_policy import policy

from cellsv2 import policies as base

REMOTE_CONSOLES = "os_compute_api:os-remote-consoles"
CONSOLE_AUTH_TOKENS = "os_compute_api:os-console-auth-tokens"


remote_consoles_policies = [
    policy.DocumentedRuleDefault(
        name=REMOTE_CONSOLES,
        check_str=base.PROJECT_MEMBER_OR_ADMIN,
        description="""Generate a URL to access remote server console.

This policy is for ``POST /remote-consoles`` API and below Server actions APIs
are deprecated:

- ``os-getSerialConsole``
- ``os-getSPICEConsole``
- ``os-getVNCConsole``.""",
        operations=[
            {"method": "POST", "path": "/servers/{server_id}/action (os-getSerialConsole)"},
            {"method": "POST", "path": "/servers/{server_id}/action (os-getSPICEConsole)"},
            {"method": "POST", "path": "/servers/{server_id}/action (os-getVNCConsole)"},
            {"method": "POST", "path": "/servers/{server_id}/remote-consoles"},
        ],
        scope_types=["project"],
    ),
]

console_auth_tokens_policies = [
    policy.DocumentedRuleDefault(
        name=CONSOLE_AUTH_TOKENS,
        check_str=base.ADMIN,
        description="Show console connection information for a given console authentication token",
        operations=[{"method": "GET", "path": "/os-console-auth-tokens/{console_token}"}],
        scope_types=["project"],
    )
]


def list_rules():
    return console_auth_tokens_policies + remote_consoles_policies
