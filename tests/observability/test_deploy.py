"""deploy/: the systemd units pass ``systemd-analyze verify``, the Prometheus files ``promtool``,
and the alert rules only name metrics that /metrics serves.

The units name /opt/cellsv2 (the repository) and /etc/cellsv2/cellsv2.env; verify checks that
every command exists and is executable, so a copy with those paths pointed at this checkout and
at the example environment file is verified. The tools come from Debian (systemd, prometheus):
without them a test is skipped with the reason, except under CI=true, where they are required.
"""

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.observability.helpers import parse_metrics
from tests.support import ALL_DATABASES

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
UNITS = sorted((DEPLOY / "systemd").iterdir())
METRIC = re.compile(r"\bcellsv2_[a-z0-9_]+\b")


def tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        reason = (
            f"{name} is not installed (Debian: apt-get install {'systemd' if 'systemd' in name else 'prometheus'})"
        )
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}, and CI requires it")
        pytest.skip(reason)
    return path


def run(*argv, cwd) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=cwd, capture_output=True, text=True, timeout=120)


def test_the_units_are_the_expected_set():
    assert [unit.name for unit in UNITS] == [
        "cellsv2-api.service",
        "cellsv2-archive.service",
        "cellsv2-archive.timer",
        "cellsv2-conductor.service",
        "cellsv2-console-tokens-clean.service",
        "cellsv2-console-tokens-clean.timer",
        "cellsv2-novncproxy.service",
        "cellsv2-serialproxy.service",
    ]


def test_systemd_analyze_verify_passes_on_every_unit(tmp_path):
    analyze = tool("systemd-analyze")
    for unit in UNITS:
        text = unit.read_text().replace("/etc/cellsv2/cellsv2.env", str(DEPLOY / "cellsv2.env.example"))
        (tmp_path / unit.name).write_text(text.replace("/opt/cellsv2", str(ROOT)))
    assert (ROOT / ".venv" / "bin" / "gunicorn").exists()
    result = run(analyze, "verify", *sorted(p.name for p in tmp_path.iterdir()), cwd=tmp_path)
    # Warnings (an unknown key, a bad calendar) exit 0 too: any output is a failure.
    assert (result.returncode, result.stdout + result.stderr) == (0, "")


def test_a_broken_unit_is_caught(tmp_path):
    """The check above can fail: a command that does not exist, a timer with no schedule."""
    analyze = tool("systemd-analyze")
    (tmp_path / "broken.service").write_text("[Service]\nExecStart=/nonexistent/cellsv2\n")
    result = run(analyze, "verify", "broken.service", cwd=tmp_path)
    assert result.returncode != 0 and "is not executable" in result.stderr


def test_promtool_checks_the_scrape_config_and_the_rules(tmp_path):
    promtool = tool("promtool")
    token = tmp_path / "cellsv2-metrics-token"
    token.write_text("a-token\n")
    config = (DEPLOY / "prometheus" / "prometheus.yml").read_text()
    assert "/etc/prometheus/cellsv2-metrics-token" in config
    (tmp_path / "prometheus.yml").write_text(config.replace("/etc/prometheus/cellsv2-metrics-token", str(token)))
    shutil.copy(DEPLOY / "prometheus" / "alerts.yml", tmp_path)
    result = run(promtool, "check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS: 7 rules found" in result.stdout
    result = run(promtool, "test", "rules", "alerts.test.yml", cwd=DEPLOY / "prometheus")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.django_db(databases=ALL_DATABASES)
def test_every_metric_the_rules_name_is_served_by_metrics(client, cells, settings):
    from cellsv2.observability.metrics import exposition

    settings.CELLSV2_AUTH = "noauth"
    client.get("/v2.1/os-keypairs", HTTP_X_AUTH_TOKEN="a:b")
    served = {name for name, _ in parse_metrics(exposition().decode())}
    named = set(METRIC.findall((DEPLOY / "prometheus" / "alerts.yml").read_text()))
    assert named, "the rules name no cellsv2 metric"
    assert named <= served, f"not served: {sorted(named - served)}"
    tested = set(METRIC.findall((DEPLOY / "prometheus" / "alerts.test.yml").read_text()))
    assert tested <= served, f"not served: {sorted(tested - served)}"


def expand_braces(text: str) -> set[str]:
    """``CELLSV2_CONSOLE_{VNC,SERIAL}_ENABLED`` -> both names; plain names as they are."""
    names = set()
    for match in re.finditer(r"CELLSV2_[A-Z0-9_]*(?:\{[A-Z0-9_,]+\}[A-Z0-9_]*)?", text):
        word = match.group(0)
        if "{" in word:
            head, rest = word.split("{", 1)
            options, tail = rest.split("}", 1)
            names |= {f"{head}{option}{tail}" for option in options.split(",")}
        else:
            names.add(word)
    return names


def test_every_variable_of_the_environment_example_is_documented():
    documented = expand_braces((ROOT / "README.md").read_text())
    example = set(re.findall(r"^(CELLSV2_[A-Z0-9_]+)=", (DEPLOY / "cellsv2.env.example").read_text(), re.M))
    assert example - documented == set()
