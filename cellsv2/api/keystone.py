"""``CELLSV2_AUTH=keystone``: keystonemiddleware's ``auth_token`` in front of the compute API.

Every OpenStack service validates tokens with keystonemiddleware; so does this one, with the same
options (from ``CELLSV2_KEYSTONE_*``, see settings and README), the same 401 body and
``WWW-Authenticate: Keystone uri="..."`` challenge, and the same headers describing the caller
(``X-User-Id``, ``X-Project-Id``, ``X-Roles``, ``OpenStack-System-Scope``, ``X-Service-Catalog``...).

Why a Django middleware that runs ``AuthProtocol`` on the request's WSGI environ, rather than
``AuthProtocol`` wrapped around the whole WSGI application as Nova's paste pipeline does:

- only the compute API needs a caller: the version documents, the metadata service (the Neutron
  proxy's signature), the admin (Django sessions), ``/healthcheck`` and ``/metrics`` stay outside,
  without ``delay_auth_decision`` letting unauthenticated requests into the API;
- the request id, access log line, metrics and version headers of the layers above see the 401s
  and 503s too, and a failure of the middleware itself becomes a fault instead of a bare 500;
- Django's test client and every process serving ``cellsv2.wsgi`` get it from settings alone.

``AuthProtocol`` is called with a tiny downstream application that only records that the request
was let through: it edits the environ in place (removes caller-supplied identity headers, sets the
validated ones), which is ``request.META``, where ``KeystoneAuthentication`` reads the caller.

Token cache: keystonemiddleware's ``cache`` option (a cache object in the environ) is given
Django's cache, i.e. whatever ``CELLSV2_CACHE_URL`` names (Redis, memcached or per process). One
setting for every shared cache, Redis supported (``memcached_servers`` is memcached only and needs
python-memcached), and a cache that fails is a miss (a token validated again), never an error.
"""

import functools
import json
import logging

from django.conf import settings
from django.core.cache import cache
from django.core.signals import setting_changed
from django.dispatch import receiver
from django.http import HttpResponse

from cellsv2.api.authentication import ComputeAuthentication, ComputeContext, expand_roles
from cellsv2.api.faults import fault_response
from cellsv2.api.middleware import API_PREFIX, is_api_path

logger = logging.getLogger("cellsv2.api.keystone")

AUTHTOKEN_GROUP = "keystone_authtoken"
ENVIRON_CACHE = "cellsv2.keystone_token_cache"
_PASSED = "cellsv2.keystone_passed"
UNAVAILABLE_MESSAGE = "The Keystone service is temporarily unavailable."


class DjangoTokenCache:
    """keystonemiddleware's cache interface (``get(key)``, ``set(key, value, time=)``) over Django's cache."""

    prefix = "keystone-token:"

    def get(self, key):
        try:
            return cache.get(self.prefix + key)
        except Exception:  # a cache that is down must cost a token validation, not the request
            logger.warning("Token cache unavailable for a read", exc_info=True)
            return None

    def set(self, key, value, time=0):
        try:
            cache.set(self.prefix + key, value, timeout=time if time and time > 0 else None)
        except Exception:
            logger.warning("Token cache unavailable for a write", exc_info=True)


def _downstream(environ, start_response):
    """What AuthProtocol calls when it lets a request through: the Django view runs afterwards."""
    environ[_PASSED] = True
    start_response("204 No Content", [])
    return [b""]


def keystone_config(options: dict):
    """A private oslo.config object with auth_token's options and its auth plugin's set from ``options``.

    Private so nothing reads sys.argv or /etc/*.conf (as oslo.policy's options in cellsv2.api.policy).
    """
    from keystoneauth1 import loading
    from keystonemiddleware.auth_token import _opts
    from oslo_config import cfg

    conf = cfg.ConfigOpts()
    conf([], project="cellsv2", default_config_files=[], default_config_dirs=[])
    for group, opts in _opts.list_opts():
        conf.register_opts(opts, group=group)
    conf.register_opts(loading.get_auth_common_conf_options(), group=AUTHTOKEN_GROUP)
    appcred = bool(options.get("application_credential_id"))
    plugin = "v3applicationcredential" if appcred else "password"
    conf.register_opts(loading.get_auth_plugin_conf_options(plugin), group=AUTHTOKEN_GROUP)
    values = {
        "auth_type": plugin,
        "auth_url": options["url"],
        "www_authenticate_uri": settings.CELLSV2_WWW_AUTHENTICATE_URI or options["url"],
        "interface": options.get("interface") or "public",
        "region_name": options.get("region_name") or None,
        "service_type": "compute",
        "include_service_catalog": True,
        "delay_auth_decision": False,
        "cache": ENVIRON_CACHE,
        "token_cache_time": options["token_cache_time"],
        "http_connect_timeout": options["timeout"],
        "http_request_max_retries": 1,
        "cafile": options.get("cafile") or None,
    }
    if appcred:
        values.update(
            application_credential_id=options["application_credential_id"],
            application_credential_secret=options["application_credential_secret"],
        )
    else:
        values.update(
            username=options["username"],
            password=options["password"],
            project_name=options["project_name"],
            user_domain_name=options["user_domain_name"],
            project_domain_name=options["project_domain_name"],
        )
    for name, value in values.items():
        if value is not None:
            conf.set_override(name, value, group=AUTHTOKEN_GROUP)
    return conf


@functools.cache
def auth_protocol():
    """The process' AuthProtocol (its service-user session and discovery are reused across requests)."""
    from keystonemiddleware import auth_token

    return auth_token.AuthProtocol(_downstream, {"oslo_config_config": keystone_config(settings.CELLSV2_KEYSTONE)})


@receiver(setting_changed)
def _setting_changed(setting, **kwargs):
    if setting in ("CELLSV2_KEYSTONE", "CELLSV2_WWW_AUTHENTICATE_URI"):
        auth_protocol.cache_clear()


def needs_caller(path: str) -> bool:
    """The compute API except its version document (which Nova serves without a token)."""
    return is_api_path(path) and path not in (API_PREFIX, API_PREFIX + "/")


def keystone_rejection(environ: dict) -> HttpResponse | None:
    """Run auth_token on ``environ``: None if it let the request through (the caller is in the
    environ), else the response to send (Keystone's 401, or a 503 when Keystone cannot answer)."""
    environ[ENVIRON_CACHE] = _TOKEN_CACHE
    answer = {}

    def start_response(status, headers, exc_info=None):
        answer.update(status=int(status.split(" ", 1)[0]), headers=headers)

    try:
        body = b"".join(auth_protocol()(environ, start_response))
    except Exception:
        # A Keystone answering garbage, a catalog without an identity endpoint, a service user
        # whose password changed: the client cannot fix any of it, and it is not our bug.
        logger.exception("keystonemiddleware failed to validate a token")
        return fault_response(503, UNAVAILABLE_MESSAGE)
    if environ.pop(_PASSED, False):
        return None
    if answer["status"] == 503:
        # keystonemiddleware's own 503 is webob's HTML page; the API answers faults.
        return fault_response(503, UNAVAILABLE_MESSAGE)
    response = HttpResponse(body, status=answer["status"])
    for name, value in answer["headers"]:
        response[name] = value
    return response


_TOKEN_CACHE = DjangoTokenCache()


class KeystoneAuthTokenMiddleware:
    """auth_token on the compute API when CELLSV2_AUTH=keystone; nothing otherwise."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if settings.CELLSV2_AUTH == "keystone" and needs_caller(request.path_info):
            rejection = keystone_rejection(request.META)
            if rejection is not None:
                return rejection
        return self.get_response(request)


def _roles(value: str | None) -> list[str]:
    return [role for role in (value or "").split(",") if role.strip()]


class KeystoneAuthentication(ComputeAuthentication):
    """The caller keystonemiddleware validated (the headers it set, as oslo.context reads them)."""

    def authenticate(self, request):
        meta = request.META
        if meta.get("HTTP_X_IDENTITY_STATUS") != "Confirmed" or not meta.get("HTTP_X_USER_ID"):
            return None
        try:
            catalog = json.loads(meta.get("HTTP_X_SERVICE_CATALOG") or "[]")
        except ValueError:
            catalog = []
        service_confirmed = meta.get("HTTP_X_SERVICE_IDENTITY_STATUS") == "Confirmed"
        context = ComputeContext(
            user_id=meta["HTTP_X_USER_ID"],
            # A system- or domain-scoped token has no project.
            project_id=meta.get("HTTP_X_PROJECT_ID") or "",
            roles=expand_roles(_roles(meta.get("HTTP_X_ROLES"))),
            user_domain_id=meta.get("HTTP_X_USER_DOMAIN_ID"),
            project_domain_id=meta.get("HTTP_X_PROJECT_DOMAIN_ID"),
            system_scope=meta.get("HTTP_OPENSTACK_SYSTEM_SCOPE"),
            domain_id=meta.get("HTTP_X_DOMAIN_ID"),
            is_admin_project=meta.get("HTTP_X_IS_ADMIN_PROJECT", "True").lower() == "true",
            service_user_id=meta.get("HTTP_X_SERVICE_USER_ID") if service_confirmed else None,
            service_user_domain_id=meta.get("HTTP_X_SERVICE_USER_DOMAIN_ID") if service_confirmed else None,
            service_project_id=meta.get("HTTP_X_SERVICE_PROJECT_ID") if service_confirmed else None,
            service_project_domain_id=meta.get("HTTP_X_SERVICE_PROJECT_DOMAIN_ID") if service_confirmed else None,
            service_roles=frozenset(_roles(meta.get("HTTP_X_SERVICE_ROLES"))) if service_confirmed else frozenset(),
            auth_token=meta.get("HTTP_X_AUTH_TOKEN"),
            service_catalog=tuple(catalog) if isinstance(catalog, list) else (),
        )
        return context, context
