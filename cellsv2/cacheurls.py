"""``CELLSV2_CACHE_URL``: Django's cache configured from one URL, with Django's own backends.

- ``locmem://`` (the default): per process; fine for one process, never shared;
- ``redis://[:password@]host[:port][/db]`` (and ``rediss://``, ``unix://``): Django's RedisCache;
- ``memcached://host:port[,host:port...]``: Django's PyMemcacheCache.

Everything two processes must agree on goes through this cache (DESIGN §7): the instance mapping
cache, the cell mapping generation (cellsv2.cells), the deprecated console-token cache backend and
keystonemiddleware's token cache.
"""

from urllib.parse import urlsplit

KEY_PREFIX = "cellsv2"


class InvalidCacheUrl(ValueError):
    pass


def cache_settings(url: str) -> dict:
    """One entry of Django's CACHES for ``url``; raises InvalidCacheUrl for anything else."""
    url = (url or "locmem://").strip()
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    if scheme == "locmem":
        return {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "cellsv2"}
    if scheme in ("redis", "rediss", "unix"):
        return {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": url, "KEY_PREFIX": KEY_PREFIX}
    if scheme == "memcached":
        servers = [s.strip() for s in url.split("://", 1)[1].split(",") if s.strip()]
        if not servers:
            raise InvalidCacheUrl(f"CELLSV2_CACHE_URL {url!r} names no memcached server")
        for server in servers:
            parts = urlsplit(f"//{server}")
            try:
                parts.port  # noqa: B018 - raises ValueError for a port that is not a number
            except ValueError:
                raise InvalidCacheUrl(f"CELLSV2_CACHE_URL: bad memcached server {server!r}") from None
            if not parts.hostname:
                raise InvalidCacheUrl(f"CELLSV2_CACHE_URL: bad memcached server {server!r}")
        return {
            "BACKEND": "django.core.cache.backends.memcached.PyMemcacheCache",
            "LOCATION": servers,
            "KEY_PREFIX": KEY_PREFIX,
            # A memcached that stops answering must cost a request a fraction of a second, not hang it.
            "OPTIONS": {"connect_timeout": 1.0, "timeout": 1.0, "no_delay": True},
        }
    raise InvalidCacheUrl(
        f"CELLSV2_CACHE_URL must be locmem://, redis://host:port/db or memcached://host:port, not {url!r}"
    )
