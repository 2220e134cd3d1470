"""Where console tokens are kept: the cell database (default) or Django's cache (deprecated).

Both stores keep only the SHA-256 hex of a token and answer the same four questions: store an
authorization, find the unexpired one a token hash names, forget an instance's tokens, forget
expired tokens. ``CONSOLE_TOKENS_BACKEND`` picks one; ``token_store()`` returns it.

The database store writes each token into the cell of its instance (Nova's main-database
``console_auth_tokens``). A lookup that knows the instance goes straight to its cell through the
instance mapping; one that does not asks every cell but cell0 at once (cell0 holds no servers
with a host, so no consoles), skipping cells that fail.

The cache store is Nova's old memcached-backed consoleauth: one key per token hash, expiring
with the token. It is deprecated (a cache may evict a token early, and it cannot be listed).
Revoking an instance's tokens bumps a per-instance generation counter that every token records
(``incr`` is atomic in Redis and memcached); a token whose generation is gone or different is
invalid, so an evicted counter fails closed. Because ``servers.server_delete`` only deletes the
database rows, a cache token is also checked against its instance still being alive.
"""

import hashlib
import logging
from dataclasses import asdict, dataclass

from django.conf import settings
from django.core.cache import caches
from django.db import IntegrityError, transaction

from cellsv2.cells import cell_mappings, is_cell_failure, scatter_gather_cells
from cellsv2.context import NoCellTargeted, current_cell_alias, target_cell
from cellsv2.db import sql
from consoles import clock
from consoles.exceptions import TokenInUse
from consoles.models import ConsoleAuthToken
from mappings.selectors import instance_cell_lookup
from servers.models import Instance

logger = logging.getLogger(__name__)

# Tokens we hand out are 43 characters; anything much longer is not one of ours and is not looked up.
MAX_TOKEN_LENGTH = 255


@dataclass(frozen=True)
class ConsoleConnection:
    """What a valid token opens (Nova's ConsoleAuthToken object without the token)."""

    instance_uuid: str
    console_type: str
    host: str
    port: int
    expires: int
    tls_port: int | None = None
    internal_access_path: str | None = None
    access_url_base: str | None = None
    cell_uuid: str | None = None


def token_hash(token: str) -> str:
    """Nova's utils.get_sha256_str: the unsalted SHA-256 hex of the token."""
    return hashlib.sha256(token.encode("utf-8", "surrogatepass")).hexdigest()


# Validation is the console proxy's hot path: one statement written once, no queryset to build.
# The columns are ConsoleConnection's fields in order (cell_uuid excepted); token_hash is unique,
# so at most one row matches.
_FIND_SQL = (
    'SELECT "instance_uuid", "console_type", "host", "port", "expires", "tls_port", "internal_access_path", '
    '"access_url_base" FROM "console_auth_tokens" WHERE "token_hash" = %s AND "expires" > %s'
)
_FIND_FOR_INSTANCE_SQL = _FIND_SQL + ' AND "instance_uuid" = %s'


def instance_cell(instance_uuid: str):
    """The CellMapping of an instance, or None while it has none (``instance_cell_lookup``: the
    instance mapping cache, else one query on the API database)."""
    return instance_cell_lookup(instance_uuid)


class DatabaseTokenStore:
    """Tokens in the cell database of their instance."""

    name = "database"

    def create(self, *, cell, connection: ConsoleConnection, hashed: str) -> None:
        with target_cell(cell) as alias:
            try:
                with transaction.atomic(using=alias):
                    ConsoleAuthToken.objects.create(
                        token_hash=hashed,
                        **{k: v for k, v in asdict(connection).items() if k != "cell_uuid"},
                    )
            except IntegrityError:
                raise TokenInUse() from None

    @staticmethod
    def _find_here(hashed: str, instance_uuid: str | None, now: int) -> tuple | None:
        """The unexpired token row of this hash in the targeted cell (of ``instance_uuid`` if given),
        as ConsoleConnection's fields. One query on the cell database."""
        alias = current_cell_alias()
        if alias is None:
            raise NoCellTargeted("console tokens are read from a cell: wrap the call in target_cell(cell)")
        with sql.cursor(alias) as cursor:
            if instance_uuid is None:
                cursor.execute(_FIND_SQL, (hashed, now))
            else:
                cursor.execute(_FIND_FOR_INSTANCE_SQL, (hashed, now, instance_uuid))
            return cursor.fetchone()

    def find(self, *, hashed: str, instance_uuid: str | None = None) -> ConsoleConnection | None:
        now = clock.utcnow_ts()
        if instance_uuid is not None:
            cell = instance_cell(instance_uuid)
            if cell is None or cell.is_cell0:
                return None
            with target_cell(cell):
                row = self._find_here(hashed, instance_uuid, now)
            return ConsoleConnection(*row, cell_uuid=cell.uuid) if row is not None else None
        cells = cell_mappings(include_cell0=False)
        results = scatter_gather_cells(cells, lambda cell: self._find_here(hashed, None, now))
        for cell in cells:  # first hit in cell order, as Nova's scatter over the cells
            row = results.get(cell.uuid)
            if row is not None and not is_cell_failure(row):
                return ConsoleConnection(*row, cell_uuid=cell.uuid)
        return None

    def delete_for_instance(self, *, cell, instance_uuid: str) -> int:
        with target_cell(cell) as alias, transaction.atomic(using=alias):
            return ConsoleAuthToken.objects.filter(instance_uuid=instance_uuid).delete()[0]

    def delete_expired(self, *, cell, host: str | None = None) -> int:
        with target_cell(cell) as alias, transaction.atomic(using=alias):
            rows = ConsoleAuthToken.objects.filter(expires__lte=clock.utcnow_ts())
            if host is not None:
                rows = rows.filter(host=host)  # (host, expires) index
            return rows.delete()[0]


class CacheTokenStore:
    """Tokens in Django's cache (deprecated): one key per token hash, expiring with the token."""

    name = "cache"

    @property
    def cache(self):
        return caches[settings.CONSOLE_TOKENS_CACHE]

    @staticmethod
    def _token_key(hashed: str) -> str:
        return f"cellsv2:console:token:{hashed}"

    @staticmethod
    def _generation_key(instance_uuid: str) -> str:
        return f"cellsv2:console:instance:{instance_uuid}"

    def _generation(self, instance_uuid: str) -> int | None:
        key = self._generation_key(instance_uuid)
        self.cache.add(key, 0, timeout=None)
        return self.cache.get(key)

    def create(self, *, cell, connection: ConsoleConnection, hashed: str) -> None:
        value = {**asdict(connection), "generation": self._generation(connection.instance_uuid)}
        # A little longer than the token lives: expiry is decided by ``expires``, not by the cache.
        timeout = max(connection.expires - clock.utcnow_ts(), 0) + 60
        if not self.cache.add(self._token_key(hashed), value, timeout=timeout):
            raise TokenInUse()

    def find(self, *, hashed: str, instance_uuid: str | None = None) -> ConsoleConnection | None:
        value = self.cache.get(self._token_key(hashed))
        if not isinstance(value, dict) or value.get("expires", 0) <= clock.utcnow_ts():
            return None
        if instance_uuid is not None and value.get("instance_uuid") != instance_uuid:
            return None
        generation = value.pop("generation", None)
        if generation is None or self.cache.get(self._generation_key(value["instance_uuid"])) != generation:
            return None
        connection = ConsoleConnection(**value)
        return connection if self._instance_alive(connection) else None

    @staticmethod
    def _instance_alive(connection: ConsoleConnection) -> bool:
        cell = instance_cell(connection.instance_uuid)
        if cell is None or cell.is_cell0:
            return False
        try:
            with target_cell(cell):
                return Instance.objects.live().filter(uuid=connection.instance_uuid).exists()
        except Exception:
            logger.warning("Cannot check instance %s of a console token", connection.instance_uuid, exc_info=True)
            return False

    def delete_for_instance(self, *, cell, instance_uuid: str) -> int:
        try:
            self.cache.incr(self._generation_key(instance_uuid))
        except ValueError:
            pass  # no counter: no token of this instance can validate anyway
        return 0  # the cache cannot count them

    def delete_expired(self, *, cell, host: str | None = None) -> int:
        return 0  # the cache expires its keys itself


_STORES = {"database": DatabaseTokenStore(), "cache": CacheTokenStore()}


def token_store():
    """The store CONSOLE_TOKENS_BACKEND names."""
    return _STORES[settings.CONSOLE_TOKENS_BACKEND]
