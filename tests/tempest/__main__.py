"""python -m tests.tempest (scripts/tempest): run tempest's compute server tests against a running cellsv2.

cellsv2 must be running behind Keystone (its compute API answering Keystone tokens). The Keystone
URL and the admin's credentials come from the arguments or from the usual OS_* variables; the
compute endpoint is put in Keystone's catalog when it is missing there. Exit code: tempest's
(0 when every test that ran passed), 2 for a bad setup (said in one line).
"""

import argparse
import json
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

from keystoneauth1 import exceptions as ks_exceptions
from keystoneauth1 import session
from keystoneauth1.identity import v3

from tests.cloud_services import venvs
from tests.tempest.config import TempestSettings, identity_v3_url, tempest_conf

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
EXCLUDE_LIST = HERE / "exclude-compute-servers.txt"
DEFAULT_REGEX = r"^tempest\.api\.compute\.servers\."
HTTP_TIMEOUT = 30


class SetupError(Exception):
    """The run cannot start; str() is the one line said to the user."""


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    env = os.environ.get
    parser = argparse.ArgumentParser(
        prog="scripts/tempest",
        description="Run tempest's tempest.api.compute.servers tests against a running cellsv2 behind Keystone.",
    )
    parser.add_argument("--auth-url", default=env("OS_AUTH_URL"), help="Keystone's URL (default: $OS_AUTH_URL)")
    parser.add_argument("--username", default=env("OS_USERNAME", "admin"), help="an admin user ($OS_USERNAME)")
    parser.add_argument("--password", default=env("OS_PASSWORD"), help="its password ($OS_PASSWORD)")
    parser.add_argument("--project-name", default=env("OS_PROJECT_NAME", "admin"), help="($OS_PROJECT_NAME)")
    parser.add_argument("--user-domain-name", default=env("OS_USER_DOMAIN_NAME", "Default"))
    parser.add_argument("--project-domain-name", default=env("OS_PROJECT_DOMAIN_NAME", "Default"))
    parser.add_argument("--region", default=env("OS_REGION_NAME", "RegionOne"))
    parser.add_argument(
        "--compute-url",
        default=env("CELLSV2_COMPUTE_URL", "http://127.0.0.1:8000/v2.1"),
        help="cellsv2's compute API as clients reach it (registered in the catalog when the catalog has none)",
    )
    parser.add_argument(
        "--workdir",
        default=env("CELLSV2_TEMPEST_DIR", str(REPO / "data" / "tempest")),
        help="tempest's workspace: tempest.conf, logs, results (default: data/tempest)",
    )
    parser.add_argument("--regex", default=DEFAULT_REGEX, help=f"the tests to run (default: {DEFAULT_REGEX})")
    parser.add_argument("--concurrency", type=int, default=2, help="parallel test workers (default: 2)")
    parser.add_argument("--config-only", action="store_true", help="write tempest.conf and stop")
    parser.add_argument("--list", action="store_true", help="list the tests that would run, and stop")
    args = parser.parse_args(argv)
    if not args.auth_url:
        parser.error("the Keystone URL is needed: --auth-url or OS_AUTH_URL")
    if not args.password:
        parser.error("the admin's password is needed: --password or OS_PASSWORD")
    return args


def get_json(url: str, headers: dict | None = None) -> dict:
    request = urllib.request.Request(url, headers={"Accept": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
        return json.loads(response.read())


def max_microversion(compute_url: str) -> str:
    """The newest microversion cellsv2 serves, from its version document (no token needed)."""
    root = compute_url.rstrip("/").removesuffix("/v2.1")
    try:
        document = get_json(f"{root}/")
    except (OSError, ValueError) as error:
        raise SetupError(f"cellsv2 does not answer at {root}/ ({error}); is it running?") from None
    for version in document.get("versions", []):
        if version.get("id") == "v2.1" and version.get("version"):
            return version["version"]
    raise SetupError(f"{root}/ does not list a v2.1 version with a microversion")


def admin_session(args: argparse.Namespace) -> session.Session:
    auth = v3.Password(
        auth_url=identity_v3_url(args.auth_url),
        username=args.username,
        password=args.password,
        project_name=args.project_name,
        user_domain_name=args.user_domain_name,
        project_domain_name=args.project_domain_name,
    )
    return session.Session(auth=auth, timeout=HTTP_TIMEOUT)


def catalog_url(sess: session.Session, args: argparse.Namespace, service_type: str) -> str | None:
    try:
        return sess.get_endpoint(service_type=service_type, interface="public", region_name=args.region)
    except ks_exceptions.EndpointNotFound:
        return None
    except ks_exceptions.ClientException as error:
        raise SetupError(f"cannot authenticate as {args.username} at {args.auth_url}: {error}") from None


def register_endpoint(sess: session.Session, args: argparse.Namespace, service_type: str, name: str, url: str):
    identity = identity_v3_url(args.auth_url)
    service = sess.post(
        f"{identity}/services", json={"service": {"type": service_type, "name": name, "enabled": True}}
    ).json()["service"]
    endpoint = {"service_id": service["id"], "interface": "public", "url": url, "region_id": args.region}
    sess.post(f"{identity}/endpoints", json={"endpoint": endpoint})
    sess.invalidate()  # the next catalog read sees it
    print(f"scripts/tempest: registered the {service_type} endpoint {url} in Keystone's catalog")


def ensure_catalog(args: argparse.Namespace) -> str:
    """Keystone's public compute URL, the compute service and endpoint registered when absent.

    A network endpoint is registered too when the catalog has none, at a path of cellsv2 that
    answers 404: tempest (with neutron declared available, see config.py) asks the network
    service for each test project's default security group when it deletes the project, and
    takes a 404 as "none"; without an endpoint that cleanup fails every test class.
    """
    sess = admin_session(args)
    url = catalog_url(sess, args, "compute")
    if url is None:
        register_endpoint(sess, args, "compute", "nova", args.compute_url)
        url = args.compute_url
    elif url.rstrip("/") != args.compute_url.rstrip("/"):
        print(f"scripts/tempest: the catalog's compute endpoint is {url} (not {args.compute_url}); using it")
    if catalog_url(sess, args, "network") is None:
        root = url.rstrip("/").removesuffix("/v2.1")
        register_endpoint(sess, args, "network", "no-network-service", f"{root}/no-network-service")
    return url


def prepare_workspace(venv: Path, workdir: Path, conf_text: str) -> None:
    """tempest.conf, the exclude list and stestr's configuration in ``workdir`` (what ``tempest
    init`` writes, without registering a workspace in ~/.tempest)."""
    package = subprocess.run(
        [venv / "bin" / "python", "-c", "import os, tempest; print(os.path.dirname(tempest.__file__))"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    (workdir / "etc").mkdir(parents=True, exist_ok=True)
    (workdir / ".stestr.conf").write_text(
        f"[DEFAULT]\ntest_path={package}/test_discover\ntop_dir={package}\ngroup_regex=([^\\.]*\\.)*\n"
    )
    (workdir / "etc" / "tempest.conf").write_text(conf_text)
    shutil.copyfile(EXCLUDE_LIST, workdir / "etc" / EXCLUDE_LIST.name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    workdir = Path(args.workdir).resolve()
    try:
        compute_url = ensure_catalog(args)
        venv = venvs.ensure_venv("tempest")
        settings = TempestSettings(
            auth_url=args.auth_url,
            username=args.username,
            password=args.password,
            project_name=args.project_name,
            user_domain_name=args.user_domain_name,
            project_domain_name=args.project_domain_name,
            region=args.region,
            max_microversion=max_microversion(compute_url),
            workdir=str(workdir),
        )
        prepare_workspace(venv, workdir, tempest_conf(settings))
    except (SetupError, venvs.VenvUnavailable, subprocess.CalledProcessError) as error:
        print(f"scripts/tempest: {error}", file=sys.stderr)
        return 2
    print(f"scripts/tempest: tempest.conf in {workdir / 'etc'}, microversions 2.1-{settings.max_microversion}")
    if args.config_only:
        return 0
    command = [
        str(venv / "bin" / "tempest"),
        "run",
        "--regex",
        args.regex,
        "--exclude-list",
        str(workdir / "etc" / EXCLUDE_LIST.name),
    ]
    command += ["--list-tests"] if args.list else ["--concurrency", str(args.concurrency)]
    env = {**os.environ, "TEMPEST_CONFIG_DIR": str(workdir / "etc"), "TEMPEST_CONFIG": "tempest.conf"}
    return subprocess.run(command, cwd=workdir, env=env).returncode


if __name__ == "__main__":
    sys.exit(main())
