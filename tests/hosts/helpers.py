"""Helpers of the hosts tests: the compute API as an admin, and tempest's response check."""

import json
from dataclasses import dataclass

ADMIN = "admin:admin"
MEMBER = "alice:proj1"


@dataclass
class Hosts:
    cells: dict
    server_uuid: str


class Api:
    def __init__(self, client):
        self.client = client

    def __call__(self, method, path, *, token=ADMIN, version=None, body=None):
        headers = {"HTTP_X_AUTH_TOKEN": token}
        if version is not None:
            headers["HTTP_X_OPENSTACK_NOVA_API_VERSION"] = version
        kwargs = {}
        if body is not None:
            kwargs = {"data": json.dumps(body), "content_type": "application/json"}
        return getattr(self.client, method)(f"/v2.1{path}", **kwargs, **headers)


def tempest_valid(schema: dict, response) -> dict:
    """The response's body, after tempest's own check of status code and body against ``schema``."""
    from tempest.lib.common.rest_client import RestClient

    class Resp(dict):
        status = response.status_code

    body = response.json() if response.content else None
    RestClient.validate_response(schema, Resp(response.headers), body)
    return body
