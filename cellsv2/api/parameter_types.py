"""Nova's shared JSON-schema parameter types (nova/api/validation/parameter_types.py).

Every app's ``api/schemas.py`` builds its request schemas from these, so one value means the same
thing in every API: a boolean accepts exactly Nova's spellings, a name Nova's printable rule
(the ``name`` format of cellsv2.api.validation), an integer given as a string only digits.
"""

# parameter_types.boolean: what Nova's schemas accept as true or false, and nothing else (not
# oslo's "y", "t", "n" or "f").
BOOLEAN = {
    "type": ["boolean", "string"],
    "enum": [True, "True", "TRUE", "true", "1", "ON", "On", "on", "YES", "Yes", "yes",
             False, "False", "FALSE", "false", "0", "OFF", "Off", "off", "NO", "No", "no"],
}  # fmt: skip

# parameter_types.name: 1-255 printable characters, no leading or trailing whitespace.
NAME = {"type": "string", "minLength": 1, "maxLength": 255, "format": "name"}

UUID = {"type": "string", "format": "uuid"}

# parameter_types.positive_integer and non_negative_integer: an integer or a string of digits.
POSITIVE_INTEGER = {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1, "minLength": 1}
NON_NEGATIVE_INTEGER = {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0, "minLength": 1}

# parameter_types.hostname and fqdn.
HOSTNAME = {"type": "string", "minLength": 1, "maxLength": 63, "pattern": r"^[a-zA-Z0-9-._]*$"}
FQDN = {"type": "string", "minLength": 1, "maxLength": 255, "pattern": r"^[a-zA-Z0-9-._]*$"}

# parameter_types.metadata: keys of 1-255 of these characters, string values of at most 255.
METADATA = {
    "type": "object",
    "patternProperties": {"^[a-zA-Z0-9-_:. ]{1,255}$": {"type": "string", "maxLength": 255}},
    "additionalProperties": False,
}


def multi_params(schema: dict) -> dict:
    """parameter_types.multi_params: a query parameter that may be repeated (a list of values)."""
    return {"type": "array", "items": schema}
