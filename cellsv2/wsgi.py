"""WSGI entry point (gunicorn cellsv2.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

from cellsv2.chunked import ChunkedBodies

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cellsv2.settings")

application = ChunkedBodies(get_wsgi_application())
