"""Writes of consoles: authorizing tokens, revoking them, serial port assignment and connections.

Tokens and serial ports live in the cell database of their instance (tokens may live in the cache
instead, see ``backends``). Nothing here logs a token or puts one in an exception message.
"""

import logging
import secrets
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured
from django.db import IntegrityError, transaction
from django.db.models import Q

from cellsv2.cells import cell_alias, cell_mappings
from cellsv2.context import target_cell
from consoles import clock
from consoles.access import access_url
from consoles.backends import ConsoleConnection, instance_cell, token_hash, token_store
from consoles.exceptions import (
    ConsoleTypeInvalid,
    ConsoleTypeUnavailable,
    InstanceInvalidState,
    InstanceNotReady,
    SerialPortBusy,
    SerialPortsExhausted,
    TokenInUse,
)
from consoles.models import ConsoleSerialPort
from servers.models import ComputeNode

logger = logging.getLogger(__name__)

# 256 random bits, URL-safe (R-CON-1 asks for at least 122).
TOKEN_BYTES = 32


@dataclass(frozen=True)
class AuthorizedConsole:
    """A new authorization: the plain token exists only here and in ``url``."""

    token: str
    url: str
    connection: ConsoleConnection

    def __repr__(self) -> str:  # never print the token by accident
        return f"AuthorizedConsole(token='***', connection={self.connection!r})"


def console_auth_token_authorize(
    *,
    cell,
    instance_uuid: str,
    console_type: str,
    host: str,
    port: int,
    access_url_base: str,
    tls_port: int | None = None,
    internal_access_path: str | None = None,
    expires: int | None = None,
) -> AuthorizedConsole:
    """Authorize a console connection to ``host:port`` for an instance (Nova's authorize()).

    Stores the SHA-256 of a new random token with ``expires`` (default now + the token TTL) in the
    instance's cell database, or in the cache with the cache backend; returns the plain token and
    its access URL, once. Raises TokenInUse on a (practically impossible) hash collision.
    """
    if expires is None:
        expires = clock.utcnow_ts() + settings.CELLSV2_CONSOLE_TOKEN_TTL
    connection = ConsoleConnection(
        instance_uuid=instance_uuid,
        console_type=console_type,
        host=host,
        port=port,
        expires=expires,
        tls_port=tls_port,
        internal_access_path=internal_access_path,
        access_url_base=access_url_base,
        cell_uuid=_cell_uuid(cell),
    )
    token = secrets.token_urlsafe(TOKEN_BYTES)
    token_store().create(cell=cell, connection=connection, hashed=token_hash(token))
    logger.debug("Authorized a %s console token for instance %s until %s", console_type, instance_uuid, expires)
    url = access_url(console_type=console_type, base=access_url_base, token=token, instance_uuid=instance_uuid)
    return AuthorizedConsole(token=token, url=url, connection=connection)


def _cell_uuid(cell) -> str | None:
    """The uuid of a cell given as a CellMapping, a uuid or a database alias."""
    if hasattr(cell, "uuid"):
        return cell.uuid
    alias = cell_alias(cell)
    return next((m.uuid for m in cell_mappings() if cell_alias(m) == alias), None)


def console_auth_token_delete_for_instance(*, instance_uuid: str, cell=None) -> int:
    """Revoke every token of an instance (Nova's clean_console_auths_for_instance) and free its
    unconnected serial ports. ``cell`` defaults to the instance's cell (instance mapping, API
    database). Returns how many token rows were deleted (0 with the cache backend, which cannot
    count them)."""
    if cell is None:
        cell = instance_cell(instance_uuid)
        if cell is None:
            return 0
    deleted = token_store().delete_for_instance(cell=cell, instance_uuid=instance_uuid)
    with target_cell(cell) as alias, transaction.atomic(using=alias):
        ConsoleSerialPort.objects.filter(instance_uuid=instance_uuid).filter(
            _not_connected(clock.utcnow_ts())
        ).delete()
    return deleted


def console_auth_tokens_delete_expired(*, cell, host: str | None = None) -> int:
    """Delete the expired tokens of a cell, of one compute host or of all (Nova's
    clean_expired_console_auths[_for_host]); returns how many rows went (0 with the cache backend,
    whose keys expire by themselves)."""
    return token_store().delete_expired(cell=cell, host=host)


# --- serial ports -------------------------------------------------------------------------------


def serial_port_range(host: str) -> tuple[int, int]:
    """The serial console port range of a compute host (``first:last``, both included)."""
    text = settings.CELLSV2_CONSOLE_SERIAL_PORT_RANGES.get(host, settings.CELLSV2_CONSOLE_SERIAL_PORT_RANGE)
    try:
        first, last = (int(part) for part in str(text).split(":"))
    except ValueError:
        raise ImproperlyConfigured(f"Serial console port range {text!r} is not FIRST:LAST") from None
    if not 0 < first <= last <= 65535:
        raise ImproperlyConfigured(f"Serial console port range {text!r} is not within 1:65535")
    return first, last


def _not_connected(now: int) -> Q:
    return Q(connected_by__isnull=True) | Q(connected_until__isnull=True) | Q(connected_until__lte=now)


def serial_port_assign(*, cell, host: str, instance_uuid: str, until: int) -> int:
    """A serial port of ``host`` for an instance's console, assigned to it until ``until``.

    The instance keeps a port of its own that nobody is connected to; otherwise it gets the lowest
    port of the host's range that no live assignment or connection holds. Raises
    SerialPortsExhausted when there is none. Cell database, one transaction (rows of the host
    locked on PostgreSQL; a concurrent insert of the same port is retried).
    """
    first, last = serial_port_range(host)
    for _attempt in range(5):
        try:
            return _serial_port_assign_once(cell, host, instance_uuid, until, first, last)
        except IntegrityError:
            continue  # another API process took the same new port: look again
    raise SerialPortsExhausted(host, first, last)


def _serial_port_assign_once(cell, host, instance_uuid, until, first, last) -> int:
    now = clock.utcnow_ts()
    with target_cell(cell) as alias, transaction.atomic(using=alias):
        rows = {
            row.port: row
            for row in ConsoleSerialPort.objects.select_for_update().filter(host=host, port__gte=first, port__lte=last)
        }
        connected = {row.port for row in rows.values() if row.connected_by and (row.connected_until or 0) > now}
        for port in sorted(rows):
            row = rows[port]
            if row.instance_uuid == instance_uuid and port not in connected:
                row.assigned_until = max(row.assigned_until, until)
                row.save(update_fields=["assigned_until"])
                return port
        for port in range(first, last + 1):
            row = rows.get(port)
            if row is None:
                ConsoleSerialPort.objects.create(
                    host=host, port=port, instance_uuid=instance_uuid, assigned_until=until
                )
                return port
            if row.assigned_until <= now and port not in connected:
                row.instance_uuid, row.assigned_until = instance_uuid, until
                row.connected_by = row.connected_until = None
                row.save(update_fields=["instance_uuid", "assigned_until", "connected_by", "connected_until"])
                return port
    raise SerialPortsExhausted(host, first, last)


def serial_port_connect(*, cell, host: str, port: int, instance_uuid: str, holder: str, lease: int) -> None:
    """Record that console proxy connection ``holder`` is connected to ``host:port`` for
    ``lease`` seconds (renewed by serial_port_leases_renew). One conditional UPDATE in the cell
    database, so proxies in several processes agree. Raises SerialPortBusy when another live
    connection holds the port, or the port is not assigned to this instance."""
    now = clock.utcnow_ts()
    with target_cell(cell) as alias, transaction.atomic(using=alias):
        claimed = (
            ConsoleSerialPort.objects.filter(host=host, port=port, instance_uuid=instance_uuid)
            .filter(_not_connected(now))
            .update(connected_by=holder, connected_until=now + lease)
        )
    if not claimed:
        raise SerialPortBusy(host, port)


def serial_port_release(*, cell, host: str, port: int, holder: str) -> bool:
    """Free ``host:port`` if ``holder`` still holds it (cell database); True when it did."""
    with target_cell(cell) as alias, transaction.atomic(using=alias):
        return bool(
            ConsoleSerialPort.objects.filter(host=host, port=port, connected_by=holder).update(
                connected_by=None, connected_until=None
            )
        )


def serial_port_leases_renew(*, cell, holders: list[str], lease: int) -> int:
    """Extend the leases of the given proxy connections by ``lease`` seconds from now."""
    if not holders:
        return 0
    with target_cell(cell) as alias, transaction.atomic(using=alias):
        return ConsoleSerialPort.objects.filter(connected_by__in=holders).update(
            connected_until=clock.utcnow_ts() + lease
        )


def serial_ports_delete_expired(*, cell, host: str | None = None) -> int:
    """Forget serial port assignments that expired and are not connected (cell database)."""
    now = clock.utcnow_ts()
    with target_cell(cell) as alias, transaction.atomic(using=alias):
        rows = ConsoleSerialPort.objects.filter(assigned_until__lte=now).filter(_not_connected(now))
        if host is not None:
            rows = rows.filter(host=host)
        return rows.delete()[0]


# --- remote consoles (the compute API's get_*_console) ------------------------------------------

# protocol -> (the Nova compute API method named in state errors, the console types it serves)
PROTOCOLS = {
    "vnc": ("get_vnc_console", ("novnc",)),
    "spice": ("get_spice_console", ("spice-html5", "spice-direct")),
    "serial": ("get_serial_console", ("serial",)),
    "mks": ("get_mks_console", ("webmks",)),
}
# Nova's reject_instance_state on the console methods.
REJECTED_TASK_STATES = ("deleting", "migrating")


def remote_console_create(*, server, protocol: str, console_type: str) -> AuthorizedConsole:
    """A console URL for a server the caller may see (a ServerView), as Nova's compute API and
    compute manager make one.

    Checks, in Nova's order: the server has a host (InstanceNotReady: still a build request, or
    in cell0), it is not being deleted or migrated (InstanceInvalidState), the protocol is
    enabled (ConsoleTypeUnavailable; rdp always) and the type fits the protocol
    (ConsoleTypeInvalid). Serial consoles get a port of the host's range (SerialPortsExhausted).
    Writes the token (and serial port) into the server's cell.
    """
    if protocol not in PROTOCOLS:  # rdp: its consoles were removed with Hyper-V (the API checks first)
        raise ConsoleTypeUnavailable(protocol)
    instance = server.instance
    if server.source != "cell" or not instance.get("host"):
        raise InstanceNotReady(server.uuid)
    method, types = PROTOCOLS[protocol]
    if instance.get("task_state") in REJECTED_TASK_STATES:
        raise InstanceInvalidState(server.uuid, instance["task_state"], method)
    if not settings.CELLSV2_CONSOLE_ENABLED.get(protocol, False):
        raise ConsoleTypeUnavailable(console_type)
    if console_type not in types:
        raise ConsoleTypeInvalid(console_type)

    expires = clock.utcnow_ts() + settings.CELLSV2_CONSOLE_TOKEN_TTL
    address = _console_address(server)
    tls_port = None
    if protocol == "serial":
        port = serial_port_assign(cell=server.cell, host=instance["host"], instance_uuid=server.uuid, until=expires)
    else:
        port = settings.CELLSV2_CONSOLE_TARGET_PORTS[console_type]
        if console_type == "spice-direct":
            tls_port = settings.CELLSV2_CONSOLE_SPICE_TLS_PORT
    for _attempt in range(3):
        try:
            return console_auth_token_authorize(
                cell=server.cell,
                instance_uuid=server.uuid,
                console_type=console_type,
                host=address,
                port=port,
                tls_port=tls_port,
                access_url_base=settings.CELLSV2_CONSOLE_BASE_URLS[console_type],
                expires=expires,
            )
        except TokenInUse:
            continue
    raise TokenInUse()


def _console_address(server) -> str:
    """Where the server's consoles listen: its compute node's host_ip, else its host name."""
    instance = server.instance
    with target_cell(server.cell):
        nodes = ComputeNode.objects.live().filter(host=instance["host"])
        node = nodes.filter(hypervisor_hostname=instance.get("node")).first() or nodes.first()
    return (node.host_ip if node is not None and node.host_ip else None) or instance["host"]
