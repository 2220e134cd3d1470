"""Request schemas of the console API (nova/api/openstack/compute/schemas/remote_consoles.py)."""

from cellsv2.api.microversions import APIVersion


def _legacy(action: str, types: list[str]) -> dict:
    return {
        "type": "object",
        "properties": {
            action: {
                "type": "object",
                "properties": {"type": {"type": "string", "enum": types}},
                "required": ["type"],
                "additionalProperties": False,
            },
        },
        "required": [action],
        "additionalProperties": False,
    }


GET_VNC_CONSOLE = _legacy("os-getVNCConsole", ["novnc", "xvpvnc"])
GET_SPICE_CONSOLE = _legacy("os-getSPICEConsole", ["spice-html5"])
GET_SERIAL_CONSOLE = _legacy("os-getSerialConsole", ["serial"])


def create_schema(version: APIVersion) -> dict:
    """``remote_console{protocol,type}``: rdp stays in the enums (and is refused with 400), mks and
    webmks come with 2.8, spice-direct with 2.99."""
    protocols = ["vnc", "spice", "serial", "rdp"]
    types = ["novnc", "xvpvnc", "spice-html5", "serial", "rdp-html5"]
    if version >= "2.8":
        protocols.append("mks")
        types.append("webmks")
    if version >= "2.99":
        types.append("spice-direct")
    return {
        "type": "object",
        "properties": {
            "remote_console": {
                "type": "object",
                "properties": {
                    "protocol": {"type": "string", "enum": protocols},
                    "type": {"type": "string", "enum": types},
                },
                "required": ["protocol", "type"],
                "additionalProperties": False,
            },
        },
        "required": ["remote_console"],
        "additionalProperties": False,
    }


# From 2.99 the token lookup refuses query parameters.
SHOW_TOKEN_QUERY_V299 = {"type": "object", "properties": {}, "additionalProperties": False}

REMOTE_CONSOLE_RESPONSE = {
    "type": "object",
    "properties": {
        "remote_console": {
            "type": "object",
            "properties": {"protocol": {"type": "string"}, "type": {"type": "string"}, "url": {"type": "string"}},
            "required": ["protocol", "type", "url"],
        }
    },
}
CONSOLE_RESPONSE = {
    "type": "object",
    "properties": {
        "console": {
            "type": "object",
            "properties": {"type": {"type": "string"}, "url": {"type": "string"}},
            "required": ["type", "url"],
        }
    },
}
TOKEN_RESPONSE = {
    "type": "object",
    "properties": {
        "console": {
            "type": "object",
            "properties": {
                "instance_uuid": {"type": "string", "format": "uuid"},
                "host": {"type": ["string", "null"]},
                "port": {"type": "integer"},
                "internal_access_path": {"type": ["string", "null"]},
                "tls_port": {"type": ["integer", "null"], "description": "2.99+, spice-direct tokens only"},
            },
            "required": ["instance_uuid", "host", "port", "internal_access_path"],
        }
    },
}
