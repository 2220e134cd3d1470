"""Request validation with JSON Schema, worded exactly as Nova words it.

Nova validates bodies and query strings with JSON Schema (``nova/api/validation``); clients and
tempest see its messages, so we use the same schemas and the same message templates:

- a body field: ``Invalid input for field/attribute <name>. Value: <value>. <message>``
- a query parameter: ``Invalid input for query parameters <name>. Value: <value>. <message>``
- no path (a missing top-level key, an extra property): the jsonschema message alone
- the ``name`` format: Nova's InvalidName message.
"""

import re
import unicodedata
import uuid

import jsonschema

from cellsv2.api.faults import BadRequest

_format_checker = jsonschema.FormatChecker()


class InvalidName(ValueError):
    pass


INVALID_NAME_MESSAGE = (
    "An invalid 'name' value was provided. The name must be: printable characters. "
    "Can not start or end with whitespace."
)
INVALID_NAME_LEADING_TRAILING_SPACES = (
    "An invalid 'name' value was provided. The name must be: printable characters with at least one "
    "non space character"
)


def is_printable(char: str) -> bool:
    """Nova's parameter_types printable character: no control, format, private-use or surrogate
    character, no line or paragraph separator (horizontal spaces are printable), and only in the
    Basic Multilingual Plane its regexes span (U+0000..U+FFFE): an emoji is not printable.
    """
    if ord(char) >= 0xFFFF:
        return False
    category = unicodedata.category(char)
    return not category.startswith("C") and (not category.startswith("Z") or category == "Zs")


def _is_space(char: str) -> bool:
    return unicodedata.category(char) == "Zs"


def printable_ranges() -> str:
    """Every printable character (is_printable) as regex character-class ranges, as Nova builds them."""
    ranges, start, previous = [], None, None
    for code in range(0xFFFF):
        if is_printable(chr(code)):
            if start is None:
                start = code
            previous = code
        elif start is not None:
            ranges.append((start, previous))
            start = None
    if start is not None:
        ranges.append((start, previous))
    return "".join(
        re.escape(chr(first)) if first == last else f"{re.escape(chr(first))}-{re.escape(chr(last))}"
        for first, last in ranges
    )


@_format_checker.checks("name", raises=InvalidName)
def _check_name(value) -> bool:
    # Nova's valid_name_regex: printable characters, neither first nor last a space (Zs).
    if not isinstance(value, str):
        return True
    if not all(map(is_printable, value)) or (value and (_is_space(value[0]) or _is_space(value[-1]))):
        raise InvalidName(INVALID_NAME_MESSAGE)
    return True


@_format_checker.checks("name_with_leading_trailing_spaces", raises=InvalidName)
def _check_name_spaces(value) -> bool:
    # Nova's valid_name_leading_trailing_spaces_regex: printable characters, at least one not a space.
    if not isinstance(value, str):
        return True
    if not all(map(is_printable, value)) or all(map(_is_space, value)):
        raise InvalidName(INVALID_NAME_LEADING_TRAILING_SPACES)
    return True


@_format_checker.checks("uuid")
def _check_uuid(value) -> bool:
    if not isinstance(value, str):
        return True
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return bool(re.fullmatch(r"[0-9a-fA-F]{8}-?([0-9a-fA-F]{4}-?){3}[0-9a-fA-F]{12}", value))


@_format_checker.checks("base64")
def _check_base64(value) -> bool:
    if not isinstance(value, str):
        return True
    import base64
    import binascii

    try:
        base64.b64decode(value.strip(), validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _detail(error: jsonschema.ValidationError, *, is_body: bool) -> str:
    if isinstance(error.cause, InvalidName):
        return str(error.cause)
    if len(error.path) > 0:
        # Query parameters are {name: [values]}: the name is the first path element.
        if is_body:
            return f"Invalid input for field/attribute {error.path[-1]}. Value: {error.instance}. {error.message}"
        return f"Invalid input for query parameters {error.path[0]}. Value: {error.instance}. {error.message}"
    return error.message


def validate_body(schema: dict, body) -> None:
    """Raise BadRequest with Nova's message unless ``body`` matches ``schema``."""
    _validate(schema, body, is_body=True)


def validate_query(schema: dict, params: dict) -> None:
    """Raise BadRequest with Nova's message unless the query parameters match ``schema``.

    ``params`` maps each parameter to the list of its values, as Nova validates them.
    """
    _validate(schema, params, is_body=False)


def _number_from_str(instance):
    try:
        return int(instance)
    except (TypeError, ValueError):
        try:
            return float(instance)
        except (TypeError, ValueError):
            return None


def _numeric(name: str):
    """Nova checks minimum/maximum on numbers given as strings too ("0" is below 1)."""
    original = jsonschema.Draft4Validator.VALIDATORS[name]

    def check(validator, bound, instance, schema):
        if isinstance(instance, str):
            instance = _number_from_str(instance)
            if instance is None:
                return
        yield from original(validator, bound, instance, schema)

    return check


_Validator = jsonschema.validators.extend(
    jsonschema.Draft4Validator, {"minimum": _numeric("minimum"), "maximum": _numeric("maximum")}
)


# Validators of the schemas seen, by the schema's id; the entry keeps the schema alive, so the id
# cannot be reused for another dict while it is cached. Schemas are module constants or built per
# microversion; a bound keeps schemas built per call from piling up.
_validators: dict[int, tuple[dict, object]] = {}
_VALIDATORS_MAX = 512


def _validator_for(schema: dict):
    cached = _validators.get(id(schema))
    if cached is not None and cached[0] is schema:
        return cached[1]
    validator = _Validator(schema, format_checker=_format_checker)
    if len(_validators) >= _VALIDATORS_MAX:
        _validators.clear()
    _validators[id(schema)] = (schema, validator)
    return validator


def _validate(schema: dict, instance, *, is_body: bool) -> None:
    # Nova raises the first error jsonschema reports (Validator.validate), not the "best" one.
    validator = _validator_for(schema)
    error = next(iter(validator.iter_errors(instance)), None)
    if error is not None:
        raise BadRequest(_detail(error, is_body=is_body))


def query_params(request) -> dict[str, list[str]]:
    """The query string as {name: [values]} (what Nova's query schemas validate)."""
    return {key: request.query_params.getlist(key) for key in request.query_params}


# Building blocks shared by resource schemas (nova/api/validation/parameter_types.py).
def single_param(schema: dict) -> dict:
    """A query parameter given once (Nova keeps the last value; the schema sees a list)."""
    return {"type": "array", "items": schema}


non_negative_integer_string = {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 0, "minLength": 1}
positive_integer = {"type": ["integer", "string"], "pattern": "^[0-9]*$", "minimum": 1, "minLength": 1}
