"""Compute API microversions: parsing the request headers and comparing versions.

Views branch on ``request.api_version`` with ordinary comparisons::

    if request.api_version >= "2.55":
        body["description"] = flavor.description

``APIVersion`` compares with other APIVersions and with "X.Y" strings.
"""

import re
from functools import lru_cache, total_ordering

# The highest microversion whose behaviour every resource we serve implements (README lists
# them). Raise it only together with the resources that change behaviour below it.
MIN_VERSION_STRING = "2.1"
MAX_VERSION_STRING = "2.102"

_VERSION_RE = re.compile(r"^([1-9]\d*)\.([1-9]\d*|0)$")


class InvalidVersionFormat(ValueError):
    def __init__(self, value):
        super().__init__(f"API Version String {value} is of invalid format. Must be of format MajorNum.MinorNum.")


class VersionNotSupported(ValueError):
    def __init__(self, version):
        super().__init__(
            f"Version {version} is not supported by the API. Minimum is {MIN_VERSION} and maximum is {MAX_VERSION}."
        )
        self.version = version


@total_ordering
class APIVersion:
    """A microversion such as 2.60; comparable with APIVersion and "X.Y" strings."""

    __slots__ = ("major", "minor")

    def __init__(self, value: str):
        match = _VERSION_RE.match(value.strip()) if isinstance(value, str) else None
        if match is None:
            raise InvalidVersionFormat(value)
        self.major, self.minor = int(match.group(1)), int(match.group(2))

    @staticmethod
    def _coerce(other) -> "APIVersion":
        if isinstance(other, APIVersion):
            return other
        # Views compare with literals ("2.47") many times per request: parse each string once.
        return _parsed(other) if isinstance(other, str) else APIVersion(other)

    def _key(self):
        return (self.major, self.minor)

    def __eq__(self, other):
        try:
            return self._key() == self._coerce(other)._key()
        except (InvalidVersionFormat, TypeError):
            return NotImplemented

    def __lt__(self, other):
        return self._key() < self._coerce(other)._key()

    def __hash__(self):
        return hash(self._key())

    def __str__(self):
        return f"{self.major}.{self.minor}"

    def __repr__(self):
        return f"APIVersion('{self}')"

    def matches(self, min_version: str | None = None, max_version: str | None = None) -> bool:
        """True when min_version <= self <= max_version (either bound may be omitted)."""
        return (min_version is None or self >= min_version) and (max_version is None or self <= max_version)


@lru_cache(maxsize=512)
def _parsed(value: str) -> APIVersion:
    """APIVersion(value), cached (versions are never modified after parsing)."""
    return APIVersion(value)


MIN_VERSION = APIVersion(MIN_VERSION_STRING)
MAX_VERSION = APIVersion(MAX_VERSION_STRING)
DEFAULT_VERSION = MIN_VERSION

NEW_HEADER = "OpenStack-API-Version"
LEGACY_HEADER = "X-OpenStack-Nova-API-Version"


def _requested_version_string(headers) -> str | None:
    """The compute version a request asks for; OpenStack-API-Version wins over the legacy header."""
    value = headers.get(NEW_HEADER)
    if value:
        found = None
        for item in value.split(","):
            parts = item.strip().split(None, 1)
            if len(parts) == 2 and parts[0].lower() == "compute":
                found = parts[1].strip()
        if found is not None:
            return found
    legacy = (headers.get(LEGACY_HEADER) or "").split(",")[-1].strip()
    return legacy or None


def requested_version(headers) -> APIVersion:
    """The negotiated version of a request; raises InvalidVersionFormat or VersionNotSupported."""
    value = _requested_version_string(headers)
    if value is None:
        return DEFAULT_VERSION
    if value == "latest":
        return MAX_VERSION
    version = APIVersion(value)
    if not MIN_VERSION <= version <= MAX_VERSION:
        raise VersionNotSupported(version)
    return version
