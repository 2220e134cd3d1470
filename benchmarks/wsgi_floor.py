"""gunicorn entry of the floor in a benchmark: same settings and database, no middleware."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

import django  # noqa: E402

django.setup(set_prefix=False)

from benchmarks.floor import floor_wsgi_application  # noqa: E402

application = floor_wsgi_application()
