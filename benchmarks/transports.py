"""How requests reach a WSGI app: in-process (django.test.Client) or real HTTP on 127.0.0.1.

- ``direct``: django.test.Client, no socket, no HTTP parsing: the counterpart of the anchor's
  Nova ``direct`` transport and its floor's ``client`` transport (server-side cost only);
- ``http``: ``requests.request()`` per call (a new TCP connection each time, as Nova's
  TestOpenStackClient and the anchor's floor) to a stdlib ``wsgiref`` server thread in this
  process, bound to 127.0.0.1: the same as the anchor's ``http``.
"""

import json
import threading
from wsgiref import simple_server


class CallFailed(RuntimeError):
    pass


OK = (200, 201, 202, 204)


class DirectTransport:
    name = "direct"

    def __init__(self, client, headers: dict[str, str] | None = None):
        self.client = client
        self.extra = {"HTTP_" + k.upper().replace("-", "_"): v for k, v in (headers or {}).items()}

    def call(self, method: str, path: str, body=None, ok=OK):
        fn = getattr(self.client, method.lower())
        if body is not None:
            response = fn(path, data=json.dumps(body), content_type="application/json", **self.extra)
        else:
            response = fn(path, **self.extra)
        if response.status_code not in ok:
            raise CallFailed(f"{method} {path} -> {response.status_code} {response.content[:300]!r}")
        return json.loads(response.content) if response.content else None

    def close(self):
        pass


class _QuietHandler(simple_server.WSGIRequestHandler):
    def log_message(self, *args, **kwargs):
        pass


class WsgirefServer:
    """A wsgiref server thread on 127.0.0.1 (an ephemeral port) serving ``app``."""

    def __init__(self, app):
        self.server = simple_server.make_server("127.0.0.1", 0, app, handler_class=_QuietHandler)
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


class HttpTransport:
    name = "http"

    def __init__(self, base: str, headers: dict[str, str] | None = None):
        import requests

        self.requests = requests
        self.base = base
        self.headers = {"Content-Type": "application/json", **(headers or {})}

    def call(self, method: str, path: str, body=None, ok=OK):
        response = self.requests.request(
            method, self.base + path, data=json.dumps(body) if body is not None else None, headers=self.headers
        )
        if response.status_code not in ok:
            raise CallFailed(f"{method} {path} -> {response.status_code} {response.text[:300]}")
        return response.json() if response.content else None

    def close(self):
        pass


def our_wsgi_application():
    from django.core.handlers.wsgi import WSGIHandler

    return WSGIHandler()
