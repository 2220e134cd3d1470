"""Policy: Nova's rules through oslo.policy, an operator's policy.yaml, and the sample file.

The endpoints' own tests check each rule where it is enforced (reader, member, admin, another
project); these check the rules themselves, the policy file an operator writes (taken without a
code change or a restart), Nova's scope check, and the commands that print the rules.
"""

import json
import logging
import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest
import yaml
from django.core.exceptions import ImproperlyConfigured
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from oslo_context.context import RequestContext
from oslo_policy import policy as oslo_policy

from cellsv2.api.authentication import ComputeContext, expand_roles
from cellsv2.api.policy import (
    PolicyNotAuthorized,
    policy_allows,
    policy_authorize,
    policy_credentials,
    policy_enforcer,
    register_policy_rules,
    registered_policy_rules,
)
from tests.support import ALL_DATABASES, ROOT, run_command

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("cells")]

READER = ComputeContext("rita", "proj1", expand_roles(["reader"]))
MEMBER = ComputeContext("alice", "proj1", expand_roles(["member"]))
ADMIN = ComputeContext("admin", "admin", expand_roles(["admin"]))  # an admin of another project
OTHER = ComputeContext("bob", "proj2", expand_roles(["member"]))
TARGET = {"project_id": "proj1", "user_id": "alice"}  # alice's resource in proj1

_ = False
T = True
# Each registered rule's default for (reader of proj1, member of proj1, admin, member of proj2) on
# alice's resource in proj1: Nova's personas. A new rule needs its line here.
DEFAULTS = {
    "context_is_admin": (_, _, T, _),
    "admin_or_owner": (T, T, T, _),
    "admin_api": (_, _, T, _),
    "project_manager_api": (_, _, _, _),
    "project_member_api": (_, T, _, _),
    "project_reader_api": (T, T, _, _),
    "service_api": (_, _, _, _),
    "project_manager_or_admin": (_, _, T, _),
    "project_member_or_admin": (_, T, T, _),
    "project_reader_or_admin": (T, T, T, _),
    "service_or_admin": (_, _, T, _),
    "os_compute_api:os-extended-server-attributes": (_, _, T, _),
    "os_compute_api:os-flavor-extra-specs:index": (T, T, T, _),
    "os_compute_api:os-flavor-manage:create": (_, _, T, _),
    "os_compute_api:os-flavor-manage:update": (_, _, T, _),
    "os_compute_api:os-flavor-manage:delete": (_, _, T, _),
    "os_compute_api:servers:index": (T, T, T, _),
    "os_compute_api:servers:detail": (T, T, T, _),
    "os_compute_api:servers:index:get_all_tenants": (_, _, T, _),
    "os_compute_api:servers:detail:get_all_tenants": (_, _, T, _),
    "os_compute_api:servers:allow_all_filters": (_, _, T, _),
    "os_compute_api:servers:show": (T, T, T, _),
    "os_compute_api:servers:show:flavor-extra-specs": (T, T, T, _),
    "os_compute_api:servers:show:host_status": (_, _, T, _),
    "os_compute_api:servers:create": (_, T, T, _),
    "os_compute_api:servers:create:forced_host": (_, _, T, _),
    "compute:servers:create:requested_destination": (_, _, T, _),
    "os_compute_api:servers:create:attach_volume": (_, T, T, _),
    "os_compute_api:servers:delete": (_, T, T, _),
    "os_compute_api:servers:update": (_, T, T, _),
    "os_compute_api:servers:reboot": (_, T, T, _),
    "os_compute_api:servers:rebuild": (_, T, T, _),
    "os_compute_api:servers:rebuild:trusted_certs": (_, T, T, _),
    "os_compute_api:servers:start": (_, T, T, _),
    "os_compute_api:servers:stop": (_, T, T, _),
    "os_compute_api:os-pause-server:pause": (_, T, T, _),
    "os_compute_api:os-pause-server:unpause": (_, T, T, _),
    "os_compute_api:os-suspend-server:resume": (_, T, T, _),
    "os_compute_api:os-suspend-server:suspend": (_, T, T, _),
    "os_compute_api:os-lock-server:lock": (_, T, T, _),
    "os_compute_api:os-lock-server:unlock": (_, T, T, _),
    "os_compute_api:os-lock-server:unlock:unlock_override": (_, _, T, _),
    "os_compute_api:server-metadata:index": (T, T, T, _),
    "os_compute_api:server-metadata:show": (T, T, T, _),
    "os_compute_api:server-metadata:create": (_, T, T, _),
    "os_compute_api:server-metadata:update_all": (_, T, T, _),
    "os_compute_api:server-metadata:update": (_, T, T, _),
    "os_compute_api:server-metadata:delete": (_, T, T, _),
    "os_compute_api:os-deferred-delete:restore": (_, T, T, _),
    "os_compute_api:os-deferred-delete:force": (_, T, T, _),
    "os_compute_api:os-console-output": (_, T, T, _),
    "os_compute_api:os-server-tags:delete_all": (_, T, T, _),
    "os_compute_api:os-server-tags:index": (T, T, T, _),
    "os_compute_api:os-server-tags:update_all": (_, T, T, _),
    "os_compute_api:os-server-tags:delete": (_, T, T, _),
    "os_compute_api:os-server-tags:update": (_, T, T, _),
    "os_compute_api:os-server-tags:show": (T, T, T, _),
    "os_compute_api:os-server-password:show": (T, T, T, _),
    "os_compute_api:os-server-password:clear": (_, T, T, _),
    # Key pairs belong to their user: the owner, whatever the role, or an admin.
    "os_compute_api:os-keypairs:index": (_, T, T, _),
    "os_compute_api:os-keypairs:create": (_, T, T, _),
    "os_compute_api:os-keypairs:delete": (_, T, T, _),
    "os_compute_api:os-keypairs:show": (_, T, T, _),
    "os_compute_api:os-server-groups:create": (_, T, T, _),
    "os_compute_api:os-server-groups:delete": (_, T, T, _),
    "os_compute_api:os-server-groups:index": (T, T, T, _),
    "os_compute_api:os-server-groups:index:all_projects": (_, _, T, _),
    "os_compute_api:os-server-groups:show": (T, T, T, _),
    "os_compute_api:os-console-auth-tokens": (_, _, T, _),
    "os_compute_api:os-remote-consoles": (_, T, T, _),
    "os_compute_api:os-services:list": (_, _, T, _),
    "os_compute_api:os-services:update": (_, _, T, _),
    "os_compute_api:os-services:delete": (_, _, T, _),
    "os_compute_api:os-hypervisors:list": (_, _, T, _),
    "os_compute_api:os-hypervisors:list-detail": (_, _, T, _),
    "os_compute_api:os-hypervisors:statistics": (_, _, T, _),
    "os_compute_api:os-hypervisors:show": (_, _, T, _),
    "os_compute_api:os-hypervisors:uptime": (_, _, T, _),
    "os_compute_api:os-hypervisors:search": (_, _, T, _),
    "os_compute_api:os-hypervisors:servers": (_, _, T, _),
    "os_compute_api:os-availability-zone:list": (T, T, T, T),
    "os_compute_api:os-availability-zone:detail": (_, _, T, _),
    "os_compute_api:os-aggregates:index": (_, _, T, _),
    "os_compute_api:limits": (T, T, T, T),
    "os_compute_api:limits:other_project": (_, _, T, _),
    "os_compute_api:os-quota-sets:show": (T, T, T, _),
    "os_compute_api:os-quota-sets:detail": (T, T, T, _),
    "os_compute_api:os-quota-sets:defaults": (T, T, T, T),
    "os_compute_api:os-quota-sets:update": (_, _, T, _),
    "os_compute_api:os-quota-sets:delete": (_, _, T, _),
    "os_compute_api:os-quota-class-sets:show": (_, _, T, _),
    "os_compute_api:os-quota-class-sets:update": (_, _, T, _),
    "os_compute_api:os-instance-actions:list": (T, T, T, _),
    "os_compute_api:os-instance-actions:show": (T, T, T, _),
    "os_compute_api:os-instance-actions:events": (_, _, T, _),
    "os_compute_api:os-instance-actions:events:details": (_, _, T, _),
}


def api(client, method, path, *, token, body=None):
    kwargs = {"data": json.dumps(body), "content_type": "application/json"} if body is not None else {}
    return getattr(client, method)(f"/v2.1{path}", HTTP_X_AUTH_TOKEN=token, **kwargs)


def create_group(client, token):
    return api(
        client,
        "post",
        "/os-server-groups",
        token=token,
        body={"server_group": {"name": "g", "policies": ["affinity"]}},
    )


@pytest.fixture
def noauth(settings):
    settings.CELLSV2_AUTH = "noauth"


# --- the rules ------------------------------------------------------------------------------------------


def test_every_registered_rule_has_novas_default_for_each_persona():
    names = [rule.name for rule in registered_policy_rules()]
    assert sorted(names) == sorted(DEFAULTS)
    assert names[:11] == list(DEFAULTS)[:11]  # cellsv2's base rules first, as Nova lists them
    for name, expected in DEFAULTS.items():
        got = tuple(policy_allows(ctx, name, TARGET) for ctx in (READER, MEMBER, ADMIN, OTHER))
        assert got == expected, name


def test_every_rule_name_in_the_code_is_registered():
    """A check of a rule nobody registered is a 500 (oslo.policy's PolicyNotRegistered), as in Nova."""
    names = set()
    for app in (path.parent for path in ROOT.glob("*/apps.py")):
        for path in app.rglob("*.py"):
            names |= set(re.findall(r"\"((?:os_compute_api|compute):[a-z_:-]+)\"", path.read_text()))
    names |= {
        "os_compute_api:os-server-groups:" + r for r in ("create", "delete", "index", "index:all_projects", "show")
    }
    assert {"compute:servers:create:requested_destination", "os_compute_api:os-keypairs:index"} <= names
    registered = registered_policy_rules()
    # A deprecated rule's name (an operator's old policy file may use it) is known through its successor.
    deprecated = {rule.deprecated_rule.name for rule in registered if getattr(rule, "deprecated_rule", None)}
    assert names - {rule.name for rule in registered} - deprecated == set()


def test_the_rules_are_novas_rule_defaults_with_project_scope():
    for rule in registered_policy_rules():
        assert isinstance(rule, oslo_policy.RuleDefault)
        if isinstance(rule, oslo_policy.DocumentedRuleDefault):
            assert rule.scope_types == ["project"] and rule.operations and rule.description, rule.name


def test_a_rule_name_registered_twice_is_an_error_and_the_same_rule_again_is_harmless():
    registered = registered_policy_rules()
    register_policy_rules(registered[:3])
    with pytest.raises(ImproperlyConfigured, match="'os_compute_api:servers:index' is already registered"):
        register_policy_rules([oslo_policy.RuleDefault("os_compute_api:servers:index", "@")])
    assert registered_policy_rules() == registered


def test_the_credentials_are_novas_policy_values():
    creds = policy_credentials(MEMBER)
    assert set(creds) == set(RequestContext().to_policy_values()) | {"is_admin"}
    assert sorted(creds["roles"]) == ["member", "reader"]
    assert (creds["user_id"], creds["project_id"], creds["is_admin"], creds["is_admin_project"]) == (
        "alice",
        "proj1",
        False,
        True,
    )
    assert (creds["system_scope"], creds["domain_id"], creds["service_roles"]) == (None, None, [])


def test_a_system_or_domain_scoped_admin_is_refused_project_rules_with_novas_403():
    system_admin = ComputeContext("sys", "", expand_roles(["admin"]), system_scope="all")
    domain_admin = ComputeContext("dom", "", expand_roles(["admin"]), domain_id="default")
    for ctx in (system_admin, domain_admin):
        assert not policy_allows(ctx, "os_compute_api:servers:index")
        with pytest.raises(PolicyNotAuthorized) as refused:
            policy_authorize(ctx, "os_compute_api:os-flavor-manage:create", {})
        assert (refused.value.code, refused.value.message) == (
            403,
            "Policy doesn't allow os_compute_api:os-flavor-manage:create to be performed.",
        )
    # The base rules have no scope (Nova's): they are only ever reached through a scoped rule.
    assert policy_allows(system_admin, "context_is_admin")


def test_an_unregistered_rule_is_an_error_not_a_no():
    with pytest.raises(oslo_policy.PolicyNotRegistered):
        policy_allows(MEMBER, "os_compute_api:servers:resize")


# --- an operator's policy file, through the API ---------------------------------------------------------


@pytest.mark.usefixtures("noauth")
def test_only_admins_create_server_groups_once_the_policy_file_says_so(client, policy_file):
    assert create_group(client, "alice:proj1").status_code == 200

    policy_file({"os_compute_api:os-server-groups:create": "rule:admin_api"})
    refused = create_group(client, "alice:proj1")
    allowed = create_group(client, "admin:admin")

    assert refused.status_code == 403
    assert refused.json() == {
        "forbidden": {
            "code": 403,
            "message": "Policy doesn't allow os_compute_api:os-server-groups:create to be performed.",
        }
    }
    assert allowed.status_code == 200
    # Everything the file does not name keeps Nova's default.
    assert api(client, "get", "/os-server-groups", token="alice:proj1").status_code == 200


@pytest.mark.usefixtures("noauth")
def test_an_edit_of_the_policy_file_is_taken_without_a_restart(client, policy_file):
    policy_file("# nothing overridden yet\n")
    enforcer = policy_enforcer()
    assert create_group(client, "alice:proj1").status_code == 200

    policy_file('"os_compute_api:os-server-groups:create": "rule:admin_api"\n')
    assert create_group(client, "alice:proj1").status_code == 403

    policy_file('"os_compute_api:os-server-groups:create": "role:member and project_id:%(project_id)s"\n')
    assert create_group(client, "alice:proj1").status_code == 200
    assert create_group(client, "bob:proj2").status_code == 200
    assert policy_enforcer() is enforcer  # the same enforcer all along: reloaded, not rebuilt


@pytest.mark.usefixtures("noauth")
def test_an_edit_that_does_not_parse_keeps_the_rules_in_force_and_is_logged(client, policy_file, caplog):
    policy_file({"os_compute_api:os-server-groups:create": "rule:admin_api"})
    assert create_group(client, "alice:proj1").status_code == 403

    with caplog.at_level(logging.ERROR, logger="cellsv2.policy"):
        policy_file('"os_compute_api:os-server-groups:create": "@\n  - [unclosed\n')
        assert create_group(client, "alice:proj1").status_code == 403
        assert create_group(client, "admin:admin").status_code == 200
    assert "could not be loaded, the rules in force before it changed stay" in caplog.text

    policy_file({"os_compute_api:os-server-groups:create": "@"})
    assert create_group(client, "bob:proj2").status_code == 200


NOVA_OPERATOR_POLICY = """\
# policy.yaml of a Nova deployment (written from `oslopolicy-sample-generator --namespace nova`)
"cloud_admin": "role:admin or role:cloud_admin"
"context_is_admin": "rule:cloud_admin"
# deprecated rules Nova still reads
"admin_api": "is_admin:True"
"admin_or_owner": "is_admin:True or project_id:%(project_id)s"
"rule:admin_api": "rule:context_is_admin"
# APIs this deployment does not serve
"os_compute_api:os-hypervisors:list": "rule:context_is_admin"
"os_compute_api:servers:resize": "rule:project_member_or_admin"
"os_compute_api:os-aggregates:index": "rule:cloud_admin"
"compute:servers:resize:cross_cell": "!"
# a deprecated name standing in for its new rule (servers:show:flavor-extra-specs)
"os_compute_api:os-flavor-extra-specs:index": "rule:context_is_admin"
#"os_compute_api:servers:create": "rule:project_member_or_admin"
"os_compute_api:os-server-groups:create": "rule:project_member_or_admin"
"os_compute_api:os-console-auth-tokens": "rule:context_is_admin"
"""


@pytest.mark.usefixtures("noauth")
# Asserted once below; oslo.policy repeats the notice at each evaluation (Python shows it once).
@pytest.mark.filterwarnings("ignore:Policy .* was deprecated for removal:UserWarning")
def test_a_nova_deployments_policy_file_loads_unchanged(client, policy_file):
    policy_file(NOVA_OPERATOR_POLICY)
    cloud_admin = ComputeContext("carol", "ops", expand_roles(["cloud_admin", "member"]))

    # oslo.policy tells the operator about each deprecated name the file uses, as Nova's does.
    with pytest.warns(UserWarning) as notices:
        assert create_group(client, "alice:proj1").status_code == 200
    told = "\n".join(str(notice.message) for notice in notices)
    assert 'Policy "admin_api":"is_admin:True" was deprecated for removal in 21.0.0' in told
    assert 'Policy "os_compute_api:os-flavor-extra-specs:index":"rule:admin_or_owner" was deprecated in 25.0.0' in told
    assert api(client, "get", "/os-server-groups", token="alice:proj1").status_code == 200
    # The operator's own alias is in force where the base rules use it.
    assert policy_allows(cloud_admin, "os_compute_api:os-flavor-manage:create", {})
    assert not policy_allows(MEMBER, "os_compute_api:os-flavor-manage:create", {})
    # Nova's deprecated name sets the new rule it was renamed to, as in Nova.
    assert not policy_allows(MEMBER, "os_compute_api:servers:show:flavor-extra-specs", TARGET)
    assert policy_allows(ADMIN, "os_compute_api:servers:show:flavor-extra-specs", TARGET)

    listed = run_command("policy", "list")
    assert listed.code == 0
    rows = {
        line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:4]] for line in listed.out.splitlines()[3:-1]
    }
    assert rows["context_is_admin"] == ["rule:cloud_admin", "policy file"]
    assert rows["os_compute_api:os-flavor-manage:create"] == ["rule:context_is_admin", "default"]
    assert rows["os_compute_api:servers:show:flavor-extra-specs"] == [
        "rule:context_is_admin",
        "policy file, as os_compute_api:os-flavor-extra-specs:index",
    ]
    # Nova's sample suggests "old name": "new name" lines; this one stands in for every rule that
    # was once admin_api (oslo.policy's rule, so Nova's too).
    assert rows["service_api"] == ["rule:context_is_admin", "policy file, as rule:admin_api"]
    assert rows["os_compute_api:servers:resize"] == ["rule:project_member_or_admin", "policy file (no such rule here)"]


def test_concurrent_checks_see_no_half_reloaded_rules(policy_file):
    """Reloads replace the rules in steps: checks in other threads must never see a rule missing."""
    policy_file({"os_compute_api:os-server-groups:create": "rule:admin_api"})
    answers, stop = [], threading.Event()

    def check(worker):
        count = 0
        while not stop.is_set():
            count += 1  # a new target each time: evaluated, not remembered
            answers.append(
                policy_allows(MEMBER, "os_compute_api:servers:index", {"project_id": "proj1", "n": (worker, count)})
            )

    threads = [threading.Thread(target=check, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    try:
        for n in range(60):
            policy_file({"os_compute_api:os-server-groups:create": "rule:admin_api", "unused": f"role:r{n}"})
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    assert answers and all(answers)


# --- a missing or broken policy file --------------------------------------------------------------------


def test_a_policy_file_that_does_not_exist_is_a_system_check_error(settings, tmp_path):
    missing = tmp_path / "nova" / "policy.yaml"
    settings.CELLSV2_POLICY_FILE = str(missing)

    with pytest.raises(SystemCheckError, match=f"cellsv2.E004.*CELLSV2_POLICY_FILE={missing} does not exist"):
        call_command("check")
    with pytest.raises(ImproperlyConfigured, match="does not exist"):
        policy_enforcer()
    listed = run_command("policy", "list")
    assert (listed.code, listed.err.strip()) == (1, f"CELLSV2_POLICY_FILE={missing} does not exist")


def test_a_policy_file_that_does_not_parse_is_a_system_check_error(settings, tmp_path):
    broken = tmp_path / "policy.yaml"
    broken.write_text('"os_compute_api:servers:index": [unclosed\n')
    settings.CELLSV2_POLICY_FILE = str(broken)

    with pytest.raises(SystemCheckError, match="cellsv2.E004.*cannot be read as a policy file"):
        call_command("check")
    broken.write_text("- a list\n- of rules\n")
    with pytest.raises(SystemCheckError, match="cellsv2.E004.*must map rule names to check strings"):
        call_command("check")


# --- the sample file ------------------------------------------------------------------------------------


def test_the_sample_comments_out_every_rule_and_parses_as_yaml():
    sample = run_command("policy", "sample")

    assert sample.code == 0
    assert yaml.safe_load(sample.out) is None  # everything commented out: the defaults
    for rule in registered_policy_rules():
        assert f'#"{rule.name}": "{rule.check_str}"\n' in sample.out
    # Uncommented, it is a policy file that sets every rule to its default.
    uncommented = "".join(line[1:] + "\n" for line in sample.out.splitlines() if line.startswith('#"'))
    assert yaml.safe_load(uncommented) == {rule.name: rule.check_str for rule in registered_policy_rules()}


def test_the_sample_is_what_oslopolicy_sample_generator_prints(tmp_path):
    """The real generator, given our rules through an entry point as Nova's are given to it."""
    dist = tmp_path / "cellsv2_policy_rules-0.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: cellsv2-policy-rules\nVersion: 0\n")
    (dist / "entry_points.txt").write_text("[oslo.policy.policies]\ncellsv2 = cellsv2_policy_rules:list_rules\n")
    (tmp_path / "cellsv2_policy_rules.py").write_text(
        "import django\n\n\n"
        "def list_rules():\n"
        "    django.setup()\n"
        "    from cellsv2.api.policy import registered_policy_rules\n\n"
        "    return registered_policy_rules()\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CELLSV2_POLICY")}
    env.update(
        PYTHONPATH=f"{tmp_path}{os.pathsep}{ROOT}",
        DJANGO_SETTINGS_MODULE="cellsv2.settings_test",
        XDG_CACHE_HOME=str(tmp_path / "cache"),  # stevedore's entry point cache
    )
    generator = Path(sys.executable).parent / "oslopolicy-sample-generator"
    for extra in ([], ["--exclude-deprecated"]):
        done = subprocess.run(
            [str(generator), "--namespace", "cellsv2", *extra],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 0, done.stderr
        ours = run_command("policy", "sample", *extra)
        assert ours.out == done.stdout
    assert "DEPRECATED" in run_command("policy", "sample").out
    assert "DEPRECATED" not in ours.out


def test_the_sample_goes_to_a_file_and_says_so(tmp_path):
    target = tmp_path / "policy.yaml"

    written = run_command("policy", "sample", "--output-file", str(target))
    refused = run_command("policy", "sample", "--output-file", str(tmp_path / "no" / "such" / "dir.yaml"))

    assert (written.code, written.out) == (0, f"Wrote the defaults of {len(DEFAULTS)} rules to {target}\n")
    assert target.read_text() == run_command("policy", "sample").out
    assert refused.code == 1 and "Cannot write" in refused.err and "No such file or directory" in refused.err


def test_the_sample_as_written_is_a_policy_file_that_changes_nothing(client, settings, tmp_path, noauth):
    target = tmp_path / "policy.yaml"
    run_command("policy", "sample", "--output-file", str(target))
    settings.CELLSV2_POLICY_FILE = str(target)

    assert call_command("check") is None
    assert create_group(client, "alice:proj1").status_code == 200
    assert create_group(client, "rita:proj1").status_code == 200  # noauth: everybody but admin is a member
    listed = run_command("policy", "list")
    assert "policy file" not in listed.out
