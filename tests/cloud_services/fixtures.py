"""pytest fixtures starting a real Keystone and Glance (registered from tests/conftest.py via pytest_plugins).

- `keystone`: one Keystone for the session (token expiration 1 h), with the helpers of
  tests.cloud_services.keystone_service.Keystone.
- `glance`: one glance-api for the session behind that Keystone, in its catalog as `image`, with the public
  image "cirros-tiny" (1 KiB raw, id in `glance.cirros_image_id`).
- `keystone_factory`: more Keystones with other settings (e.g. `keystone_factory(token_expiration=5)`),
  independent of the session one, stopped at the end of the session.

When a service venv cannot be built (no package registry, an install failure) the fixtures skip with the
reason; under CI=true they fail instead, so CI never passes by skipping them.
"""

import contextlib
import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from . import venvs
from .glance_service import Glance
from .keystone_service import Keystone
from .processes import ServiceFailed

CIRROS_TINY = "cirros-tiny"


def service_venv(name: str, pytestconfig: pytest.Config | None = None) -> Path:
    """The venv of service `name`, or a skip (a failure under CI=true) saying why it cannot be had.

    With `pytestconfig`, output capture is off while a venv is built, so the terminal says why the run stalls.
    """
    capture = pytestconfig.pluginmanager.getplugin("capturemanager") if pytestconfig else None
    try:
        with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
            return venvs.ensure_venv(name)
    except venvs.VenvUnavailable as error:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"CI=true and the {name} venv cannot be built: {error}", pytrace=False)
        first_line = str(error).splitlines()[0]
        pytest.skip(f"cloud services: the {name} venv cannot be built here: {first_line}")


def _start(service: Keystone | Glance) -> None:
    try:
        service.setup()
        service.start()
    except ServiceFailed as error:
        pytest.fail(f"{type(service).__name__} did not start: {error}", pytrace=False)


@pytest.fixture(scope="session")
def keystone_factory(tmp_path_factory, pytestconfig) -> Iterator[Callable[..., Keystone]]:
    """Start Keystones of its own (keyword arguments of Keystone, e.g. token_expiration); stopped at session end."""
    started: list[Keystone] = []

    def start_keystone(**options) -> Keystone:
        venv = service_venv("keystone", pytestconfig)
        service = Keystone(tmp_path_factory.mktemp("keystone"), venv, **options)
        started.append(service)
        _start(service)
        return service

    try:
        yield start_keystone
    finally:
        for service in reversed(started):
            service.stop()


@pytest.fixture(scope="session")
def keystone(keystone_factory) -> Keystone:
    """The session's Keystone on 127.0.0.1 (work directory and logs under pytest's basetemp)."""
    return keystone_factory()


@pytest.fixture(scope="session")
def glance(keystone, tmp_path_factory, pytestconfig) -> Iterator[Glance]:
    """The session's glance-api behind `keystone`, in its catalog as `image`, with the image "cirros-tiny"."""
    venv = service_venv("glance", pytestconfig)
    service = Glance(tmp_path_factory.mktemp("glance"), venv, keystone)
    try:
        _start(service)
        service.cirros_image_id = service.upload_image(keystone.admin, CIRROS_TINY, visibility="public")
        yield service
    finally:
        service.stop()
