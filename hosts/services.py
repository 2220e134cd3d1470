"""Writes of services (cell databases) and of the host mappings a service delete removes (API).

A compute node's service is created with the node: ``compute_service_ensure`` runs in the same
cell transaction as the node's insert (connected in ``HostsConfig.ready()``), so a node never
exists without its service.
"""

import logging
import socket
import uuid as uuid_lib

from django.db import DatabaseError, IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from cellsv2.cells import cell_alias, cell_mappings
from cellsv2.context import current_cell_alias, target_cell
from cellsv2.db import API_ALIAS
from hosts.exceptions import ServiceHostsInstances, ServiceNotCompute
from hosts.models import COMPUTE_BINARY, COMPUTE_TOPIC, CONDUCTOR_BINARY, CONDUCTOR_TOPIC, Service
from mappings.models import HostMapping
from servers.models import ComputeNode, Instance

logger = logging.getLogger(__name__)


def compute_service_ensure(*, host: str) -> Service:
    """The live nova-compute service of ``host`` in the targeted cell, created if missing (an
    existing one is kept: a second node of the host shares it). Call inside target_cell()."""
    service = Service.objects.live().filter(host=host, binary=COMPUTE_BINARY).first()
    if service is not None:
        return service
    try:
        with transaction.atomic(using=current_cell_alias()):
            return Service.objects.create(
                uuid=str(uuid_lib.uuid4()), host=host, binary=COMPUTE_BINARY, topic=COMPUTE_TOPIC
            )
    except IntegrityError:  # created concurrently: use that one
        return Service.objects.live().get(host=host, binary=COMPUTE_BINARY)


def service_report(*, cell, host: str, binary: str, topic: str) -> Service:
    """A service's heartbeat (Nova's servicegroup DB driver): its row in ``cell`` is created on
    the first report, then each report counts and stamps ``last_seen_up``."""
    with target_cell(cell) as alias, transaction.atomic(using=alias):
        service = Service.objects.live().select_for_update().filter(host=host, binary=binary).first()
        if service is None:
            try:
                with transaction.atomic(using=alias):
                    service = Service.objects.create(uuid=str(uuid_lib.uuid4()), host=host, binary=binary, topic=topic)
            except IntegrityError:  # another worker of the same host reported first
                service = Service.objects.live().select_for_update().get(host=host, binary=binary)
        Service.objects.filter(pk=service.pk).update(report_count=F("report_count") + 1, last_seen_up=timezone.now())
        service.refresh_from_db()
    return service


def conductor_report(*, host: str | None = None) -> Service | None:
    """A conductor worker's heartbeat: its ``nova-conductor`` service in cell0, where Nova's
    super conductor records itself. None (logged) when cell0 is not mapped or cannot be written:
    a worker keeps placing servers whatever its heartbeat does."""
    cell0 = next((cell for cell in cell_mappings() if cell.is_cell0), None)
    if cell0 is None:
        return None
    try:
        return service_report(
            cell=cell0, host=host or socket.gethostname(), binary=CONDUCTOR_BINARY, topic=CONDUCTOR_TOPIC
        )
    except DatabaseError:
        logger.warning("The conductor could not report to cell0", exc_info=True)
        return None


def compute_node_registered(sender, instance: ComputeNode, created: bool, **kwargs) -> None:
    """post_save of a compute node: give its host a compute service and point the node at it."""
    if not created or not instance.host or instance.service_id:
        return
    service = compute_service_ensure(host=instance.host)
    ComputeNode.objects.filter(pk=instance.pk).update(service_id=service.id)
    instance.service_id = service.id


def service_update(
    *,
    cell,
    service: Service,
    disabled: bool | None = None,
    disabled_reason: str | None = None,
    forced_down: bool | None = None,
) -> Service:
    """Enable or disable a compute service (with its reason) and/or force it down, in its cell.

    ``disabled=False`` clears the reason. Raises ServiceNotCompute for any other binary.
    """
    if service.binary != COMPUTE_BINARY:
        raise ServiceNotCompute(service.binary)
    fields = []
    if disabled is not None:
        service.disabled = disabled
        service.disabled_reason = disabled_reason if disabled else None
        fields += ["disabled", "disabled_reason"]
    if forced_down is not None:
        service.forced_down = forced_down
        fields.append("forced_down")
    with target_cell(cell), transaction.atomic(using=cell_alias(cell)):
        service.save(update_fields=fields)
    return service


def service_delete(*, cell, service: Service) -> None:
    """Delete a service as Nova does: a compute service hosting instances is refused
    (ServiceHostsInstances); otherwise the host's mapping goes (API database), then in the cell
    the host's compute nodes and the service are soft-deleted in one transaction. A crash in
    between leaves the service, which a second delete removes (a missing mapping is fine).
    """
    if service.binary == COMPUTE_BINARY:
        with target_cell(cell):
            if Instance.objects.live().filter(host=service.host).exists():
                raise ServiceHostsInstances()
        with transaction.atomic(using=API_ALIAS):
            HostMapping.objects.filter(host=service.host).delete()
    with target_cell(cell), transaction.atomic(using=cell_alias(cell)):
        if service.binary == COMPUTE_BINARY:
            ComputeNode.objects.live().filter(host=service.host).soft_delete()
        Service.objects.live().filter(pk=service.pk).soft_delete()
