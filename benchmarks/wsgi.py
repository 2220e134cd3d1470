"""gunicorn entry of our API in a benchmark (settings from the runner's environment)."""

import os

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "benchmarks.settings")

from django.core.wsgi import get_wsgi_application  # noqa: E402

application = get_wsgi_application()
