"""CELLSV2_CACHE_URL and what goes through the shared cache: cell mapping changes between processes.

The cache backends are the real servers (Redis at 127.0.0.1:6379, memcached at 127.0.0.1:11211);
a test whose server is not running is skipped with that reason, except under CI=true.
"""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.core.cache import caches

from cellsv2 import cells as registry
from cellsv2.cacheurls import InvalidCacheUrl, cache_settings
from tests.support import ALL_DATABASES

ROOT = Path(__file__).resolve().parents[2]


def reachable(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
        return True
    except OSError:
        return False


def needs(port: int, what: str):
    if reachable(port):
        return
    if os.environ.get("CI") == "true":
        pytest.fail(f"{what} is not running on 127.0.0.1:{port}, and CI requires it")
    pytest.skip(f"{what} is not running on 127.0.0.1:{port}")


class TestCacheUrl:
    def test_the_default_is_a_process_local_cache(self):
        assert cache_settings("")["BACKEND"].endswith("LocMemCache")
        assert cache_settings("locmem://")["BACKEND"].endswith("LocMemCache")

    def test_redis_and_memcached_use_djangos_own_backends(self):
        redis = cache_settings("redis://:secret@cache.example:6380/2")
        assert redis["BACKEND"] == "django.core.cache.backends.redis.RedisCache"
        assert redis["LOCATION"] == "redis://:secret@cache.example:6380/2"
        memcached = cache_settings("memcached://10.0.0.1:11211,10.0.0.2:11211")
        assert memcached["BACKEND"] == "django.core.cache.backends.memcached.PyMemcacheCache"
        assert memcached["LOCATION"] == ["10.0.0.1:11211", "10.0.0.2:11211"]

    @pytest.mark.parametrize("url", ["http://cache:80", "memcached://", "memcached://host:port", "redis"])
    def test_anything_else_is_refused_with_the_forms_it_takes(self, url):
        with pytest.raises(InvalidCacheUrl, match="CELLSV2_CACHE_URL"):
            cache_settings(url)

    def test_a_bad_url_stops_every_command_with_one_line(self):
        env = {**os.environ, "CELLSV2_CACHE_URL": "http://cache:80", "DJANGO_SETTINGS_MODULE": "cellsv2.settings"}
        result = subprocess.run(
            [sys.executable, "manage.py", "check"], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
        )
        assert result.returncode == 1
        assert "CELLSV2_CACHE_URL must be locmem://" in result.stderr


@pytest.fixture(params=["redis", "memcached"])
def shared_cache(request, settings):
    """Django's default cache on a real Redis or memcached (emptied before and after)."""
    if request.param == "redis":
        needs(6379, "Redis")
        url = "redis://127.0.0.1:6379/15"
    else:
        needs(11211, "memcached")
        url = "memcached://127.0.0.1:11211"
    settings.CACHES = {"default": {**cache_settings(url), "KEY_PREFIX": f"cellsv2-test-{os.getpid()}"}}
    caches["default"].clear()
    yield caches["default"]
    caches["default"].clear()


@pytest.mark.django_db(databases=ALL_DATABASES)
class TestCellMappingChanges:
    """A change made by one process reaches another within CELLSV2_CELL_CHANGE_CHECK_SECONDS.

    "Another process" is this process's registry with its memory of the shared generation reset
    to what a process that loaded the cells before the change would hold.
    """

    def test_a_change_elsewhere_is_seen_after_the_check_period(self, shared_cache, cells, settings, monkeypatch):
        settings.CELLSV2_CELL_CACHE_SECONDS = 3600
        settings.CELLSV2_CELL_CHANGE_CHECK_SECONDS = 1
        assert not next(c for c in cells_module_mappings() if c.name == "cell1").disabled
        seen = registry._generation_seen

        # Another process disables cell1: the row changes and the shared generation moves; this
        # process still holds its cached list and its old generation.
        type(cells["cell1"]).objects.filter(pk=cells["cell1"].pk).update(disabled=True)
        cached = list(registry._cells)
        shared_cache.set(registry.GENERATION_KEY, (seen or 0) + 1, None)
        monkeypatch.setattr(registry, "_cells", cached)

        # Within the check period the cached answer stands...
        monkeypatch.setattr(registry, "_generation_checked_at", time.monotonic())
        assert not next(c for c in cells_module_mappings() if c.name == "cell1").disabled
        # ...after it, the new generation is seen and the list reloaded.
        monkeypatch.setattr(registry, "_generation_checked_at", time.monotonic() - 2)
        assert next(c for c in cells_module_mappings() if c.name == "cell1").disabled

    def test_a_change_made_here_moves_the_shared_generation(self, shared_cache, cells):
        before = shared_cache.get(registry.GENERATION_KEY)
        mapping = cells["cell2"]
        mapping.name = "renamed"
        mapping.save()
        after = shared_cache.get(registry.GENERATION_KEY)
        assert after is not None and after != before

    def test_an_unreachable_cache_does_not_fail_a_write(self, settings, cells):
        settings.CACHES = {"default": cache_settings("memcached://127.0.0.1:9")}  # nothing listens there
        mapping = cells["cell2"]
        mapping.name = "still-saved"
        mapping.save()
        assert type(mapping).objects.get(pk=mapping.pk).name == "still-saved"


def cells_module_mappings():
    return registry.cell_mappings()
