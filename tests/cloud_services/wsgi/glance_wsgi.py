"""WSGI entry of the test glance-api (runs inside Glance's own venv under gunicorn, never in cellsv2's).

The arguments are dropped as for Keystone, in case anything configures oslo.config from sys.argv (gunicorn's
own command line). Configuration comes from OS_GLANCE_CONFIG_DIR/glance-api.conf, whose [paste_deploy] names the
paste file and the "keystone" flavor.
"""

import sys

sys.argv = sys.argv[:1]

from glance.common import wsgi_app  # noqa: E402  (after the argv reset on purpose)

application = wsgi_app.init_app()
