"""A real Keystone (from its own venv) on 127.0.0.1, plus the helpers tests use to shape its identity data.

Keystone keeps everything in one work directory: keystone.conf, a SQLite database, the fernet and credential key
repositories and its logs. The helpers talk to it over HTTP with openstacksdk/keystoneauth from cellsv2's venv,
as a system-scoped admin (the user `keystone-manage bootstrap` made).
"""

import contextlib
import grp
import os
import pwd
import secrets
import textwrap
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import openstack
import openstack.config
import yaml
from keystoneauth1 import session as ks_session
from keystoneauth1.identity import v3

from .processes import GunicornServer, run_commands, service_environment

DOMAIN_ID = "default"
DOMAIN_NAME = "Default"
REGION = "RegionOne"
SERVICE_PROJECT = "service"
HTTP_TIMEOUT = 30  # seconds for one helper request


@dataclass(frozen=True)
class CloudUser:
    """A Keystone user with its password and the project its tokens are scoped to (None: unscoped)."""

    auth_url: str
    username: str
    password: str
    user_id: str
    project_name: str | None = None
    project_id: str | None = None
    roles: tuple[str, ...] = ()

    def auth(self) -> dict:
        """The `auth` section of a clouds.yaml entry (password auth, v3, Default domain)."""
        auth = {
            "auth_url": self.auth_url,
            "username": self.username,
            "password": self.password,
            "user_domain_name": DOMAIN_NAME,
        }
        if self.project_name:
            auth.update(project_name=self.project_name, project_domain_name=DOMAIN_NAME)
        return auth

    def cloud_config(self) -> dict:
        """A whole clouds.yaml entry for this user."""
        return {
            "auth_type": "password",
            "auth": self.auth(),
            "region_name": REGION,
            "interface": "public",
            "identity_api_version": 3,
        }

    def session(self) -> ks_session.Session:
        """A keystoneauth session authenticating as this user (a token is fetched on first use)."""
        return ks_session.Session(auth=v3.Password(**self.auth()), timeout=HTTP_TIMEOUT)

    def connect(self, **overrides) -> openstack.connection.Connection:
        """An openstacksdk connection as this user (built from the same config a clouds.yaml would hold)."""
        return connect(self.cloud_config(), **overrides)


@dataclass(frozen=True)
class ApplicationCredential:
    """An application credential (id + secret) and its owner."""

    auth_url: str
    id: str
    name: str
    secret: str
    user: CloudUser
    roles: tuple[str, ...] = field(default=())

    def cloud_config(self) -> dict:
        return {
            "auth_type": "v3applicationcredential",
            "auth": {
                "auth_url": self.auth_url,
                "application_credential_id": self.id,
                "application_credential_secret": self.secret,
            },
            "region_name": REGION,
            "interface": "public",
            "identity_api_version": 3,
        }

    def session(self) -> ks_session.Session:
        auth = v3.ApplicationCredential(
            auth_url=self.auth_url, application_credential_id=self.id, application_credential_secret=self.secret
        )
        return ks_session.Session(auth=auth, timeout=HTTP_TIMEOUT)

    def connect(self, **overrides) -> openstack.connection.Connection:
        return connect(self.cloud_config(), **overrides)


def connect(cloud_config: dict, **overrides) -> openstack.connection.Connection:
    """An openstacksdk connection from one clouds.yaml entry (no clouds.yaml on disk or in the environment read)."""
    config = openstack.config.OpenStackConfig(load_yaml_config=False, load_envvars=False)
    region = config.get_one(**{**cloud_config, **overrides})
    return openstack.connection.Connection(config=region)


def write_clouds_yaml(path: Path, clouds: dict[str, CloudUser | ApplicationCredential]) -> Path:
    """Write a clouds.yaml naming each credential (for `openstack --os-cloud NAME` or OS_CLIENT_CONFIG_FILE)."""
    document = {"clouds": {name: credential.cloud_config() for name, credential in clouds.items()}}
    path.write_text(yaml.safe_dump(document, sort_keys=False))
    return path


class Keystone:
    """One Keystone: configured, bootstrapped and served by gunicorn from its venv.

    `setup()` prepares the work directory and database, `start()` serves it, `stop()` makes its port refuse
    connections, and a later `start()` serves the same database and keys on the same port again (tokens issued
    before the stop stay valid).
    """

    def __init__(self, workdir: Path, venv: Path, *, token_expiration: int = 3600, debug: bool = False):
        self.workdir = workdir
        self.venv = venv
        self.token_expiration = token_expiration
        self.debug = debug
        self.admin_password = secrets.token_urlsafe(16)
        self.server = GunicornServer(
            "keystone",
            venv=venv,
            app="keystone_wsgi:application",
            env={"OS_KEYSTONE_CONFIG_DIR": str(workdir)},
            workdir=workdir,
            ready_path="/v3",
        )
        self._admin_connection: openstack.connection.Connection | None = None
        self._admin_user: CloudUser | None = None

    # --- lifecycle -------------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The service root, e.g. http://127.0.0.1:41234 (Keystone's catalog entry is this plus /v3)."""
        return self.server.url

    @property
    def auth_url(self) -> str:
        return f"{self.url}/v3"

    @property
    def config_file(self) -> Path:
        return self.workdir / "keystone.conf"

    @property
    def log_file(self) -> Path:
        return self.workdir / "keystone.log"

    def setup(self) -> None:
        """Write keystone.conf, create the database and keys, and bootstrap the admin and the catalog."""
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.server.reserve_port()  # bootstrap writes the public endpoint, so the URL is fixed first
        self.config_file.write_text(self.render_config())
        manage = [str(self.venv / "bin" / "keystone-manage"), "--config-file", str(self.config_file)]
        env = service_environment(self.venv, self.workdir)
        setup_log = self.workdir / "keystone-manage.log"
        # Independent of each other: the schema and the two key repositories.
        run_commands(
            [
                [*manage, "db_sync"],
                [*manage, "fernet_setup", *self._key_owner()],
                [*manage, "credential_setup", *self._key_owner()],
            ],
            env=env,
            cwd=self.workdir,
            log_path=setup_log,
            related_logs=[self.log_file],
        )
        # bootstrap needs the fernet keys; it makes the admin user/project, the roles admin > manager > member >
        # reader and service, system admin for the admin user, RegionOne and the identity endpoint.
        run_commands(
            [
                [
                    *manage,
                    "bootstrap",
                    "--bootstrap-username",
                    "admin",
                    "--bootstrap-project-name",
                    "admin",
                    "--bootstrap-role-name",
                    "admin",
                    "--bootstrap-service-name",
                    "keystone",
                    "--bootstrap-region-id",
                    REGION,
                    "--bootstrap-public-url",
                    self.auth_url,
                ]
            ],
            env={**env, "OS_BOOTSTRAP_PASSWORD": self.admin_password},  # kept out of the logged command line
            cwd=self.workdir,
            log_path=setup_log,
            related_logs=[self.log_file],
        )

    def start(self) -> None:
        self._admin_connection = None
        self.server.start()

    def stop(self) -> None:
        """Stop serving: new connections to the port are refused until `start()`."""
        self._admin_connection = None
        self.server.stop()

    @property
    def running(self) -> bool:
        return self.server.running

    @contextlib.contextmanager
    def stopped(self) -> Iterator[None]:
        """Keystone down for the block (its port refuses connections), serving again afterwards, even on error."""
        self.stop()
        try:
            yield
        finally:
            self.start()

    def _key_owner(self) -> list[str]:
        # Required by keystone-manage, which chowns the key repositories to them: the user running the tests.
        return [
            "--keystone-user",
            pwd.getpwuid(os.getuid()).pw_name,
            "--keystone-group",
            grp.getgrgid(os.getgid()).gr_name,
        ]

    def render_config(self) -> str:
        """The keystone.conf `setup()` writes."""
        w = self.workdir
        return textwrap.dedent(
            f"""\
            # Written by tests/cloud_services for one test session; everything lives in {w}.
            [DEFAULT]
            debug = {str(self.debug).lower()}
            log_file = {w / "keystone.log"}
            use_stderr = false

            [database]
            connection = sqlite:///{w / "keystone.db"}
            # a throwaway database: no fsync per commit (setup is twice as fast on a plain disk)
            sqlite_synchronous = false

            [token]
            provider = fernet
            expiration = {self.token_expiration}

            [fernet_tokens]
            key_repository = {w / "fernet-keys"}

            [fernet_receipts]
            key_repository = {w / "fernet-keys"}

            [credential]
            key_repository = {w / "credential-keys"}

            [cache]
            enabled = false

            [identity]
            # bcrypt's cheapest cost: test passwords only, and every password auth pays it
            password_hash_rounds = 4
            # bcrypt's own limit; the default (4096) makes Keystone log a truncation warning at every hash
            max_password_length = 72
            """
        )

    # --- admin helpers ---------------------------------------------------------------------------------------

    @property
    def admin(self) -> CloudUser:
        """The bootstrap admin, scoped to the `admin` project (role admin, implying manager, member, reader)."""
        if self._admin_user is None:
            identity = self.admin_connection().identity
            self._admin_user = CloudUser(
                auth_url=self.auth_url,
                username="admin",
                password=self.admin_password,
                user_id=identity.find_user("admin", domain_id=DOMAIN_ID, ignore_missing=False).id,
                project_name="admin",
                project_id=identity.find_project("admin", domain_id=DOMAIN_ID, ignore_missing=False).id,
                roles=("admin",),
            )
        return self._admin_user

    def admin_connection(self) -> openstack.connection.Connection:
        """A system-scoped admin connection (Keystone's policies want system scope for identity admin work)."""
        if self._admin_connection is None:
            self._admin_connection = connect(
                {
                    "auth_type": "password",
                    "auth": {
                        "auth_url": self.auth_url,
                        "username": "admin",
                        "password": self.admin_password,
                        "user_domain_id": DOMAIN_ID,
                        "system_scope": "all",
                    },
                    "region_name": REGION,
                    "interface": "public",
                    "identity_api_version": 3,
                }
            )
        return self._admin_connection

    def create_project(self, name: str, *, description: str = "") -> str:
        """Create a project in the Default domain; return its id."""
        project = self.admin_connection().identity.create_project(
            name=name, domain_id=DOMAIN_ID, description=description or f"test project {name}"
        )
        return project.id

    def ensure_project(self, name: str) -> str:
        """The id of project `name`, created if missing."""
        project = self.admin_connection().identity.find_project(name, domain_id=DOMAIN_ID)
        return project.id if project is not None else self.create_project(name)

    def ensure_role(self, name: str) -> str:
        """The id of role `name`, created if missing."""
        identity = self.admin_connection().identity
        role = identity.find_role(name)
        return role.id if role is not None else identity.create_role(name=name).id

    def grant_role(self, user_id: str, project_id: str, role: str) -> None:
        """Give `role` on a project to a user (an existing role; bootstrap made admin, manager, member, reader)."""
        identity = self.admin_connection().identity
        identity.assign_project_role_to_user(project_id, user_id, identity.find_role(role, ignore_missing=False))

    def create_user(
        self,
        name: str,
        *,
        password: str | None = None,
        project: str | None = None,
        roles: tuple[str, ...] | list[str] = ("member",),
    ) -> CloudUser:
        """Create a user (password random if not given), granted `roles` on `project` (created if missing)."""
        password = password or secrets.token_urlsafe(16)
        identity = self.admin_connection().identity
        user = identity.create_user(name=name, password=password, domain_id=DOMAIN_ID)
        project_id = None
        if project is not None:
            project_id = self.ensure_project(project)
            for role in roles:
                self.grant_role(user.id, project_id, role)
        return CloudUser(
            auth_url=self.auth_url,
            username=name,
            password=password,
            user_id=user.id,
            project_name=project,
            project_id=project_id,
            roles=tuple(roles) if project is not None else (),
        )

    def create_service_user(
        self, name: str, *, password: str | None = None, roles: tuple[str, ...] = ("service", "admin")
    ) -> CloudUser:
        """A service's own user in the `service` project with `service` and `admin`, as Nova's and Glance's have."""
        self.ensure_project(SERVICE_PROJECT)
        for role in roles:
            self.ensure_role(role)
        return self.create_user(name, password=password, project=SERVICE_PROJECT, roles=roles)

    def create_application_credential(
        self, user: CloudUser, name: str, *, roles: tuple[str, ...] | None = None, unrestricted: bool = False
    ) -> ApplicationCredential:
        """Create an application credential owned by `user` (Keystone lets only the owner create one).

        `roles` limits it to some of the user's roles on its project (default: all of them).
        """
        connection = user.connect()
        body = {"name": name, "unrestricted": unrestricted}
        if roles is not None:
            body["roles"] = [{"name": role} for role in roles]
        credential = connection.identity.create_application_credential(user=user.user_id, **body)
        return ApplicationCredential(
            auth_url=self.auth_url,
            id=credential.id,
            name=name,
            secret=credential.secret,
            user=user,
            roles=tuple(role["name"] for role in credential.roles or ()),
        )

    def register_service(
        self,
        service_type: str,
        name: str,
        url: str,
        *,
        interfaces: tuple[str, ...] = ("public",),
        region: str = REGION,
    ) -> str:
        """Put a service in the catalog with an endpoint at `url` per interface; return the service id.

        A service of this type already registered gets the endpoints added (or pointed at `url`).
        """
        identity = self.admin_connection().identity
        service = next(iter(identity.services(type=service_type)), None)
        if service is None:
            service = identity.create_service(type=service_type, name=name, enabled=True)
        existing = {endpoint.interface: endpoint for endpoint in identity.endpoints(service_id=service.id)}
        for interface in interfaces:
            if interface in existing:
                identity.update_endpoint(existing[interface], url=url, region_id=region)
            else:
                identity.create_endpoint(service_id=service.id, interface=interface, url=url, region_id=region)
        return service.id

    def unregister_service(self, service_type: str) -> None:
        """Remove every service of this type and its endpoints from the catalog."""
        identity = self.admin_connection().identity
        for service in list(identity.services(type=service_type)):
            for endpoint in list(identity.endpoints(service_id=service.id)):
                identity.delete_endpoint(endpoint)
            identity.delete_service(service)

    def catalog_url(self, service_type: str, interface: str = "public") -> str | None:
        """The URL the catalog gives for a service type (None when it has no such endpoint)."""
        identity = self.admin_connection().identity
        for service in identity.services(type=service_type):
            for endpoint in identity.endpoints(service_id=service.id, interface=interface):
                return endpoint.url
        return None

    def revoke_token(self, token: str) -> None:
        """Revoke a token (DELETE /v3/auth/tokens), as logging out or an operator would."""
        response = self._admin_session().delete(
            f"{self.auth_url}/auth/tokens", headers={"X-Subject-Token": token}, raise_exc=False
        )
        if response.status_code != 204:
            raise RuntimeError(f"revoking a token answered {response.status_code}: {response.text}")

    def validate_token(self, token: str) -> int:
        """The status Keystone answers when asked to validate `token` (200 valid, 404 revoked/expired/unknown)."""
        response = self._admin_session().get(
            f"{self.auth_url}/auth/tokens", headers={"X-Subject-Token": token}, raise_exc=False
        )
        return response.status_code

    def _admin_session(self) -> ks_session.Session:
        return self.admin_connection().session
