"""Nova's ``name`` formats, character class by character class (parameter_types / validators.py):
what clients may call a server, a key pair or a server group, and the exact 400 they get."""

import pytest

from cellsv2.api.faults import BadRequest
from cellsv2.api.validation import INVALID_NAME_LEADING_TRAILING_SPACES, INVALID_NAME_MESSAGE, validate_body

NAME = {"type": "object", "properties": {"name": {"type": "string", "format": "name"}}}
SPACED = {"type": "object", "properties": {"name": {"type": "string", "format": "name_with_leading_trailing_spaces"}}}


def message(schema, name) -> str | None:
    try:
        validate_body(schema, {"name": name})
    except BadRequest as exc:
        return exc.message
    return None


@pytest.mark.parametrize(
    "name",
    [
        "vm-1",
        "good* $%name",
        "日本語のサーバー",
        "a\u00a0b",  # a no-break space (Zs) inside the name
        "a\u3000b",  # an ideographic space (Zs)
        "e\u0301",  # a combining mark
        "\ufffd",  # the replacement character, the last printable one Nova's ranges hold
    ],
)
def test_printable_names_are_accepted(name):
    assert message(NAME, name) is None
    assert message(SPACED, name) is None


@pytest.mark.parametrize(
    "name",
    [
        " vm",
        "vm ",
        "\u00a0vm",  # any Zs counts as a leading or trailing space
        "vm\u3000",
        "tab\tname",  # Cc
        "zero\u200bwidth",  # Cf
        "line\u2028sep",  # Zl
        "para\u2029sep",  # Zp
        "private\ue000use",  # Co
        "vm-\U0001f600",  # beyond the Basic Multilingual Plane
        "bad\x00name",
    ],
)
def test_the_name_format_refuses_with_nova_s_message(name):
    assert INVALID_NAME_MESSAGE in message(NAME, name)


@pytest.mark.parametrize(("name", "ok"), [(" vm ", True), ("\u00a0vm\u3000", True), ("   ", False), ("\u00a0", False)])
def test_the_spaced_format_needs_one_non_space(name, ok):
    result = message(SPACED, name)
    assert result is None if ok else INVALID_NAME_LEADING_TRAILING_SPACES in result


@pytest.mark.parametrize("name", ["tab\tname", "vm-\U0001f600", "zero\u200bwidth"])
def test_the_spaced_format_still_needs_printable_characters(name):
    assert INVALID_NAME_LEADING_TRAILING_SPACES in message(SPACED, name)
