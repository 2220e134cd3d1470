"""Settings for cellsv2, read from the environment.

Public configuration (see README "Configuration"):

- ``CELLSV2_DATA_DIR``: where the SQLite files go when no database URL is given (default ``./data``).
- ``CELLSV2_API_DATABASE_URL``: the API database.
- ``CELLSV2_CELL_DATABASE_URLS``: ``cell0=url,cell1=url,...``; cell0 is required when it is set.
- ``CELLSV2_SECRET_KEY``, ``CELLSV2_DEBUG``, ``CELLSV2_ALLOWED_HOSTS``.
- ``CELLSV2_CONN_MAX_AGE``: seconds a server database connection is kept (default 300).
- ``CELLSV2_SCATTER_GATHER_TIMEOUT``: seconds a cell has to answer a fan-out (default 60, as Nova).
- ``CELLSV2_POLICY_FILE``: an operator's policy.yaml over Nova's default rules (default: none).
"""

import logging
import os
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured

from cellsv2.cacheurls import InvalidCacheUrl, cache_settings
from cellsv2.dburls import (
    POOLERS,
    InvalidDatabaseUrl,
    apply_connection_limits,
    parse_cell_urls,
    parse_database_url,
    sqlite_url,
)
from cellsv2.observability.access import parse_networks
from cellsv2.observability.logs import FORMATS, logging_settings

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool = False) -> bool:
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in ("1", "true", "yes", "on")


def env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or not value.strip():
        return default
    try:
        return int(value)
    except ValueError:
        raise ImproperlyConfigured(f"{name} must be an integer, not {value!r}") from None


DEBUG = env_bool("CELLSV2_DEBUG", False)
SECRET_KEY = os.environ.get("CELLSV2_SECRET_KEY") or (
    # Only development (DEBUG or the default SQLite files) may run with a fixed key;
    # `manage.py check --deploy` flags it.
    "django-insecure-cellsv2-development-key-change-me"
)
ALLOWED_HOSTS = [h.strip() for h in os.environ.get("CELLSV2_ALLOWED_HOSTS", "127.0.0.1,localhost").split(",")]

THIRD_PARTY_APPS = ("rest_framework", "drf_spectacular", "drf_spectacular_sidecar")
INSTALLED_APPS = [
    "cellsv2.apps.CellsV2AdminConfig",
    # Before django.contrib.auth and django.core: its createsuperuser, dbshell, ... (the API
    # database by default) replace theirs.
    "cellsv2",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    *THIRD_PARTY_APPS,
    "mappings",
    "identity",
    "flavors",
    "servers",
    "keypairs",
    "servergroups",
    "consoles",
    "hosts",
    "images",
    "quotas",
    "instance_actions",
    "operators",
]

MIDDLEWARE = [
    # First: the request id, log fields, metrics and access line see the whole request.
    "cellsv2.observability.middleware.RequestObservabilityMiddleware",
    "cellsv2.api.middleware.ComputeApiMiddleware",
    # CELLSV2_AUTH=keystone: keystonemiddleware's auth_token on the compute API (a no-op otherwise).
    "cellsv2.api.keystone.KeystoneAuthTokenMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Static files (the admin's and /docs/' CSS and JavaScript) in every mode, DEBUG or not.
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Django's own session, auth and messages middleware, skipped on /v2.1 (the admin's only).
    "cellsv2.api.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "cellsv2.api.middleware.AuthenticationMiddleware",
    "cellsv2.api.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "cellsv2.urls"
WSGI_APPLICATION = "cellsv2.wsgi.application"
# Nova's API answers without redirects: /v2.1 and /v2.1/ are both served.
APPEND_SLASH = False

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "cellsv2" / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Databases --------------------------------------------------------------------------------
# "api" (cellsv2.db.API_ALIAS, which code uses; settings are read before apps can be imported)
# holds API-level models and Django's own tables; "cell0", "cell1", ... hold cells.
# "default" is deliberately empty: the router never sends anything there, and Django raises if
# something bypasses the router.
DATA_DIR = Path(os.environ.get("CELLSV2_DATA_DIR") or BASE_DIR / "data").resolve()
CONN_MAX_AGE = env_int("CELLSV2_CONN_MAX_AGE", 300)
CELL0_ALIAS = "cell0"
# Deadlines and ceilings of PostgreSQL connections (docs/operators-guide.md, "Deadlines, the
# breaker and connection pools"). pool_size: connections one process holds at most to each
# database (0: no pool, a persistent connection per thread kept CONN_MAX_AGE seconds).
CELLSV2_DATABASE_LIMITS = {
    "connect_timeout": env_int("CELLSV2_DB_CONNECT_TIMEOUT", 5),
    "tcp_user_timeout": env_int("CELLSV2_DB_TCP_USER_TIMEOUT", 30),
    "pool_size": env_int("CELLSV2_DB_POOL_SIZE", 10),
    "pool_timeout": env_int("CELLSV2_DB_POOL_TIMEOUT", 5),
    "pool_max_idle": env_int("CELLSV2_DB_POOL_MAX_IDLE", 60),
    # What sits between the processes and PostgreSQL: "" (nothing) or "pgbouncer" (PgBouncer in
    # transaction mode: no startup options, no server-side cursors; docs/operators-guide.md,
    # "Behind PgBouncer").
    "pooler": os.environ.get("CELLSV2_DB_POOLER", "").strip().lower(),
}
if CELLSV2_DATABASE_LIMITS["pooler"] not in POOLERS:
    raise ImproperlyConfigured(
        f"CELLSV2_DB_POOLER must be empty or pgbouncer, not {CELLSV2_DATABASE_LIMITS['pooler']!r}"
    )
# PostgreSQL's statement_timeout on every cell connection (seconds, 0: none): a cell query that
# runs longer is cancelled by the cell's server.
CELLSV2_CELL_QUERY_TIMEOUT = env_int("CELLSV2_CELL_QUERY_TIMEOUT", 30)


def _database(url: str, alias: str) -> dict:
    try:
        conf = parse_database_url(url, conn_max_age=CONN_MAX_AGE)
    except InvalidDatabaseUrl as exc:
        raise ImproperlyConfigured(f"Database {alias!r}: {exc}") from None
    statement_timeout = 0 if alias == "api" else CELLSV2_CELL_QUERY_TIMEOUT
    apply_connection_limits(conf, CELLSV2_DATABASE_LIMITS, statement_timeout=statement_timeout)
    # Cells and the API database never depend on each other's test databases.
    conf["TEST"] = {"DEPENDENCIES": []}
    if conf["ENGINE"].endswith("sqlite3"):
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        # A file (not :memory:) so scatter-gather threads see the same test database.
        conf["TEST"]["NAME"] = str(DATA_DIR / f"test_{alias}.sqlite3")
    return conf


def _cell_urls() -> dict[str, str]:
    raw = os.environ.get("CELLSV2_CELL_DATABASE_URLS", "").strip()
    if not raw:
        return {name: sqlite_url(DATA_DIR / f"{name}.sqlite3") for name in ("cell0", "cell1")}
    try:
        urls = parse_cell_urls(raw)
    except InvalidDatabaseUrl as exc:
        raise ImproperlyConfigured(str(exc)) from None
    if CELL0_ALIAS not in urls:
        raise ImproperlyConfigured("CELLSV2_CELL_DATABASE_URLS must name cell0")
    return urls


DATABASES = {
    "default": {},
    "api": _database(os.environ.get("CELLSV2_API_DATABASE_URL") or sqlite_url(DATA_DIR / "api.sqlite3"), "api"),
}
for _name, _url in _cell_urls().items():
    DATABASES[_name] = _database(_url, _name)

DATABASE_ROUTERS = ["cellsv2.router.CellRouter"]
# The model whose rows are the cells (the framework reads it by name, as AUTH_USER_MODEL).
CELLSV2_CELL_MAPPING_MODEL = "mappings.CellMapping"
# Tables moved to the API database keep their Nova name in both tiers (key_pairs, instance_groups,
# ...). Django warns about a shared db_table; cellsv2.E002 checks the real invariant instead:
# models sharing a table must live in different tiers.
SILENCED_SYSTEM_CHECKS = ["models.W035"]
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"

# --- Cache (shared between processes when Redis or memcached) ------------------------------------
CELLSV2_CACHE_URL = os.environ.get("CELLSV2_CACHE_URL", "locmem://")
try:
    CACHES = {"default": cache_settings(CELLSV2_CACHE_URL)}
except InvalidCacheUrl as exc:
    raise ImproperlyConfigured(str(exc)) from None

# How long the list of cell mappings is cached per process (in-process changes clear it at once).
CELLSV2_CELL_CACHE_SECONDS = env_int("CELLSV2_CELL_CACHE_SECONDS", 60)
# How often a process asks the shared cache whether any process changed a cell mapping: a change
# reaches every process within this many seconds (one cache read per period per process).
CELLSV2_CELL_CHANGE_CHECK_SECONDS = env_int("CELLSV2_CELL_CHANGE_CHECK_SECONDS", 2)
# Nova's CELL_TIMEOUT for scatter_gather_cells.
CELLSV2_SCATTER_GATHER_TIMEOUT = env_int("CELLSV2_SCATTER_GATHER_TIMEOUT", 60)
# Threads that query one cell at once, per process (each cell has its own: a cell whose queries
# hang holds at most these, never the threads of the others).
CELLSV2_CELL_WORKERS = env_int("CELLSV2_CELL_WORKERS", 8)
# Idle pooled connections to cell databases one process keeps, all cells together (PostgreSQL
# pools): beyond it, the least recently used cells' are closed (-1: none closed, each cell's pool
# keeps its own for CELLSV2_DB_POOL_MAX_IDLE); only those of cells no task used for
# CELLSV2_CELL_IDLE_SECONDS are closed, so a process that lists every few seconds keeps them.
CELLSV2_CELL_IDLE_CONNECTIONS = env_int("CELLSV2_CELL_IDLE_CONNECTIONS", 16)
CELLSV2_CELL_IDLE_SECONDS = env_int("CELLSV2_CELL_IDLE_SECONDS", 5)
# A cell that did not answer in time is answered as down (2.69's UNKNOWN records) for this many
# seconds without being asked, while a background probe checks when it is back (0: off).
CELLSV2_CELL_BREAKER_SECONDS = env_int("CELLSV2_CELL_BREAKER_SECONDS", 30)

# --- Compute API --------------------------------------------------------------------------
# token (API tokens, the default) | headers (behind an identity proxy) | noauth (development) |
# keystone (keystonemiddleware's auth_token in front of the compute API, see cellsv2.api.keystone).
# The name is checked here, so a typo stops every command and the server as they start; each
# mode's class is registered by the app that provides it (cellsv2.api.authentication.register_auth_mode).
CELLSV2_AUTH = os.environ.get("CELLSV2_AUTH", "token").strip().lower()
if CELLSV2_AUTH not in ("token", "headers", "noauth", "keystone"):
    raise ImproperlyConfigured(f"CELLSV2_AUTH must be token, headers, noauth or keystone, not {CELLSV2_AUTH!r}")
# CELLSV2_AUTH=keystone: the Keystone that validates tokens, and the credentials of this service's
# own user there (a password user in the service project, or an application credential).
CELLSV2_KEYSTONE = {
    "url": os.environ.get("CELLSV2_KEYSTONE_URL", "").strip(),
    "username": os.environ.get("CELLSV2_KEYSTONE_USERNAME", "").strip(),
    "password": os.environ.get("CELLSV2_KEYSTONE_PASSWORD", ""),
    "project_name": os.environ.get("CELLSV2_KEYSTONE_PROJECT_NAME", "service").strip(),
    "user_domain_name": os.environ.get("CELLSV2_KEYSTONE_USER_DOMAIN_NAME", "Default").strip(),
    "project_domain_name": os.environ.get("CELLSV2_KEYSTONE_PROJECT_DOMAIN_NAME", "Default").strip(),
    "application_credential_id": os.environ.get("CELLSV2_KEYSTONE_APPLICATION_CREDENTIAL_ID", "").strip(),
    "application_credential_secret": os.environ.get("CELLSV2_KEYSTONE_APPLICATION_CREDENTIAL_SECRET", ""),
    "region_name": os.environ.get("CELLSV2_KEYSTONE_REGION", "").strip(),
    # Which of Keystone's catalog endpoints token validation goes to (public, internal or admin).
    "interface": os.environ.get("CELLSV2_KEYSTONE_INTERFACE", "public").strip(),
    # Seconds a validated token is believed without asking Keystone again (keystonemiddleware's
    # token_cache_time; -1: never cached). Kept in CELLSV2_CACHE_URL's cache.
    "token_cache_time": env_int("CELLSV2_KEYSTONE_TOKEN_CACHE_TIME", 300),
    # Seconds to wait for Keystone before answering 503.
    "timeout": env_int("CELLSV2_KEYSTONE_TIMEOUT", 10),
    "cafile": os.environ.get("CELLSV2_KEYSTONE_CAFILE", "").strip(),
}
if CELLSV2_AUTH == "keystone":
    if not CELLSV2_KEYSTONE["url"]:
        raise ImproperlyConfigured("CELLSV2_AUTH=keystone needs CELLSV2_KEYSTONE_URL (Keystone's v3 URL)")
    _appcred = CELLSV2_KEYSTONE["application_credential_id"] or CELLSV2_KEYSTONE["application_credential_secret"]
    if _appcred and not (
        CELLSV2_KEYSTONE["application_credential_id"] and CELLSV2_KEYSTONE["application_credential_secret"]
    ):
        raise ImproperlyConfigured(
            "CELLSV2_KEYSTONE_APPLICATION_CREDENTIAL_ID and CELLSV2_KEYSTONE_APPLICATION_CREDENTIAL_SECRET go together"
        )
    if not _appcred and not (CELLSV2_KEYSTONE["username"] and CELLSV2_KEYSTONE["password"]):
        raise ImproperlyConfigured(
            "CELLSV2_AUTH=keystone needs the service user's CELLSV2_KEYSTONE_USERNAME and "
            "CELLSV2_KEYSTONE_PASSWORD, or CELLSV2_KEYSTONE_APPLICATION_CREDENTIAL_ID and _SECRET"
        )
# Seconds the image service (Glance, from the caller's service catalog) has to answer server create.
CELLSV2_IMAGE_TIMEOUT = env_int("CELLSV2_IMAGE_TIMEOUT", 10)
# The Keystone that issues this cloud's tokens, named in 401 answers' WWW-Authenticate
# (keystonemiddleware's www_authenticate_uri); empty: CELLSV2_KEYSTONE_URL in keystone mode, the
# embedded token scheme otherwise.
CELLSV2_WWW_AUTHENTICATE_URI = os.environ.get("CELLSV2_WWW_AUTHENTICATE_URI", "").strip() or (
    CELLSV2_KEYSTONE["url"] if CELLSV2_AUTH == "keystone" else ""
)
# Nova's [api] max_limit and its request body cap (oslo.middleware's 114688 bytes).
CELLSV2_API_MAX_LIMIT = env_int("CELLSV2_API_MAX_LIMIT", 1000)
CELLSV2_MAX_REQUEST_BODY_SIZE = env_int("CELLSV2_MAX_REQUEST_BODY_SIZE", 114688)
DATA_UPLOAD_MAX_MEMORY_SIZE = CELLSV2_MAX_REQUEST_BODY_SIZE
# Base URL for links in API responses when the API sits behind a proxy (default: the Host header).
CELLSV2_COMPUTE_LINK_PREFIX = os.environ.get("CELLSV2_COMPUTE_LINK_PREFIX", "")
# An operator's policy.yaml (Nova's rule names and format) over the defaults in code; read again
# when it changes. Relative to the directory the process starts in; it must exist when set.
_policy_file = os.environ.get("CELLSV2_POLICY_FILE", "").strip()
CELLSV2_POLICY_FILE = os.path.abspath(_policy_file) if _policy_file else None
# Default quota limits (Nova's [quota] options): the `default` quota class, whose rows in the
# quota_classes table override these; per-project and per-user limits override the class.
CELLSV2_QUOTAS = {
    "instances": env_int("CELLSV2_QUOTA_INSTANCES", 10),
    "cores": env_int("CELLSV2_QUOTA_CORES", 20),
    "ram": env_int("CELLSV2_QUOTA_RAM", 51200),
    "key_pairs": env_int("CELLSV2_QUOTA_KEY_PAIRS", 100),
    "server_groups": env_int("CELLSV2_QUOTA_SERVER_GROUPS", 10),
    "server_group_members": env_int("CELLSV2_QUOTA_SERVER_GROUP_MEMBERS", 10),
    "metadata_items": env_int("CELLSV2_QUOTA_METADATA_ITEMS", 128),
    "injected_files": env_int("CELLSV2_QUOTA_INJECTED_FILES", 5),
    "injected_file_content_bytes": env_int("CELLSV2_QUOTA_INJECTED_FILE_CONTENT_BYTES", 10240),
    "injected_file_path_bytes": env_int("CELLSV2_QUOTA_INJECTED_FILE_PATH_LENGTH", 255),
}

# Servers: the scheduler's default allocation ratios (a node's own ratios win) and zone name.
CELLSV2_ALLOCATION_RATIOS = {"cpu": 4.0, "ram": 1.0, "disk": 1.0}
CELLSV2_DEFAULT_AVAILABILITY_ZONE = "nova"
# Hosts: the zone services other than nova-compute are listed in (Nova's
# internal_service_availability_zone), and Nova's service_down_time: a service that reports (the
# conductor workers) is "down" once its last report is older. Compute hosts have no agent here:
# they never report and are up unless an operator forced them down.
CELLSV2_INTERNAL_AVAILABILITY_ZONE = "internal"
CELLSV2_SERVICE_DOWN_TIME = int(os.environ.get("CELLSV2_SERVICE_DOWN_TIME", "60"))
# inline: place new servers right after the API transaction commits, in the API process;
# worker: leave them to `manage.py conductor` processes.
CELLSV2_CONDUCTOR_MODE = os.environ.get("CELLSV2_CONDUCTOR_MODE", "inline").strip().lower()
if CELLSV2_CONDUCTOR_MODE not in ("inline", "worker"):
    raise ImproperlyConfigured("CELLSV2_CONDUCTOR_MODE must be inline or worker")
# Nova's [compute] max_local_block_devices: local disks one server may ask for (-1: no limit).
CELLSV2_MAX_LOCAL_BLOCK_DEVICES = env_int("CELLSV2_MAX_LOCAL_BLOCK_DEVICES", 3)
# Nova's [api] enable_instance_password: return adminPass on server create.
CELLSV2_ENABLE_INSTANCE_PASSWORD = True
# `status upgrade check` warns about build requests older than this (seconds): a conductor that
# does not run, or cells that do not answer.
CELLSV2_BUILD_REQUEST_MAX_AGE = env_int("CELLSV2_BUILD_REQUEST_MAX_AGE", 600)
# Optional cache of instance uuid -> cell through Django's cache framework (off by default).
CELLSV2_MAPPING_CACHE_SECONDS = env_int("CELLSV2_MAPPING_CACHE_SECONDS", 0)
# Shared secret of the metadata proxy (X-Instance-ID-Signature); the metadata API is off without it.
CELLSV2_METADATA_SECRET = os.environ.get("CELLSV2_METADATA_SECRET", "")
# Nova's [api] dhcp_domain: appended to the guest hostname in metadata ("" for the bare hostname).
CELLSV2_METADATA_DHCP_DOMAIN = os.environ.get("CELLSV2_METADATA_DHCP_DOMAIN", "novalocal")

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": [],
    "UNAUTHENTICATED_USER": None,
    "EXCEPTION_HANDLER": "cellsv2.api.base.compute_exception_handler",
    "DEFAULT_SCHEMA_CLASS": "cellsv2.api.openapi.ComputeAutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "cellsv2 compute API",
    "DESCRIPTION": "Nova-compatible compute API v2.1 (microversions, Nova fault bodies) of cellsv2.",
    "VERSION": "2.1",
    "OAS_VERSION": "3.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SCHEMA_PATH_PREFIX": r"/v2\.1",
    "APPEND_COMPONENTS": {
        "securitySchemes": {
            "X-Auth-Token": {"type": "apiKey", "in": "header", "name": "X-Auth-Token"},
        }
    },
    "DISABLE_ERRORS_AND_WARNINGS": True,
}

# --- The rest ---------------------------------------------------------------------------------
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = Path(os.environ.get("CELLSV2_STATIC_ROOT") or DATA_DIR / "static").resolve()
# WhiteNoise serves what `manage.py collectstatic` put in STATIC_ROOT (compressed copies
# included) and, with no collectstatic run yet, the apps' own static files: a fresh checkout's
# admin is styled under any server. Production settings use hashed names instead.
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {"BACKEND": "whitenoise.storage.CompressedStaticFilesStorage"},
}
WHITENOISE_USE_FINDERS = True

# --- Operations: logs, health check, metrics (cellsv2.observability, deploy/README.md) ------------
# text (the default) or json: one JSON object per line, with the request's id, caller and route.
CELLSV2_LOG_FORMAT = os.environ.get("CELLSV2_LOG_FORMAT", "text").strip().lower()
if CELLSV2_LOG_FORMAT not in FORMATS:
    raise ImproperlyConfigured(f"CELLSV2_LOG_FORMAT must be text or json, not {CELLSV2_LOG_FORMAT!r}")
LOGGING = logging_settings(
    CELLSV2_LOG_FORMAT,
    os.environ.get("CELLSV2_LOG_LEVEL", "WARNING"),
    # This project's apps (their loggers are named after their modules).
    tuple(app for app in INSTALLED_APPS if "." not in app and app not in THIRD_PARTY_APPS),
)
if CELLSV2_LOG_FORMAT == "json":
    # Python's warnings (a library's UserWarning) become log records, so JSON lines too.
    logging.captureWarnings(True)


def _networks(name: str) -> tuple:
    return parse_networks(os.environ.get(name, ""), name)


# Addresses (CIDRs) that get /healthcheck's detailed body (a staff session of the admin gets it too).
CELLSV2_HEALTHCHECK_ALLOWED_ADDRESSES = _networks("CELLSV2_HEALTHCHECK_ALLOWED_ADDRESSES")
# Seconds each cell has to answer the health check's SELECT 1 (and the metrics' cellsv2_cell_up).
CELLSV2_HEALTHCHECK_TIMEOUT = env_int("CELLSV2_HEALTHCHECK_TIMEOUT", 3)
# degraded: a cell other than cell0 down is a reason on a 200; unhealthy: it makes the answer 503.
CELLSV2_HEALTHCHECK_CELL_DOWN = os.environ.get("CELLSV2_HEALTHCHECK_CELL_DOWN", "degraded").strip().lower()
if CELLSV2_HEALTHCHECK_CELL_DOWN not in ("degraded", "unhealthy"):
    raise ImproperlyConfigured("CELLSV2_HEALTHCHECK_CELL_DOWN must be degraded or unhealthy")
# While this file exists the health check answers 503 "DISABLED BY FILE" (drain a node).
CELLSV2_HEALTHCHECK_DISABLE_FILE = os.environ.get("CELLSV2_HEALTHCHECK_DISABLE_FILE", "")
# /metrics: a bearer token Prometheus sends, and/or addresses let in without one (staff sessions always).
CELLSV2_METRICS_TOKEN = os.environ.get("CELLSV2_METRICS_TOKEN", "")
CELLSV2_METRICS_ALLOWED_ADDRESSES = _networks("CELLSV2_METRICS_ALLOWED_ADDRESSES")
# Seconds a scrape-time count that scans every cell (rows left per online migration) is reused.
CELLSV2_METRICS_CACHE_SECONDS = env_int("CELLSV2_METRICS_CACHE_SECONDS", 30)
# HOST:PORT where the conductor and the console proxies serve /metrics and /healthcheck (off when empty).
CELLSV2_METRICS_LISTEN = os.environ.get("CELLSV2_METRICS_LISTEN", "")

# --- Consoles (issue 7) ---------------------------------------------------------------------
# Where console tokens live: "database" (the instance's cell, console_auth_tokens; the default)
# or "cache" (Django's cache framework, alias CONSOLE_TOKENS_CACHE: locmem, Redis or memcached).
# "cache" is DEPRECATED, kept for deployments that used Nova's memcached-backed consoleauth: a
# cache may evict a token before it expires, and the cleanup command has nothing to clean there.
CONSOLE_TOKENS_BACKEND = os.environ.get("CELLSV2_CONSOLE_TOKENS_BACKEND", "database").strip().lower()
if CONSOLE_TOKENS_BACKEND not in ("database", "cache"):
    raise ImproperlyConfigured("CELLSV2_CONSOLE_TOKENS_BACKEND must be database or cache")
CONSOLE_TOKENS_CACHE = os.environ.get("CELLSV2_CONSOLE_TOKENS_CACHE", "default")
# Nova's [consoleauth] token_ttl: seconds a console URL stays valid (multi-use until then).
CELLSV2_CONSOLE_TOKEN_TTL = env_int("CELLSV2_CONSOLE_TOKEN_TTL", 600)
# Nova's [consoleauth] enforce_session_timeout: the proxy closes a session when its token expires.
CELLSV2_CONSOLE_ENFORCE_SESSION_TIMEOUT = env_bool("CELLSV2_CONSOLE_ENFORCE_SESSION_TIMEOUT", True)
# Nova's [vnc]/[spice]/[serial_console]/[mks] enabled, by console protocol.
CELLSV2_CONSOLE_ENABLED = {
    "vnc": env_bool("CELLSV2_CONSOLE_VNC_ENABLED", True),
    "spice": env_bool("CELLSV2_CONSOLE_SPICE_ENABLED", True),
    "serial": env_bool("CELLSV2_CONSOLE_SERIAL_ENABLED", True),
    "mks": env_bool("CELLSV2_CONSOLE_MKS_ENABLED", True),
}
# Base of the access URL handed out per console type (Nova's *_base_url defaults).
CELLSV2_CONSOLE_BASE_URLS = {
    "novnc": os.environ.get("CELLSV2_CONSOLE_NOVNC_BASE_URL", "http://127.0.0.1:6080/vnc_auto.html"),
    "spice-html5": os.environ.get("CELLSV2_CONSOLE_SPICE_HTML5_BASE_URL", "http://127.0.0.1:6082/spice_auto.html"),
    "spice-direct": os.environ.get("CELLSV2_CONSOLE_SPICE_DIRECT_BASE_URL", "http://127.0.0.1:13002/nova"),
    "serial": os.environ.get("CELLSV2_CONSOLE_SERIAL_BASE_URL", "ws://127.0.0.1:6083/"),
    "webmks": os.environ.get("CELLSV2_CONSOLE_WEBMKS_BASE_URL", "http://127.0.0.1:6090/"),
}
# Where a compute host's graphical consoles listen (no hypervisor agent reports them): the host's
# host_ip (else its name) and this port per console type; spice-direct also gets the TLS port.
CELLSV2_CONSOLE_TARGET_PORTS = {"novnc": 5900, "spice-html5": 5900, "spice-direct": 5900, "webmks": 902}
CELLSV2_CONSOLE_SPICE_TLS_PORT: int | None = None
# Nova's [serial_console] port_range, for every compute host; per-host ranges override it:
# {"compute1": "10000:10099"}.
CELLSV2_CONSOLE_SERIAL_PORT_RANGE = os.environ.get("CELLSV2_CONSOLE_SERIAL_PORT_RANGE", "10000:20000")
CELLSV2_CONSOLE_SERIAL_PORT_RANGES: dict[str, str] = {}
# Seconds a console proxy's hold on a connected serial port lasts unless renewed (a proxy that
# dies frees its ports after this long).
CELLSV2_CONSOLE_SERIAL_LEASE_SECONDS = env_int("CELLSV2_CONSOLE_SERIAL_LEASE_SECONDS", 30)
# Concurrent sessions one console token may hold open in one proxy process (0: no limit; not in
# Nova). A leaked URL cannot open connections to the console without bound; a browser that
# reconnects while its old socket is still closing stays well under the default.
CELLSV2_CONSOLE_MAX_SESSIONS_PER_TOKEN = env_int("CELLSV2_CONSOLE_MAX_SESSIONS_PER_TOKEN", 4)
# Nova's [console] allowed_origins: Origin host names the console proxy accepts besides its own Host.
CELLSV2_CONSOLE_ALLOWED_ORIGINS = [
    h.strip() for h in os.environ.get("CELLSV2_CONSOLE_ALLOWED_ORIGINS", "").split(",") if h.strip()
]
