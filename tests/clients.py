"""Real OpenStack clients pointed at a served process: openstacksdk and the ``openstack`` CLI, with
``auth_type: admin_token`` (the token is a ``noauth`` one: ``user:project``)."""

import json
import os
import subprocess
import sys
from pathlib import Path

BIN = Path(sys.executable).parent


def sdk(endpoint: str, token: str):
    """An openstacksdk connection to ``endpoint`` (no clouds.yaml or environment read)."""
    import openstack.config
    from openstack import connection

    region = openstack.config.get_cloud_region(
        load_yaml_config=False,
        load_envvars=False,
        auth_type="admin_token",
        auth={"endpoint": endpoint, "token": token},
    )
    return connection.Connection(config=region)


def openstack_cli(tmp_path: Path, endpoint: str, token: str, *args: str):
    """The ``openstack`` command with a clouds.yaml for ``token`` and nothing else; its JSON output."""
    config = tmp_path / f"clouds-{token.replace(':', '-')}.yaml"
    config.write_text(
        f"clouds:\n  c:\n    auth_type: admin_token\n    auth:\n      endpoint: {endpoint}\n      token: {token}\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OS_", "CELLSV2_", "DJANGO_"))}
    env.update(OS_CLIENT_CONFIG_FILE=str(config), OS_CLOUD="c")
    result = subprocess.run(
        [str(BIN / "openstack"), *args, "-f", "json"], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, f"openstack {' '.join(args)}: {result.stderr}"
    return json.loads(result.stdout)
