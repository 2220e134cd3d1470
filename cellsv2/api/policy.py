"""Policy: Nova's default rules in one place, overridable with ``CELLSV2_POLICY`` in settings.

Rules use oslo.policy's syntax, of which we support what Nova's defaults use: ``role:X``,
``project_id:%(project_id)s``, ``user_id:%(user_id)s``, ``rule:<name>``, ``@`` (always),
``!`` (never), ``and``, ``or``, ``not`` and parentheses.
"""

from functools import lru_cache

from django.conf import settings

from cellsv2.api.faults import Forbidden

ADMIN = "role:admin"
PROJECT_MEMBER_OR_ADMIN = "rule:project_member_or_admin"
PROJECT_READER_OR_ADMIN = "rule:project_reader_or_admin"

# nova/policies/*.py (nova 34 defaults, new defaults and scope checks on).
DEFAULT_RULES: dict[str, str] = {
    "context_is_admin": "role:admin",
    "admin_api": "role:admin",
    "project_member_or_admin": "(role:member and project_id:%(project_id)s) or role:admin",
    "project_reader_or_admin": "(role:reader and project_id:%(project_id)s) or role:admin",
    "project_manager_or_admin": "(role:manager and project_id:%(project_id)s) or role:admin",
    "service_or_admin": "role:service or role:admin",
    "admin_or_owner": "role:admin or user_id:%(user_id)s",
    # flavors
    "os_compute_api:os-flavor-manage:create": ADMIN,
    "os_compute_api:os-flavor-manage:update": ADMIN,
    "os_compute_api:os-flavor-manage:delete": ADMIN,
    "os_compute_api:os-flavor-extra-specs:index": PROJECT_READER_OR_ADMIN,
    "os_compute_api:servers:show:flavor-extra-specs": PROJECT_READER_OR_ADMIN,
    "compute:servers:create:requested_destination": ADMIN,
    # key pairs: the owner or an admin, whatever the roles
    "os_compute_api:os-keypairs:index": "(role:admin) or user_id:%(user_id)s",
    "os_compute_api:os-keypairs:create": "(role:admin) or user_id:%(user_id)s",
    "os_compute_api:os-keypairs:show": "(role:admin) or user_id:%(user_id)s",
    "os_compute_api:os-keypairs:delete": "(role:admin) or user_id:%(user_id)s",
    # server groups
    "os_compute_api:os-server-groups:create": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-server-groups:delete": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-server-groups:index": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-server-groups:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:os-server-groups:index:all_projects": ADMIN,
    # servers
    "os_compute_api:servers:index": PROJECT_READER_OR_ADMIN,
    "os_compute_api:servers:detail": PROJECT_READER_OR_ADMIN,
    "os_compute_api:servers:show": PROJECT_READER_OR_ADMIN,
    "os_compute_api:servers:index:get_all_tenants": ADMIN,
    "os_compute_api:servers:detail:get_all_tenants": ADMIN,
    "os_compute_api:servers:allow_all_filters": ADMIN,
    "os_compute_api:servers:create": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:create:forced_host": ADMIN,
    "os_compute_api:servers:create:attach_volume": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:update": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:delete": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:servers:show:host_status": ADMIN,
    "os_compute_api:os-extended-server-attributes": ADMIN,
    # consoles
    "os_compute_api:os-remote-consoles": PROJECT_MEMBER_OR_ADMIN,
    "os_compute_api:os-console-auth-tokens": ADMIN,
}


class PolicyNotAuthorized(Forbidden):
    def __init__(self, rule: str):
        super().__init__(f"Policy doesn't allow {rule} to be performed.")
        self.rule = rule


def rules() -> dict[str, str]:
    return {**DEFAULT_RULES, **getattr(settings, "CELLSV2_POLICY", {})}


def _tokens(expression: str) -> list[str]:
    """Split a rule into words and parentheses, leaving ``%(name)s`` substitutions whole."""
    tokens = []
    for word in expression.split():
        while word.startswith("("):
            tokens.append("(")
            word = word[1:]
        closing = 0
        while word.endswith(")") and word.count(")") > word.count("("):
            closing += 1
            word = word[:-1]
        if word:
            tokens.append(word)
        tokens.extend(")" * closing)
    return tokens


@lru_cache(maxsize=512)
def _parse(expression: str):
    """Parse a rule into a nested tuple tree: ('or', a, b), ('and', a, b), ('not', a), ('check', kind, match)."""
    tokens = _tokens(expression)
    position = 0

    def peek():
        return tokens[position] if position < len(tokens) else None

    def take():
        nonlocal position
        position += 1
        return tokens[position - 1]

    def parse_or():
        left = parse_and()
        while peek() == "or":
            take()
            left = ("or", left, parse_and())
        return left

    def parse_and():
        left = parse_not()
        while peek() == "and":
            take()
            left = ("and", left, parse_not())
        return left

    def parse_not():
        if peek() == "not":
            take()
            return ("not", parse_not())
        return parse_atom()

    def parse_atom():
        token = take() if peek() is not None else None
        if token == "(":
            inner = parse_or()
            if take() != ")":
                raise ValueError(f"Unbalanced parentheses in policy rule {expression!r}")
            return inner
        if token in ("@", ""):
            return ("true",)
        if token == "!":
            return ("false",)
        if token is None or ":" not in token:
            raise ValueError(f"Cannot parse policy rule {expression!r} at {token!r}")
        kind, match = token.split(":", 1)
        return ("check", kind, match)

    if not tokens:
        return ("true",)
    tree = parse_or()
    if position != len(tokens):
        raise ValueError(f"Cannot parse policy rule {expression!r}")
    return tree


def _evaluate(tree, context, target: dict, all_rules: dict, depth: int = 0) -> bool:
    if depth > 20:
        raise ValueError("Policy rules refer to each other in a loop")
    op = tree[0]
    if op == "true":
        return True
    if op == "false":
        return False
    if op == "not":
        return not _evaluate(tree[1], context, target, all_rules, depth)
    if op == "and":
        return _evaluate(tree[1], context, target, all_rules, depth) and _evaluate(
            tree[2], context, target, all_rules, depth
        )
    if op == "or":
        return _evaluate(tree[1], context, target, all_rules, depth) or _evaluate(
            tree[2], context, target, all_rules, depth
        )
    _, kind, match = tree
    if kind == "rule":
        return _evaluate(_parse(all_rules.get(match, "!")), context, target, all_rules, depth + 1)
    if kind == "role":
        return match.lower() in context.roles
    try:
        expected = match % target if "%(" in match else match
    except KeyError:
        return False
    if kind == "is_admin":
        return context.is_admin == (expected.lower() == "true")
    return str(getattr(context, kind, None)) == str(expected)


def policy_allows(context, rule: str, target: dict | None = None) -> bool:
    """True when ``rule`` lets ``context`` act on ``target`` (default: the caller's own project)."""
    all_rules = rules()
    target = target if target is not None else {"project_id": context.project_id, "user_id": context.user_id}
    return _evaluate(_parse(all_rules.get(rule, "!")), context, target, all_rules)


def policy_authorize(context, rule: str, target: dict | None = None) -> None:
    """Raise PolicyNotAuthorized (403 with Nova's message) unless the rule allows the call."""
    if not policy_allows(context, rule, target):
        raise PolicyNotAuthorized(rule)
