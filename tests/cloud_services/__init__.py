"""A real OpenStack Keystone and Glance around cellsv2's tests, started from their PyPI releases on 127.0.0.1.

What it starts (fixtures in fixtures.py, registered by tests/conftest.py):

- `keystone` (session): Keystone 30.0.0 under gunicorn on a free 127.0.0.1 port, from a fresh directory under
  pytest's basetemp: keystone.conf (SQLite, fernet tokens valid 1 h, fernet and credential key repositories
  there, [cache] off), `keystone-manage db_sync`, `fernet_setup`, `credential_setup` and `bootstrap` (user
  `admin` / project `admin`, roles admin > manager > member > reader and `service`, region RegionOne, the
  identity endpoint at its own URL). Helpers (keystone_service.Keystone): create_project, create_user (with
  roles on a project), grant_role, ensure_role, create_service_user (project `service`, roles service + admin),
  create_application_credential, register_service / unregister_service (catalog entries), revoke_token,
  validate_token, stop / start / `with keystone.stopped():` (the port refuses connections, then serves again
  on the same port with the same data). Users come back as CloudUser (clouds.yaml entry, keystoneauth session,
  openstacksdk connection); write_clouds_yaml() writes a clouds.yaml for them.
- `glance` (session): glance-api 33.0.0 under gunicorn, SQLite and a file store in its own directory, behind
  Keystone (paste flavor `keystone`: keystonemiddleware auth_token with its service user `glance`), in the
  catalog as `image`, with the public image "cirros-tiny" (1 KiB of zeros, raw/bare; `glance.cirros_image_id`).
  Glance.upload_image(user, name, min_ram=, min_disk=, properties=...) uploads more.
- `keystone_factory` (session): more Keystones with other settings, e.g. keystone_factory(token_expiration=5).

Logs: each service's directory holds its own log (keystone.log, glance-api.log), gunicorn's
(<name>-gunicorn.log) and the setup commands' (keystone-manage.log, glance-manage.log); a service that does
not start fails the test with the tails of those logs. Servers run in their own process groups and are
stopped with their workers at session end, at interpreter exit, and by the kernel if pytest itself dies.

Virtualenvs: Keystone and Glance each run from a venv of their own, never cellsv2's .venv, built on first use
from keystone-requirements.txt / glance-requirements.txt (every version pinned) with the interpreter .venv was
made from, under a file lock (parallel pytest processes build a venv once). They are cached in
$CELLSV2_CLOUD_VENVS, default ~/.cache/cellsv2/venvs (under $XDG_CACHE_HOME when set), as
<service>-<first 16 hex digits of the sha256 of its requirements file>/ next to <...>.build.log; editing a
requirements file builds a new venv. Without a package registry (or when a build fails) the fixtures skip
with the reason; under CI=true they fail.

    python -m tests.cloud_services build      # build (or find) the venvs, print paths, build times, sizes
    python -m tests.cloud_services clear      # remove the cached venvs (or: clear keystone / glance / tempest)

Tempest (tempest-requirements.txt) is cached the same way, for scripts/tempest (tests/tempest), which runs its
compute tests against a running cellsv2; no fixture starts it.
    rm -rf ~/.cache/cellsv2/venvs             # the same by hand, when no test run is using them

Environment: CELLSV2_CLOUD_VENVS (cache directory), CI=true (fail instead of skip), XDG_CACHE_HOME.
"""
