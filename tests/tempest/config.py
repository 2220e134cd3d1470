"""The tempest.conf for cellsv2: a compute API behind Keystone, and no image, network or volume service."""

import configparser
import io
from dataclasses import dataclass

# Image references: cellsv2 has no image service and accepts any image uuid (README: images are
# referenced by uuid only). Tempest needs two different ones for its rebuild tests.
IMAGE_REF = "70a599e0-31e7-49b7-b260-868f441e862b"
IMAGE_REF_ALT = "a2459075-d96c-40d5-893e-577ff92e721c"
# Flavors: m1.tiny and m1.small, which every cellsv2 database has from its migrations.
FLAVOR_REF = "1"
FLAVOR_REF_ALT = "2"

# What cellsv2 does not do, so that tempest skips the tests of it (tempest's own switches, not
# exclusions): each is a capability of Nova's compute hosts or of another service.
FEATURES_OFF = {
    "change_password": "needs a guest agent on a hypervisor",
    "console_output": "no hypervisor to read a console log from",
    "resize": "resize and its confirm/revert are not implemented",
    "shelve": "shelving needs an image service for the snapshot",
    "shelve_migrate": "shelving needs an image service for the snapshot",
    "cold_migration": "no migrations between hosts",
    "live_migration": "no migrations between hosts",
    "vnc_console": "the console URLs work, but no VNC server sits behind them",
    "spice_console": "no SPICE server behind the console URLs",
    "serial_console": "no serial port behind the console URLs",
    "rescue": "rescue is not implemented",
    "interface_attach": "needs a network service",
    "snapshot": "createImage needs an image service",
    "personality": "file injection needs a hypervisor",
    "attach_encrypted_volume": "needs a volume service",
    "swap_volume": "needs a volume service",
    "volume_multiattach": "needs a volume service",
}
FEATURES_ON = {
    "pause": "pause / unpause change the states as Nova's compute does",
    "suspend": "suspend / resume change the states as Nova's compute does",
    "disk_config": "OS-DCF:diskConfig is kept and shown",
    "enable_instance_password": "adminPass is returned (CELLSV2_ENABLE_INSTANCE_PASSWORD)",
}
# Neutron is declared available although the catalog has none: with neutron off, tempest skips
# every server test class that asks for a default network (test_servers, test_server_metadata,
# ... : create_default_network), although they only need the compute API. Dynamic credentials
# make no networks ([auth] create_isolated_networks = false); the tests that do call a network
# service are excluded by name (exclude-compute-servers.txt).
SERVICES_AVAILABLE = {
    "nova": True,
    "glance": False,
    "neutron": True,
    "cinder": False,
    "swift": False,
    "heat": False,
    "horizon": False,
}


@dataclass(frozen=True)
class TempestSettings:
    """Where the services are and who the admin is (the dynamic credentials are made with it)."""

    auth_url: str  # Keystone's v3 URL
    username: str
    password: str
    project_name: str
    user_domain_name: str
    project_domain_name: str
    region: str
    max_microversion: str
    workdir: str
    build_timeout: int = 60


def identity_v3_url(url: str) -> str:
    """Keystone's URL with its /v3 (tempest's uri_v3 wants it)."""
    url = url.rstrip("/")
    return url if url.endswith("/v3") else f"{url}/v3"


def tempest_conf(settings: TempestSettings) -> str:
    """The text of tempest.conf (comments say why each section is what it is)."""
    conf = configparser.ConfigParser(interpolation=None)
    conf.optionxform = str  # keep option names as written
    conf["DEFAULT"] = {"log_dir": settings.workdir, "log_file": "tempest.log", "use_stderr": "false"}
    conf["oslo_concurrency"] = {"lock_path": f"{settings.workdir}/lock"}
    conf["auth"] = {
        # Each test class gets a project and users of its own, made with the admin's credentials.
        "use_dynamic_credentials": "true",
        "create_isolated_networks": "false",
        "admin_username": settings.username,
        "admin_password": settings.password,
        "admin_project_name": settings.project_name,
        "admin_domain_name": settings.user_domain_name,
        "default_credentials_domain_name": settings.project_domain_name,
    }
    conf["identity"] = {
        "uri_v3": identity_v3_url(settings.auth_url),
        "auth_version": "v3",
        "region": settings.region,
        "v3_endpoint_type": "public",
    }
    conf["identity-feature-enabled"] = {"api_v2": "false", "api_v3": "true"}
    conf["compute"] = {
        "region": settings.region,
        "catalog_type": "compute",
        "endpoint_type": "publicURL",
        "image_ref": IMAGE_REF,
        "image_ref_alt": IMAGE_REF_ALT,
        "flavor_ref": FLAVOR_REF,
        "flavor_ref_alt": FLAVOR_REF_ALT,
        "min_microversion": "2.1",
        "max_microversion": settings.max_microversion,
        # A server is ACTIVE as soon as the conductor placed it; a minute is plenty.
        "build_timeout": str(settings.build_timeout),
        "build_interval": "1",
        "ready_wait": "0",
    }
    conf["compute-feature-enabled"] = {
        **{name: "false" for name in FEATURES_OFF},
        **{name: "true" for name in FEATURES_ON},
    }
    # cellsv2 enforces Nova's new defaults (project reader / member / admin).
    conf["enforce_scope"] = {"nova": "true"}
    conf["service_available"] = {name: str(value).lower() for name, value in SERVICES_AVAILABLE.items()}
    # No guest to log in to: tempest checks the API only.
    conf["validation"] = {"run_validation": "false"}
    out = io.StringIO()
    out.write("# Written by scripts/tempest for cellsv2 (tests/tempest/config.py); regenerated on every run.\n")
    out.write("# [compute-feature-enabled] switched off:\n")
    for name, reason in FEATURES_OFF.items():
        out.write(f"#   {name}: {reason}\n")
    conf.write(out)
    return out.getvalue()
