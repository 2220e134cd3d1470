"""WSGI entry of the test Keystone (runs inside Keystone's own venv under gunicorn, never in cellsv2's).

oslo.config parses sys.argv when Keystone configures itself, and under gunicorn that is gunicorn's own command
line ("--bind fd://3 ..."), which it would reject; so the arguments are dropped before the app is built.
Configuration comes from OS_KEYSTONE_CONFIG_DIR/keystone.conf.
"""

import sys

sys.argv = sys.argv[:1]

from keystone.server import wsgi  # noqa: E402  (after the argv reset on purpose)

application = wsgi.initialize_public_application()
