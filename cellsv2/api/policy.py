"""Policy: oslo.policy's Enforcer with Nova's rules, overridable by an operator's policy.yaml.

Every rule is an oslo.policy ``RuleDefault`` with Nova's name, check string and scope: cellsv2's
base rules (``cellsv2/policies.py``) and each app's (``<app>/policies.py``), registered here by
the apps' ``AppConfig.ready()`` with ``register_policy_rules()``. One Enforcer per process,
built at first use, enforces them for every authentication mode.

``CELLSV2_POLICY_FILE`` names the operator's policy file (YAML, Nova's format; none by default).
It is read at start and again when its modification time changes (looked at before each
decision; oslo.policy then reloads it as it does for Nova), so an edit takes effect without a
restart. Decisions are remembered until then: oslo.policy takes ~0.1 ms to evaluate one, and a
listing asks per server. A file that is configured but does not exist, or does not parse, when
the process starts is an error (Nova silently uses the defaults for a missing file, which hides
a typo in the path behind rules the operator did not mean). An edit that does not parse keeps
the rules in force before it, and says so in the log; a file deleted while running means the
defaults (oslo.policy's behaviour), with an error in the log.

Nova's defaults as oslo.policy 6 applies them: new defaults only (``enforce_new_defaults``),
and the scope of every rule enforced (oslo.policy 6 has no ``enforce_scope`` switch any more):
a system- or domain-scoped caller is refused project-scoped rules with the same 403.
"""

import logging
import os
import threading
from collections.abc import Iterable

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from oslo_config import cfg
from oslo_policy import opts as policy_opts
from oslo_policy import policy

from cellsv2.api.faults import Forbidden

logger = logging.getLogger("cellsv2.policy")


class PolicyNotAuthorized(Forbidden):
    def __init__(self, rule: str):
        super().__init__(f"Policy doesn't allow {rule} to be performed.")
        self.rule = rule


@policy.register("is_admin")
class IsAdminCheck(policy.Check):
    """Nova's ``is_admin:True`` check (nova/policy.py), used by the deprecated base rules."""

    def __init__(self, kind, match):
        self.expected = match.lower() == "true"
        super().__init__(kind, str(self.expected))

    def __call__(self, target, creds, enforcer, current_rule=None):
        return creds["is_admin"] == self.expected


def policy_file_missing_message(path: str) -> str:
    return f"CELLSV2_POLICY_FILE={path} does not exist"


class _Enforcer(policy.Enforcer):
    """oslo.policy's Enforcer reading exactly CELLSV2_POLICY_FILE (an absolute path) or no file.

    oslo.policy looks a relative name (its default, ``policy.yaml``) up in ~/ and /etc/
    (oslo.config's search path); this one never searches, so no stray /etc/policy.yaml applies.
    """

    # Until the first load succeeds, a file that does not load is an error (the process does not
    # start); after it, an edit that does not load leaves the rules in force and is logged.
    started = False

    def _get_policy_path(self, path):
        if os.path.isabs(path) and os.path.isfile(path):
            return path
        raise cfg.ConfigFilesNotFoundError([path])

    def load_rules(self, force_reload=False):
        try:
            super().load_rules(force_reload)
        except Exception as exc:
            if not self.started:
                raise ImproperlyConfigured(f"CELLSV2_POLICY_FILE={self.policy_path} cannot be loaded: {exc}") from exc
            # oslo.policy has recorded the new modification time and kept the rules it had
            # (the file is parsed before any rule is replaced), so they stay until the next edit.
            logger.error(
                "Policy file %s could not be loaded, the rules in force before it changed stay: %s",
                self.policy_path,
                exc,
            )
        self.started = True


_rules: dict[str, policy.RuleDefault] = {}
_engine: "_Engine | None" = None
# Builds and registrations take it; so does each evaluation, because a reload after the file
# changed replaces the rules in steps that another thread must not see half done.
_lock = threading.Lock()
# Decisions remembered per engine before it starts over (a few hundred callers x rules x targets).
DECISIONS_KEPT = 20000


def register_policy_rules(rules: Iterable[policy.RuleDefault]) -> None:
    """Add an app's rules (call from ``AppConfig.ready()``); a name registered twice is an error."""
    with _lock:
        for rule in rules:
            registered = _rules.get(rule.name)
            if registered is rule:
                continue
            if registered is not None:
                raise ImproperlyConfigured(f"Policy rule {rule.name!r} is already registered")
            _rules[rule.name] = rule
            if _engine is not None:
                _engine.enforcer.register_default(rule)
                _engine.decisions.clear()


def registered_policy_rules() -> list[policy.RuleDefault]:
    """Every registered rule, in registration order (cellsv2's base rules first)."""
    return list(_rules.values())


def _pure(check) -> bool:
    """Whether a check's answer depends only on the rules, the target and the credentials.

    oslo.policy's own checks (role, rule, generic matches, and/or/not) and is_admin do; another
    kind (an http check asking a remote server, a plugin) may not, and turns remembering off.
    """
    if isinstance(check, IsAdminCheck):
        return True
    if type(check).__module__ != "oslo_policy._checks":
        return False
    inner = getattr(check, "rules", None) or ([check.rule] if hasattr(check, "rule") else [])
    return all(_pure(c) for c in inner)


def _mtime(path: str | None) -> int | None:
    try:
        return os.stat(path).st_mtime_ns if path else None
    except OSError:
        return None


class _Engine:
    """The Enforcer and the decisions it gave, valid until the policy file changes.

    oslo.policy evaluates a check in about a hundred microseconds (it inspects each node's
    signature as it goes), so a listing would pay that per server and per rule; a decision is a
    function of the rules, the rule's name, the target and the caller, and is remembered.
    """

    def __init__(self, enforcer: policy.Enforcer, path: str | None, mtime: int | None):
        self.enforcer = enforcer
        self.path = path
        self.mtime = mtime
        self.decisions: dict = {}
        self.remember = all(_pure(check) for check in enforcer.rules.values())

    def refresh(self) -> None:
        """Let oslo.policy reload the file when its modification time changed (under _lock)."""
        mtime = _mtime(self.path)
        if mtime == self.mtime:
            return
        self.enforcer.load_rules()
        self.mtime = mtime
        self.decisions.clear()
        self.remember = all(_pure(check) for check in self.enforcer.rules.values())

    def allows(self, context, rule: str, target: dict) -> bool:
        if self.path is not None and _mtime(self.path) != self.mtime:
            with _lock:
                self.refresh()
        try:
            key = (rule, context, tuple(target.items()))
            decision = self.decisions.get(key)
        except TypeError:  # an unhashable value in the target: evaluate every time
            key = decision = None
        if decision is None:
            with _lock:
                decision = bool(self.enforcer.authorize(rule, target, policy_credentials(context)))
                if key is not None and self.remember:
                    if len(self.decisions) >= DECISIONS_KEPT:
                        self.decisions.clear()
                    self.decisions[key] = decision
        return decision


def policy_file_problem() -> str | None:
    """What is wrong with CELLSV2_POLICY_FILE (missing, unreadable, not YAML rules), or None."""
    path = settings.CELLSV2_POLICY_FILE
    if not path:
        return None
    if not os.path.isfile(path):
        return policy_file_missing_message(path)
    try:
        with open(path) as file:
            rules = policy.parse_file_contents(file.read())
    except (OSError, ValueError) as exc:
        return f"CELLSV2_POLICY_FILE={path} cannot be read as a policy file: {str(exc).strip()}"
    if not isinstance(rules, dict) or not all(isinstance(v, str) for v in rules.values()):
        return f"CELLSV2_POLICY_FILE={path} is not a policy file: it must map rule names to check strings"
    return None


def _build() -> _Engine:
    path = settings.CELLSV2_POLICY_FILE
    problem = policy_file_problem()
    if problem is not None:
        raise ImproperlyConfigured(problem)
    # A private configuration: never sys.argv, no configuration files, no policy.d directories.
    conf = cfg.ConfigOpts()
    conf(args=[], default_config_files=[], default_config_dirs=[])
    policy_opts.set_defaults(conf)
    conf.set_override("enforce_new_defaults", True, group="oslo_policy")
    conf.set_override("policy_dirs", [], group="oslo_policy")
    enforcer = _Enforcer(conf, policy_file=path or None)
    # As Nova: every default changed in the new-defaults work; one warning per rule is noise.
    enforcer.suppress_default_change_warnings = True
    enforcer.register_defaults(_rules.values())
    # Taken before the file is read: an edit while it is read is then seen as a change.
    mtime = _mtime(path)
    enforcer.load_rules()
    return _Engine(enforcer, path, mtime)


def _current() -> _Engine:
    global _engine
    engine = _engine
    if engine is None:
        with _lock:
            if _engine is None:
                _engine = _build()
            engine = _engine
    return engine


def policy_enforcer() -> policy.Enforcer:
    """The process's Enforcer, built at first use (a missing policy file: ImproperlyConfigured)."""
    return _current().enforcer


def policy_reset() -> None:
    """Forget the Enforcer (the next check builds one from the current settings and file)."""
    global _engine
    with _lock:
        _engine = None


def _setting_changed(setting, **kwargs):
    if setting == "CELLSV2_POLICY_FILE":
        policy_reset()


setting_changed.connect(_setting_changed)


def policy_credentials(context) -> dict:
    """What oslo.policy checks a caller by: Nova's to_policy_values() of a ComputeContext."""
    return {
        "user_id": context.user_id,
        "user_domain_id": context.user_domain_id,
        "system_scope": context.system_scope,
        "domain_id": context.domain_id,
        "project_id": context.project_id,
        "project_domain_id": context.project_domain_id,
        "roles": list(context.roles),
        "is_admin_project": context.is_admin_project,
        "service_user_id": context.service_user_id,
        "service_user_domain_id": context.service_user_domain_id,
        "service_project_id": context.service_project_id,
        "service_project_domain_id": context.service_project_domain_id,
        "service_roles": list(context.service_roles),
        "is_admin": context.is_admin,
    }


def policy_allows(context, rule: str, target: dict | None = None) -> bool:
    """True when ``rule`` lets ``context`` act on ``target`` (default: the caller's own project).

    False too when the caller's token has a scope the rule is not for (Nova's scope check). A
    rule nobody registered is a programming error (oslo.policy's PolicyNotRegistered), as in Nova.
    """
    if target is None:
        target = {"project_id": context.project_id, "user_id": context.user_id}
    return _current().allows(context, rule, target)


def policy_authorize(context, rule: str, target: dict | None = None) -> None:
    """Raise PolicyNotAuthorized (403 with Nova's message) unless the rule allows the call."""
    if not policy_allows(context, rule, target):
        raise PolicyNotAuthorized(rule)
