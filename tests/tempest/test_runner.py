"""scripts/tempest's own behaviour: the tempest.conf it writes and its one-line failures (no tempest run here)."""

import configparser
import importlib
import subprocess
import sys
from pathlib import Path

from tests.support import free_port
from tests.tempest import config

REPO = Path(__file__).resolve().parents[2]


def settings(**overrides) -> config.TempestSettings:
    values = {
        "auth_url": "http://keystone.example:5000",
        "username": "admin",
        "password": "secret",
        "project_name": "admin",
        "user_domain_name": "Default",
        "project_domain_name": "Default",
        "region": "RegionOne",
        "max_microversion": "2.102",
        "workdir": "/tmp/tempest-work",
        **overrides,
    }
    return config.TempestSettings(**values)


def parsed(text: str) -> configparser.ConfigParser:
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(text)
    return conf


def test_the_conf_describes_a_compute_cloud_behind_keystone_without_other_services():
    conf = parsed(config.tempest_conf(settings()))
    assert conf["identity"]["uri_v3"] == "http://keystone.example:5000/v3"
    assert conf["auth"]["use_dynamic_credentials"] == "true"
    assert conf["auth"]["create_isolated_networks"] == "false"
    assert (conf["auth"]["admin_username"], conf["auth"]["admin_password"]) == ("admin", "secret")
    assert conf["compute"]["max_microversion"] == "2.102"
    assert conf["compute"]["image_ref"] != conf["compute"]["image_ref_alt"]
    assert (conf["compute"]["flavor_ref"], conf["compute"]["flavor_ref_alt"]) == ("1", "2")
    services = conf["service_available"]
    assert (services["nova"], services["glance"], services["cinder"]) == ("true", "false", "false")
    assert conf["validation"]["run_validation"] == "false"
    features = conf["compute-feature-enabled"]
    assert (features["pause"], features["suspend"], features["resize"], features["snapshot"]) == (
        "true",
        "true",
        "false",
        "false",
    )


def test_a_v3_url_is_kept():
    conf = parsed(config.tempest_conf(settings(auth_url="https://id.example/identity/v3/")))
    assert conf["identity"]["uri_v3"] == "https://id.example/identity/v3"


def test_the_flavors_are_made_by_the_migrations_of_every_cellsv2_database():
    migration = importlib.import_module("servers.migrations.0003_default_flavors")
    flavorids = {row[0] for row in migration.DEFAULT_FLAVORS}
    assert {config.FLAVOR_REF, config.FLAVOR_REF_ALT} <= flavorids


def run(*args, env=None):
    return subprocess.run(
        [sys.executable, "-m", "tests.tempest", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=env,
    )


def test_without_a_keystone_url_it_says_so():
    result = run("--password", "x", env={"PATH": "/usr/bin:/bin"})
    assert result.returncode == 2
    assert "the Keystone URL is needed: --auth-url or OS_AUTH_URL" in result.stderr
    assert "Traceback" not in result.stderr


def test_an_unreachable_keystone_is_one_line_and_exit_2(tmp_path):
    port = free_port()
    result = run(
        "--auth-url",
        f"http://127.0.0.1:{port}/v3",
        "--password",
        "x",
        "--workdir",
        str(tmp_path / "work"),
        env={"PATH": "/usr/bin:/bin", "HOME": str(Path.home())},
    )
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("scripts/tempest: cannot authenticate as admin at http://127.0.0.1:")
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
