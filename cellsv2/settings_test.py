"""Test settings: three cells (cell0, cell1, cell2), a fast password hasher, a local cache.

With no database URLs in the environment the test databases are SQLite files under
``data/test``; CI sets CELLSV2_API_DATABASE_URL and CELLSV2_CELL_DATABASE_URLS to run the same
suite on PostgreSQL.
"""

import os
from pathlib import Path

os.environ.setdefault("CELLSV2_DATA_DIR", str(Path(__file__).resolve().parent.parent / "data" / "test"))

from cellsv2.dburls import sqlite_url  # noqa: E402
from cellsv2.settings import *  # noqa: E402, F403
from cellsv2.settings import DATA_DIR, DATABASES, _database  # noqa: E402

if not os.environ.get("CELLSV2_CELL_DATABASE_URLS"):
    DATABASES["cell2"] = _database(sqlite_url(DATA_DIR / "cell2.sqlite3"), "cell2")

ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost", "api.example"]
# Every test run gets its own test databases, so several runs (or developers on one PostgreSQL
# server) never drop each other's databases.
_RUN = os.environ.get("CELLSV2_TEST_RUN_ID") or str(os.getpid())
for _alias, _conf in DATABASES.items():
    if not _conf:
        continue
    if _conf["ENGINE"].endswith("sqlite3"):
        _conf["TEST"]["NAME"] = str(DATA_DIR / f"test_{_alias}_{_RUN}.sqlite3")
    else:
        _conf["TEST"]["NAME"] = f"test_{_conf['NAME']}_{_RUN}"

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
CELLSV2_CELL_CACHE_SECONDS = 3600
CELLSV2_SCATTER_GATHER_TIMEOUT = 10
# No collectstatic in tests: WhiteNoise serves the apps' static files through the finders, and an
# existing (empty) STATIC_ROOT keeps it from warning on every request.
STATIC_ROOT.mkdir(parents=True, exist_ok=True)  # noqa: F405
# Nova's defaults unless a test writes a policy file (the policy_file fixture), whatever the
# environment running the tests says.
CELLSV2_POLICY_FILE = None
