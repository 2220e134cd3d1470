"""Console access URLs: the base URL of the console type, the token, and the instance uuid.

As Nova's ``ConsoleAuthToken.access_url``: noVNC (>= 1.1) takes the token inside its ``path``
query parameter, which it appends to the WebSocket URL it opens; every other type gets
``?token=``. We add ``instance_uuid`` next to the token (inside ``path`` for noVNC, so the proxy
sees it) so the proxy finds the token's cell without asking every cell, and refuses a token
presented for another instance.
"""

from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit


def access_url(*, console_type: str, base: str, token: str, instance_uuid: str) -> str:
    """The URL a client opens to reach the console (it holds the token: never log it)."""
    credentials = urlencode({"token": token, "instance_uuid": instance_uuid})
    parts = urlsplit(base)
    if console_type == "novnc":
        query = parse_qsl(parts.query, keep_blank_values=True)
        path = next((value for key, value in query if key == "path"), "")
        query = [(k, v) for k, v in query if k != "path"] + [("path", f"{path}?{credentials}")]
        return urlunsplit(parts._replace(query=urlencode(query)))
    separator = "&" if parts.query else "?"
    return f"{base}{separator}{credentials}"
