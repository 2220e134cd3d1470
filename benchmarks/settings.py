"""Django settings of a benchmark process: the application's own settings, read from the
CELLSV2_* variables the runner sets, plus the floor's URLs and a process-local cache."""

from cellsv2.settings import *  # noqa: F403
from cellsv2.settings import LOGGING

ROOT_URLCONF = "benchmarks.urls"
# The instance mapping cache (CELLSV2_MAPPING_CACHE_SECONDS) goes through Django's cache.
CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
LOGGING = {**LOGGING, "loggers": {"cellsv2": {"handlers": ["console"], "level": "ERROR"}}}
