"""The service venvs are built once per requirements file, under a lock, and a failed build is reported clearly."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cloud_services import venvs
from tests.cloud_services.fixtures import service_venv

REPO = Path(__file__).resolve().parents[2]
ENSURE = (
    "import sys; from pathlib import Path; from tests.cloud_services import venvs; "
    "print(venvs.ensure_venv(sys.argv[1], Path(sys.argv[2])))"
)


@pytest.fixture
def venv_cache(tmp_path, monkeypatch) -> Path:
    """An empty venv cache of this test's own (CELLSV2_CLOUD_VENVS), so nothing shared is built or removed."""
    cache = tmp_path / "venvs"
    monkeypatch.setenv("CELLSV2_CLOUD_VENVS", str(cache))
    return cache


@pytest.fixture
def offline_pip(tmp_path, monkeypatch):
    """pip as on a machine that reaches no package registry: no index, and no local wheels either."""
    no_wheels = tmp_path / "no-wheels"
    no_wheels.mkdir()
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(no_wheels))


def test_parallel_processes_build_a_venv_once_and_later_runs_reuse_it(venv_cache, tmp_path):
    requirements = tmp_path / "nothing-requirements.txt"
    requirements.write_text("# a venv with nothing installed: the build and its lock are what is tested\n")

    def ensure() -> subprocess.Popen:
        return subprocess.Popen(
            [sys.executable, "-c", ENSURE, "keystone", str(requirements)],
            cwd=REPO,
            env={**os.environ, "PYTHONPATH": str(REPO)},
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )

    first, second = ensure(), ensure()
    outputs = [process.communicate(timeout=300) for process in (first, second)]
    assert [process.returncode for process in (first, second)] == [0, 0], outputs

    paths = {stdout.strip() for stdout, _ in outputs}
    assert paths == {str(venvs.venv_path("keystone", requirements))}
    path = Path(paths.pop())
    assert path.parent == venv_cache and path.name.startswith("keystone-")
    builds = sum(stderr.count("] building the keystone venv") for _, stderr in outputs)
    assert builds == 1, outputs
    built = next(stderr for _, stderr in outputs if "] building" in stderr)
    assert "built the keystone venv in " in built
    info = venvs.venv_info(path)
    assert info["python_version"] == ".".join(map(str, sys.version_info[:3]))
    assert info["build_seconds"] > 0

    again = ensure()
    stdout, stderr = again.communicate(timeout=60)
    assert (stdout.strip(), stderr) == (str(path), "")

    # Another requirements file is another venv; clearing removes every venv of the service.
    requirements.write_text("# changed\n")
    assert venvs.venv_path("keystone", requirements) != path
    assert venvs.clear("keystone") == [path]
    assert not path.exists()


def test_without_a_registry_the_fixtures_skip_with_the_reason_but_fail_under_ci(venv_cache, offline_pip, monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    with pytest.raises(pytest.skip.Exception) as skipped:
        service_venv("glance")
    reason = str(skipped.value)
    assert reason.startswith("cloud services: the glance venv cannot be built here: could not build the glance venv")
    assert "(pip: 1)" in reason
    assert not venvs.venv_path("glance").exists()  # no half-built venv left behind to be taken for a good one

    monkeypatch.setenv("CI", "true")
    with pytest.raises(pytest.fail.Exception) as failed:
        service_venv("glance")
    message = str(failed.value)
    assert message.startswith("CI=true and the glance venv cannot be built: could not build the glance venv (pip: 1)")
    assert "No matching distribution found for glance==33.0.0" in message  # pip's own words, from the build log
