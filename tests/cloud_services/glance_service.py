"""A real glance-api (from its own venv) on 127.0.0.1, behind Keystone, registered as `image` in the catalog.

Glance keeps everything in one work directory: glance-api.conf, the paste file shipped with the package (its
"keystone" flavor puts keystonemiddleware's auth_token in the pipeline), a SQLite database, a file store for
image data and its logs. Its service user `glance` (roles service and admin in project `service`) validates
the tokens clients send.
"""

import io
import secrets
import shutil
import textwrap
from pathlib import Path

from .keystone_service import REGION, SERVICE_PROJECT, CloudUser, Keystone
from .processes import Commands, GunicornServer, service_environment


class Glance:
    """One glance-api: configured against a running Keystone, database synced, served by gunicorn."""

    def __init__(self, workdir: Path, venv: Path, keystone: Keystone, *, debug: bool = False):
        self.workdir = workdir
        self.venv = venv
        self.keystone = keystone
        self.debug = debug
        self.service_password = secrets.token_urlsafe(16)
        self.service_user: CloudUser | None = None  # the Keystone user `glance`, made by setup()
        self.cirros_image_id: str | None = None  # set by the `glance` fixture
        self.server = GunicornServer(
            "glance-api",
            venv=venv,
            app="glance_wsgi:application",
            env={"OS_GLANCE_CONFIG_DIR": str(workdir)},
            workdir=workdir,
            ready_path="/versions",
        )

    @property
    def url(self) -> str:
        """The image endpoint (what the catalog says), e.g. http://127.0.0.1:41235."""
        return self.server.url

    @property
    def config_file(self) -> Path:
        return self.workdir / "glance-api.conf"

    @property
    def log_file(self) -> Path:
        return self.workdir / "glance-api.log"

    def setup(self) -> None:
        """Write the configuration, sync the database, create Glance's service user and catalog entry."""
        for directory in ("images", "staging", "tasks", "locks"):
            (self.workdir / directory).mkdir(parents=True, exist_ok=True)
        self.server.reserve_port()
        shutil.copy(self._packaged_paste_ini(), self.workdir / "glance-api-paste.ini")
        self.config_file.write_text(self.render_config())
        # The schema does not need Keystone: it is created while Keystone gets the user and the catalog entry.
        db_sync = Commands(
            [[str(self.venv / "bin" / "glance-manage"), "--config-file", str(self.config_file), "db_sync"]],
            env=service_environment(self.venv, self.workdir),
            cwd=self.workdir,
            log_path=self.workdir / "glance-manage.log",
            related_logs=[self.log_file],  # glance-manage logs where glance-api.conf says
        )
        try:
            self.service_user = self.keystone.create_service_user("glance", password=self.service_password)
            self.keystone.register_service("image", "glance", self.url)
        finally:
            db_sync.wait()

    def start(self) -> None:
        self.server.start()

    def stop(self) -> None:
        self.server.stop()

    def _packaged_paste_ini(self) -> Path:
        # pip installs the package's etc files under <venv>/etc/glance (data_files in its wheel).
        path = self.venv / "etc" / "glance" / "glance-api-paste.ini"
        if not path.is_file():
            raise FileNotFoundError(f"glance's wheel did not install {path}")
        return path

    def render_config(self) -> str:
        """The glance-api.conf `setup()` writes."""
        w = self.workdir
        return textwrap.dedent(
            f"""\
            # Written by tests/cloud_services for one test session; everything lives in {w}.
            [DEFAULT]
            debug = {str(self.debug).lower()}
            log_file = {w / "glance-api.log"}
            use_stderr = false
            enabled_backends = fs:file
            worker_self_reference_url = {self.url}

            [database]
            connection = sqlite:///{w / "glance.db"}
            sqlite_synchronous = false

            [glance_store]
            default_backend = fs

            [fs]
            filesystem_store_datadir = {w / "images"}

            [os_glance_staging_store]
            filesystem_store_datadir = {w / "staging"}

            [os_glance_tasks_store]
            filesystem_store_datadir = {w / "tasks"}

            [oslo_concurrency]
            lock_path = {w / "locks"}

            [paste_deploy]
            flavor = keystone
            config_file = {w / "glance-api-paste.ini"}

            [keystone_authtoken]
            www_authenticate_uri = {self.keystone.auth_url}
            auth_url = {self.keystone.auth_url}
            auth_type = password
            username = glance
            password = {self.service_password}
            user_domain_name = Default
            project_name = {SERVICE_PROJECT}
            project_domain_name = Default
            region_name = {REGION}
            interface = public
            service_token_roles_required = true
            """
        )

    def upload_image(
        self,
        user: CloudUser,
        name: str,
        *,
        data: bytes = b"\0" * 1024,
        disk_format: str = "raw",
        container_format: str = "bare",
        min_ram: int = 0,
        min_disk: int = 0,
        visibility: str | None = None,
        properties: dict[str, str] | None = None,
    ) -> str:
        """Create an image as `user` and upload its data (default 1 KiB of zeros); return its id once active."""
        connection = user.connect()
        extra = dict(properties or {})
        if visibility is not None:
            extra["visibility"] = visibility
        image = connection.image.create_image(
            name,
            data=io.BytesIO(data),
            disk_format=disk_format,
            container_format=container_format,
            min_ram=min_ram,
            min_disk=min_disk,
            disable_vendor_agent=False,
            allow_duplicates=True,
            wait=True,
            timeout=60,
            **extra,
        )
        return image.id
