"""Settings for ``manage.py`` started by the tests as a real process (the ``manage_py`` fixture).

The test settings, pointed at this test run's databases (named in CELLSV2_TEST_DATABASE_NAMES by
the fixture), so the command sees what the test committed. The URLs the databases were declared
with stay as they are: cell mappings written by the tests name those, and resolve to these
aliases as they do in the test process.
"""

import json
import os

from cellsv2.settings_test import *  # noqa: F403
from cellsv2.settings_test import DATABASES

for _alias, _name in json.loads(os.environ["CELLSV2_TEST_DATABASE_NAMES"]).items():
    DATABASES[_alias]["NAME"] = _name

# The policy file a test gives the command in its environment, read as cellsv2.settings reads it
# (the test settings ignore the environment's).
_policy_file = os.environ.get("CELLSV2_POLICY_FILE", "").strip()
CELLSV2_POLICY_FILE = os.path.abspath(_policy_file) if _policy_file else None
