"""Production settings: the normal settings hardened for HTTPS behind a proxy.

Use with DJANGO_SETTINGS_MODULE=cellsv2.settings_production. CELLSV2_SECRET_KEY is required and
CELLSV2_DEBUG is ignored. `manage.py check --deploy` is clean with these settings.
"""

import os

from django.core.exceptions import ImproperlyConfigured

from cellsv2.settings import *  # noqa: F403

DEBUG = False
SECRET_KEY = os.environ.get("CELLSV2_SECRET_KEY", "")
if len(SECRET_KEY) < 50:
    raise ImproperlyConfigured("Set CELLSV2_SECRET_KEY to a random string of at least 50 characters")

# TLS is terminated by the proxy in front of gunicorn, which sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = os.environ.get("CELLSV2_SSL_REDIRECT", "true").lower() in ("1", "true", "yes")
SECURE_HSTS_SECONDS = int(os.environ.get("CELLSV2_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
