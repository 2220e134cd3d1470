"""The server group API client and row readers of the server group tests (rows are written with tests/factories.py)."""

import json

from cellsv2.context import target_cell

MEMBER = "alice:proj1"
OTHER = "bob:proj2"
ADMIN = "admin:admin"


class Api:
    def __init__(self, client):
        self.client = client

    def __call__(self, method, path, *, token=MEMBER, version=None, body=None, raw=None, headers=None):
        extra = {"HTTP_X_AUTH_TOKEN": token} if token else {}
        extra.update(headers or {})
        if version is not None:
            extra["HTTP_X_OPENSTACK_NOVA_API_VERSION"] = version
        kwargs = {}
        if body is not None or raw is not None:
            kwargs = {"data": raw if raw is not None else json.dumps(body), "content_type": "application/json"}
        return getattr(self.client, method)(f"/v2.1{path}", **kwargs, **extra)

    def create(self, version="2.1", token=MEMBER, **group):
        return self("post", "/os-server-groups", version=version, token=token, body={"server_group": group})


def legacy_rows(cell, model, *, live=True) -> int:
    """How many rows of a legacy model a cell holds (live ones, or soft-deleted ones)."""
    with target_cell(cell):
        rows = model.objects.live() if live else model.objects.only_deleted()
        return rows.count()
