"""WSGI entry point (gunicorn cellsv2.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

from cellsv2.chunked import ChunkedBodies

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cellsv2.settings")

application = ChunkedBodies(get_wsgi_application())

# The policy enforcer is built now, not at the first request: a CELLSV2_POLICY_FILE that is
# missing or does not parse stops the worker as it starts, with the reason, instead of failing
# every request. Imported after the application so that the apps have registered their rules.
from cellsv2.api.policy import policy_enforcer  # noqa: E402

policy_enforcer()
