"""Nova's request schemas of the flavor API (nova/api/openstack/compute/schemas/flavors.py).

The same dicts validate the requests and document them; changing one changes the API.
"""

import copy

from cellsv2.api import validation
from cellsv2.api.faults import BadRequest
from cellsv2.api.parameter_types import BOOLEAN, NAME
from flavors.selectors import FLAVOR_SORT_DIRS, FLAVOR_SORT_KEYS
from flavors.services import MAX_INT, SQL_SP_FLOAT_MAX

# parameter_types.valid_description_regex: printable characters and spaces, any number of them.
VALID_DESCRIPTION_REGEX = f"^[{validation.printable_ranges()}]*$"

NAME_WITH_LEADING_TRAILING_SPACES = {
    "type": "string",
    "minLength": 1,
    "maxLength": 255,
    "format": "name_with_leading_trailing_spaces",
}
FLAVOR_PARAM_POSITIVE = {"type": ["integer", "string"], "pattern": "^[0-9]+$", "minimum": 1, "maximum": MAX_INT}
FLAVOR_PARAM_NON_NEGATIVE = {**FLAVOR_PARAM_POSITIVE, "minimum": 0}

CREATE = {
    "type": "object",
    "properties": {
        "flavor": {
            "type": "object",
            "properties": {
                "name": NAME,
                # No leading or trailing spaces.
                "id": {
                    "type": ["string", "number", "null"],
                    "minLength": 1,
                    "maxLength": 255,
                    "pattern": "^(?! )[a-zA-Z0-9. _-]+(?<! )$",
                },
                "ram": FLAVOR_PARAM_POSITIVE,
                "vcpus": FLAVOR_PARAM_POSITIVE,
                "disk": FLAVOR_PARAM_NON_NEGATIVE,
                "OS-FLV-EXT-DATA:ephemeral": FLAVOR_PARAM_NON_NEGATIVE,
                "swap": FLAVOR_PARAM_NON_NEGATIVE,
                # A positive float (draft 4: minimum with a boolean exclusiveMinimum).
                "rxtx_factor": {
                    "type": ["number", "string"],
                    "pattern": r"^[0-9]+(\.[0-9]+)?$",
                    "minimum": 0,
                    "exclusiveMinimum": True,
                    "maximum": SQL_SP_FLOAT_MAX,
                },
                "os-flavor-access:is_public": BOOLEAN,
            },
            "required": ["name", "ram", "vcpus", "disk"],
            "additionalProperties": False,
        },
    },
    "required": ["flavor"],
    "additionalProperties": False,
}

# 2.55: an optional description, up to the 64 KiB of its TEXT column.
FLAVOR_DESCRIPTION = {
    "type": ["string", "null"],
    "minLength": 0,
    "maxLength": 65535,
    "pattern": VALID_DESCRIPTION_REGEX,
}

CREATE_V255 = copy.deepcopy(CREATE)
CREATE_V255["properties"]["flavor"]["properties"]["description"] = FLAVOR_DESCRIPTION

UPDATE_V255 = {
    "type": "object",
    "properties": {
        "flavor": {
            "type": "object",
            "properties": {"description": FLAVOR_DESCRIPTION},
            "required": ["description"],
            "additionalProperties": False,
        },
    },
    "required": ["flavor"],
    "additionalProperties": False,
}

INDEX_QUERY = {
    "type": "object",
    "properties": {
        "limit": validation.single_param(validation.non_negative_integer_string),
        "marker": validation.single_param({"type": "string"}),
        "is_public": validation.single_param({"type": "string"}),
        "minRam": validation.single_param({"type": "string"}),
        "minDisk": validation.single_param({"type": "string"}),
        "sort_key": validation.single_param({"type": "string", "enum": list(FLAVOR_SORT_KEYS)}),
        "sort_dir": validation.single_param({"type": "string", "enum": list(FLAVOR_SORT_DIRS)}),
    },
    # Unknown parameters are ignored until 2.75, refused from 2.75.
    "additionalProperties": True,
}
INDEX_QUERY_V275 = {**INDEX_QUERY, "additionalProperties": False}


def _number_from_str(value):
    try:
        return int(value)
    except (TypeError, ValueError):
        try:
            return float(value)
        except (TypeError, ValueError):
            return None


def check_string_bounds(schema: dict, body: dict) -> None:
    """Apply minimum/maximum to numeric strings of ``body["flavor"]``, as Nova's validator does.

    Nova's _SchemaValidator converts a string such as ``"0"`` to a number before checking
    ``minimum``/``maximum``; plain JSON Schema skips bounds on strings. Call after the schema
    passed. Raises BadRequest with Nova's message for the first field out of range.
    """
    fields = schema["properties"]["flavor"]["properties"]
    values = body["flavor"]
    for name, field in fields.items():
        value = values.get(name)
        if not isinstance(value, str) or not ("minimum" in field or "maximum" in field):
            continue
        number = _number_from_str(value)
        if number is None:
            continue
        message = None
        if "minimum" in field:
            minimum = field["minimum"]
            if field.get("exclusiveMinimum") and number <= minimum:
                message = f"{number!r} is less than or equal to the minimum of {minimum!r}"
            elif number < minimum:
                message = f"{number!r} is less than the minimum of {minimum!r}"
        if message is None and "maximum" in field and number > field["maximum"]:
            message = f"{number!r} is greater than the maximum of {field['maximum']!r}"
        if message is not None:
            raise BadRequest(f"Invalid input for field/attribute {name}. Value: {value}. {message}")
