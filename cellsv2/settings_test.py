"""Test settings: the normal settings with a fast password hasher and fast scatter-gather timeouts."""

from cellsv2.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELLSV2_CELL_CACHE_SECONDS = 3600
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
