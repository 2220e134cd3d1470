"""Writes to flavors (API database): create, change the description, delete."""

import uuid as uuid_lib

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from cellsv2.db import API_ALIAS
from flavors.exceptions import FlavorExists, FlavorIdExists, FlavorNotFound, InvalidFlavorInput
from flavors.models import Flavor
from flavors.selectors import flavor_get

# nova/db/constants.py
MAX_INT = 0x7FFFFFFF
SQL_SP_FLOAT_MAX = 3.40282e38

_TRUE_STRINGS = ("1", "t", "true", "on", "y", "yes")
_FALSE_STRINGS = ("0", "f", "false", "off", "n", "no")


def _integer(value, name: str, minimum: int) -> int:
    """Nova's utils.validate_integer, with its messages."""
    try:
        number = int(str(value))
    except ValueError:
        raise InvalidFlavorInput(f"{name} must be an integer") from None
    if number < minimum:
        raise InvalidFlavorInput(f"{name} must be >= {minimum}")
    if number > MAX_INT:
        raise InvalidFlavorInput(f"{name} must be <= {MAX_INT}")
    return number


def _boolean(value) -> bool:
    """oslo's bool_from_string(strict=True)."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in _TRUE_STRINGS:
        return True
    if text in _FALSE_STRINGS:
        return False
    raise InvalidFlavorInput("is_public must be a boolean")


def flavor_create(
    *,
    name: str,
    memory_mb: int | str,
    vcpus: int | str,
    root_gb: int | str,
    ephemeral_gb: int | str = 0,
    flavorid: str | int | float | None = None,
    swap: int | str = 0,
    rxtx_factor: float | str = 1.0,
    is_public: bool | str = True,
    description: str | None = None,
) -> Flavor:
    """Create a flavor in the API database (Nova's flavors.create).

    No flavor id (or an empty one) gets a new uuid4; a numeric one is stored as its string.
    Raises InvalidFlavorInput for out-of-range values, FlavorIdExists or FlavorExists when the
    flavor id or the name is taken (the flavor id is checked first).
    """
    if not flavorid:
        flavorid = str(uuid_lib.uuid4())
    flavor = Flavor(
        name=name.strip() if isinstance(name, str) else name,
        flavorid=str(flavorid),
        memory_mb=_integer(memory_mb, "ram", 1),
        vcpus=_integer(vcpus, "vcpus", 1),
        root_gb=_integer(root_gb, "disk", 0),
        ephemeral_gb=_integer(ephemeral_gb, "ephemeral", 0),
        swap=_integer(swap, "swap", 0),
        rxtx_factor=_rxtx_factor(rxtx_factor),
        is_public=_boolean(is_public),
        description=description,
    )
    try:
        flavor.full_clean(validate_unique=False, validate_constraints=False)
    except ValidationError as exc:
        raise InvalidFlavorInput(
            "; ".join(f"{field}: {' '.join(messages)}" for field, messages in exc.message_dict.items())
        ) from None
    with transaction.atomic(using=API_ALIAS):
        _check_flavor_unique(flavor)
        try:
            with transaction.atomic(using=API_ALIAS):
                flavor.save(using=API_ALIAS)
        except IntegrityError:
            # Created by someone else since the check above.
            _check_flavor_unique(flavor)
            raise
    return flavor


def _rxtx_factor(value) -> float:
    try:
        factor = float(value)
    except (TypeError, ValueError):
        factor = None
    if factor is None or not 0 < factor <= SQL_SP_FLOAT_MAX:
        raise InvalidFlavorInput(f"'rxtx_factor' argument must be a float between 0 and {SQL_SP_FLOAT_MAX:g}")
    return factor


def _check_flavor_unique(flavor: Flavor) -> None:
    flavors = Flavor.objects.using(API_ALIAS)
    if flavors.filter(flavorid=flavor.flavorid).exists():
        raise FlavorIdExists(flavor.flavorid)
    if flavors.filter(name=flavor.name).exists():
        raise FlavorExists(flavor.name)


def flavor_update_description(
    *, flavorid: str, description: str | None, project_id: str | None = None, is_admin: bool = True
) -> Flavor:
    """Set the description of a flavor the caller can see (API database); the only mutable field.

    Raises FlavorNotFound.
    """
    with transaction.atomic(using=API_ALIAS):
        flavor = flavor_get(flavorid=flavorid, project_id=project_id, is_admin=is_admin)
        flavor.description = description
        flavor.save(using=API_ALIAS, update_fields=["description"])
    return flavor


def flavor_delete(*, flavorid: str) -> Flavor:
    """Delete a flavor with its extra specs and project access rows (API database; a hard delete,
    as Nova does). Servers keep their own copy of the flavor. Returns the deleted flavor (no
    longer saved); raises FlavorNotFound."""
    with transaction.atomic(using=API_ALIAS):
        flavor = Flavor.objects.using(API_ALIAS).filter(flavorid=flavorid).order_by("id").first()
        if flavor is None:
            raise FlavorNotFound(flavorid)
        flavor.projects.all().delete()
        flavor.extra_specs.all().delete()
        flavor.delete()
    return flavor
