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

# Static files under content-hashed names, cached for a year by browsers and proxies; needs
# `manage.py collectstatic` at deployment (`check --deploy` warns, cellsv2.W003, when it was not run).
STORAGES = {
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = False

# TLS is terminated by the proxy in front of gunicorn, which sets X-Forwarded-Proto.
SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
SECURE_SSL_REDIRECT = os.environ.get("CELLSV2_SSL_REDIRECT", "true").lower() in ("1", "true", "yes")
# Load balancers and Prometheus talk to each node directly, over plain HTTP.
SECURE_REDIRECT_EXEMPT = [r"^healthcheck$", r"^metrics$"]
SECURE_HSTS_SECONDS = int(os.environ.get("CELLSV2_HSTS_SECONDS", "31536000"))
SECURE_HSTS_INCLUDE_SUBDOMAINS = True
SECURE_HSTS_PRELOAD = True
SECURE_CONTENT_TYPE_NOSNIFF = True
SESSION_COOKIE_SECURE = True
SESSION_COOKIE_HTTPONLY = True
CSRF_COOKIE_SECURE = True
X_FRAME_OPTIONS = "DENY"
# The admin's forms carry the CSRF token in a hidden field: no script needs to read the cookie.
CSRF_COOKIE_HTTPONLY = True
# The admin session ends when the browser closes, and after 8 hours at most.
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_AGE = 8 * 3600
# Origins allowed to POST (the admin's forms) when the proxy's public name differs from Host:
# "https://ops.example.org,https://...".
CSRF_TRUSTED_ORIGINS = [o.strip() for o in os.environ.get("CELLSV2_CSRF_TRUSTED_ORIGINS", "").split(",") if o.strip()]
