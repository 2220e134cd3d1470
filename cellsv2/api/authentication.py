"""Who is calling: the request context, the authentication modes and their registry.

``CELLSV2_AUTH`` picks one mode; each is a DRF authentication class registered under its name with
``register_auth_mode()`` by the app that provides it, in its ``AppConfig.ready()``:

- ``token`` (default, registered by the ``identity`` app): ``X-Auth-Token`` is an API token made
  with ``manage.py identity``; the token names the user and project, and the user's role
  assignments on that project give roles.
- ``headers``: behind an identity proxy that has already authenticated the caller and sets
  ``X-User-Id``, ``X-Project-Id`` and ``X-Roles`` (keystonemiddleware's headers).
- ``keystone`` (cellsv2.api.keystone): keystonemiddleware's auth_token validated the token with
  Keystone; the caller is what the token says.
- ``noauth``: development and tests. ``X-Auth-Token: user:project`` (no colon: the project is the
  user); the user ``admin`` is an admin, everybody else a member.

``headers``, ``noauth`` and ``keystone`` need no models: they are defined here and registered by cellsv2's own
``ready()``. A mode nobody registered is an ImproperlyConfigured error at first use and a system
check error (cellsv2.E003); an unknown name is refused when the settings are read.
Roles are expanded as Keystone's implied roles do: admin ⇒ member ⇒ reader.
"""

from dataclasses import dataclass, field

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from rest_framework.authentication import BaseAuthentication

from cellsv2.api.faults import Unauthorized

IMPLIED_ROLES = {"admin": ("member", "reader"), "member": ("reader",)}


def expand_roles(roles) -> frozenset[str]:
    """Add the roles each role implies (admin ⇒ member ⇒ reader)."""
    expanded = set()
    pending = [r.strip().lower() for r in roles if r and r.strip()]
    while pending:
        role = pending.pop()
        if role not in expanded:
            expanded.add(role)
            pending.extend(IMPLIED_ROLES.get(role, ()))
    return frozenset(expanded)


@dataclass(frozen=True)
class ComputeContext:
    """The caller of an API request (Nova's RequestContext, the parts the API needs)."""

    user_id: str
    project_id: str
    roles: frozenset[str] = field(default_factory=frozenset)
    # The rest of what a Keystone token says (oslo.context's policy values). The defaults are a
    # project-scoped token, which is what every mode of cellsv2's own gives.
    user_domain_id: str | None = None
    project_domain_id: str | None = None
    system_scope: str | None = None
    domain_id: str | None = None
    is_admin_project: bool = True
    service_user_id: str | None = None
    service_user_domain_id: str | None = None
    service_project_id: str | None = None
    service_project_domain_id: str | None = None
    service_roles: frozenset[str] = field(default_factory=frozenset)
    # CELLSV2_AUTH=keystone: the caller's token and its service catalog, for calls to other services
    # on the caller's behalf (Glance). Never compared, hashed or shown.
    auth_token: str | None = field(default=None, compare=False, repr=False)
    service_catalog: tuple = field(default=(), compare=False, repr=False)

    @property
    def is_admin(self) -> bool:
        return "admin" in self.roles

    # DRF and Django treat request.user as a user object.
    is_authenticated = True
    is_anonymous = False

    @property
    def pk(self):
        return self.user_id


class ComputeAuthentication(BaseAuthentication):
    """The base of every mode: the challenge a 401 carries."""

    def authenticate_header(self, request):
        # keystonemiddleware names the Keystone that issues tokens; without one (the embedded
        # modes) the challenge names this API's own token scheme, never a Keystone that is not there.
        if settings.CELLSV2_WWW_AUTHENTICATE_URI:
            return f'Keystone uri="{settings.CELLSV2_WWW_AUTHENTICATE_URI}"'
        return 'Token realm="cellsv2"'


class HeaderAuthentication(ComputeAuthentication):
    """Identity from a trusted proxy: X-User-Id, X-Project-Id, X-Roles."""

    def authenticate(self, request):
        user_id = request.headers.get("X-User-Id") or request.headers.get("X-User")
        project_id = request.headers.get("X-Project-Id") or request.headers.get("X-Tenant-Id")
        if not user_id or not project_id:
            return None
        roles = expand_roles((request.headers.get("X-Roles") or "").split(","))
        context = ComputeContext(user_id=user_id, project_id=project_id, roles=roles)
        return context, context


class NoAuthAuthentication(ComputeAuthentication):
    """``X-Auth-Token: user:project``; ``admin`` is an admin (Nova's historic noauth2)."""

    def authenticate(self, request):
        token = request.headers.get("X-Auth-Token")
        if not token:
            return None
        user_id, _, project_id = token.partition(":")
        user_id, project_id = user_id.strip(), (project_id.strip() or user_id.strip())
        if not user_id or len(token) > 512:
            raise Unauthorized()
        roles = expand_roles(["admin"] if user_id == "admin" else ["member"])
        context = ComputeContext(user_id=user_id, project_id=project_id, roles=roles)
        return context, context


_AUTH_MODES: dict[str, type[BaseAuthentication]] = {}


def register_auth_mode(name: str, authentication_class: type[BaseAuthentication]) -> None:
    """Make ``authentication_class`` the authentication of ``CELLSV2_AUTH=name`` (call from ``ready()``).

    Registering the same class again is harmless; another class under a taken name is an error.
    """
    registered = _AUTH_MODES.get(name)
    if registered is not None and registered is not authentication_class:
        raise ImproperlyConfigured(
            f"Authentication mode {name!r} is already registered ({registered.__module__}.{registered.__qualname__})"
        )
    _AUTH_MODES[name] = authentication_class


def auth_modes() -> list[str]:
    """The names of the registered authentication modes, in registration order."""
    return list(_AUTH_MODES)


def unregistered_auth_mode_message(mode: str) -> str:
    """What the system check and the first request say when no installed app registered ``mode``."""
    return (
        f"CELLSV2_AUTH={mode} but no installed app provides that authentication mode "
        f"(registered: {', '.join(sorted(_AUTH_MODES)) or 'none'})"
    )


def authentication_classes():
    """The authentication class of the configured mode (CELLSV2_AUTH)."""
    mode = settings.CELLSV2_AUTH
    try:
        return [_AUTH_MODES[mode]]
    except KeyError:
        raise ImproperlyConfigured(unregistered_auth_mode_message(mode)) from None
