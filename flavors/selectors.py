"""Reads of flavors (API database): one flavor, the listings of the API and the command, and the
flavor a server is created with."""

from django.db.models import Exists, F, OuterRef, Q, QuerySet

from cellsv2.db import API_ALIAS, RawColumns, sql
from flavors.exceptions import FlavorMarkerNotFound, FlavorNotFound, InvalidFlavorSort
from flavors.models import Flavor, FlavorProject

# Nova's flavor sort keys (schemas/flavors.py VALID_SORT_KEYS): changing them is an API change.
FLAVOR_SORT_KEYS = (
    "created_at",
    "description",
    "disabled",
    "ephemeral_gb",
    "flavorid",
    "id",
    "is_public",
    "memory_mb",
    "name",
    "root_gb",
    "rxtx_factor",
    "swap",
    "updated_at",
    "vcpu_weight",
    "vcpus",
)
FLAVOR_SORT_DIRS = ("asc", "desc")


def _public_or_shared_with(project_id: str | None) -> Q:
    """Public flavors and the private ones shared with ``project_id``."""
    shared = FlavorProject.objects.filter(flavor=OuterRef("pk"), project_id=project_id)
    return Q(is_public=True) | Q(Exists(shared))


def _visible_flavors(*, project_id: str | None, is_admin: bool) -> QuerySet[Flavor]:
    """Flavors the caller may see (API database): all for an admin, else public ones and those shared
    with the caller's project (Nova's _flavor_get_query_from_db)."""
    flavors = Flavor.objects.all()
    if not is_admin:
        flavors = flavors.filter(_public_or_shared_with(project_id))
    return flavors


def flavor_get(*, flavorid: str, project_id: str | None = None, is_admin: bool = True) -> Flavor:
    """The flavor with this flavor id, if the caller may see it (API database).

    Disabled flavors are found too (servers keep using them). Raises FlavorNotFound.
    """
    flavor = (
        _visible_flavors(project_id=project_id, is_admin=is_admin)
        .prefetch_related("extra_specs")
        .filter(flavorid=flavorid)
        .order_by("id")
        .first()
    )
    if flavor is None:
        raise FlavorNotFound(flavorid)
    return flavor


def flavor_list(
    *,
    project_id: str | None = None,
    is_admin: bool = True,
    is_public: bool | None = True,
    min_memory_mb: int | None = None,
    min_root_gb: int | None = None,
    sort_key: str = "flavorid",
    sort_dir: str = "asc",
    limit: int | None = None,
    marker: str | None = None,
) -> list[Flavor]:
    """One page of flavors, extra specs prefetched (API database; Nova's FlavorList.get_all).

    ``is_public``: True for public flavors plus those shared with ``project_id``, False for private
    flavors only, None for both. It is an admin's filter only: everybody else always gets public and
    shared flavors, never disabled ones. Rows are ordered by ``sort_key`` then the internal id, both in
    ``sort_dir``, with NULLs lowest (MySQL's order, which Nova's paging assumes); ``marker`` is the
    flavor id of the last row of the previous page. Raises InvalidFlavorSort and FlavorMarkerNotFound.
    """
    if sort_key not in FLAVOR_SORT_KEYS:
        raise InvalidFlavorSort(f"Invalid sort key {sort_key!r}")
    if sort_dir not in FLAVOR_SORT_DIRS:
        raise InvalidFlavorSort(f"Invalid sort direction {sort_dir!r}")
    visible = _visible_flavors(project_id=project_id, is_admin=is_admin)
    flavors = visible
    if not is_admin:
        is_public = True
        flavors = flavors.filter(disabled=False)
    if min_memory_mb is not None:
        flavors = flavors.filter(memory_mb__gte=min_memory_mb)
    if min_root_gb is not None:
        flavors = flavors.filter(root_gb__gte=min_root_gb)
    if is_public is True and project_id is not None:
        flavors = flavors.filter(_public_or_shared_with(project_id))
    elif is_public is not None:
        flavors = flavors.filter(is_public=is_public)

    if marker is not None:
        marker_row = visible.filter(flavorid=marker).order_by("id").first()
        if marker_row is None:
            raise FlavorMarkerNotFound(marker)
        flavors = flavors.filter(_after(marker_row, sort_key, descending=sort_dir == "desc"))

    key, row_id = F(sort_key), F("id")
    if sort_dir == "desc":
        ordering = [key.desc(nulls_last=True), row_id.desc()]
    else:
        ordering = [key.asc(nulls_first=True), row_id.asc()]
    flavors = flavors.order_by(*ordering).prefetch_related("extra_specs")
    if limit is not None:
        flavors = flavors[:limit]
    return list(flavors)


def _after(marker_row: Flavor, sort_key: str, *, descending: bool) -> Q:
    """Rows that come after ``marker_row`` in (sort_key, id) order, NULLs lowest."""
    value, row_id = getattr(marker_row, sort_key), marker_row.id
    if descending:
        if value is None:
            return Q(**{f"{sort_key}__isnull": True, "id__lt": row_id})
        return (
            Q(**{f"{sort_key}__lt": value})
            | Q(**{f"{sort_key}__isnull": True})
            | Q(**{sort_key: value, "id__lt": row_id})
        )
    if value is None:
        return Q(**{f"{sort_key}__isnull": False}) | Q(**{f"{sort_key}__isnull": True, "id__gt": row_id})
    return Q(**{f"{sort_key}__gt": value}) | Q(**{sort_key: value, "id__gt": row_id})


# --- the flavor of a server create ------------------------------------------------------------------

_FLAVOR_COLUMNS = RawColumns(Flavor._meta.concrete_fields)
_FLAVOR_SQL = (
    f'SELECT {_FLAVOR_COLUMNS.sql}, "flavor_extra_specs"."key", "flavor_extra_specs"."value" FROM "flavors" '
    'LEFT OUTER JOIN "flavor_extra_specs" ON ("flavor_extra_specs"."flavor_id" = "flavors"."id") '
    'WHERE "flavors"."flavorid" = %s'
)


def flavor_with_extra_specs_read(*, flavorid: str) -> tuple[Flavor, dict] | None:
    """The flavor with this flavorid and its extra specs ({key: value}), or None: what a create
    needs, in one query on the API database."""
    rows = sql.fetch_all(API_ALIAS, _FLAVOR_SQL, (flavorid,), prepare=True)
    if not rows:
        return None
    width = len(_FLAVOR_COLUMNS.fields)
    flavor = Flavor.from_db(API_ALIAS, None, _FLAVOR_COLUMNS.convert(sql.connection(API_ALIAS), rows[0][:width]))
    return flavor, {row[width]: row[width + 1] for row in rows if row[width] is not None}


def flavor_dict(flavor: Flavor, extra_specs: dict | None = None) -> dict:
    """The flavor as the request spec and instance_extra keep it (what the server was built with).

    ``extra_specs``: the flavor's, when the caller read them already (else read here).
    """
    if extra_specs is None:
        extra_specs = {spec.key: spec.value for spec in flavor.extra_specs.all()}
    return {
        "flavorid": flavor.flavorid,
        "name": flavor.name,
        "memory_mb": flavor.memory_mb,
        "vcpus": flavor.vcpus,
        "root_gb": flavor.root_gb,
        "ephemeral_gb": flavor.ephemeral_gb,
        "swap": flavor.swap,
        "rxtx_factor": flavor.rxtx_factor,
        "vcpu_weight": flavor.vcpu_weight,
        "extra_specs": extra_specs,
    }
