"""The ``token`` authentication mode (``CELLSV2_AUTH=token``, the default): API tokens (API database).

A token from ``manage.py identity token_create`` in ``X-Auth-Token`` names its user and project;
the user's role assignments on that project give the roles. Registered by ``IdentityConfig.ready()``.
"""

from django.utils import timezone

from cellsv2.api.authentication import ComputeAuthentication, ComputeContext, expand_roles
from cellsv2.api.faults import Unauthorized
from identity import selectors


class TokenAuthentication(ComputeAuthentication):
    """API tokens from ``manage.py identity token_create`` in X-Auth-Token (API database)."""

    def authenticate(self, request):
        token = request.headers.get("X-Auth-Token")
        if not token:
            return None
        if len(token) > 512:
            raise Unauthorized()
        row = selectors.token_find(token=token)
        if row is None or not row.user.is_active or not row.project.enabled:
            raise Unauthorized()
        if row.expires_at is not None and row.expires_at <= timezone.now():
            raise Unauthorized()
        roles = selectors.role_names(user=row.user, project=row.project)
        context = ComputeContext(
            user_id=row.user.username, project_id=row.project.project_id, roles=expand_roles(roles)
        )
        return context, context
