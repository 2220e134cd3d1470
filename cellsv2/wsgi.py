"""WSGI entry point (gunicorn cellsv2.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cellsv2.settings")

application = get_wsgi_application()
