"""Update and delete of a server, wherever it is (a build request or in its cell)."""

import ipaddress
import logging

from django.db import transaction
from django.utils import timezone

from cellsv2.context import target_cell
from cellsv2.db import API_ALIAS, sql
from consoles.services import console_auth_token_delete_for_instance
from instance_actions.services import instance_action_record_delete
from mappings.selectors import instance_mapping_read, mapping_cache_forget
from servergroups import services as group_services
from servers import scheduler
from servers.exceptions import ServerLocked, ServerNotFound
from servers.models import (
    BlockDeviceMapping,
    BuildRequest,
    Instance,
    InstanceExtra,
    InstanceFault,
    InstanceMetadata,
    InstanceSystemMetadata,
    Tag,
)
from servers.selectors.show import server_get
from servers.serialization import instance_dump, instance_load

logger = logging.getLogger(__name__)


def access_ip_v6_normalized(value: str | None) -> str | None:
    """An IPv6 address in its shortest form, as Nova stores it (nova.db.types.IPAddress) and shows
    it; what is not an IPv6 address (an old row) is left as it is."""
    if not value:
        return value
    try:
        return ipaddress.IPv6Address(value).compressed
    except ValueError:
        return value


UPDATABLE = {
    "name": "display_name",
    "description": "display_description",
    "hostname": "hostname",
    "accessIPv4": "access_ip_v4",
    "accessIPv6": "access_ip_v6",
    "auto_disk_config": "auto_disk_config",
}


def server_update(*, context, uuid: str, changes: dict, server=None) -> None:
    """Change a server's name, description, hostname or access IPs wherever it is.

    While it is a build request the serialized instance is rewritten under the build request's
    row lock, which the conductor also holds while placing it, so the change is never lost to
    the placement (Nova loses it: LP#1620248). ``server``: what server_get just returned for
    this caller (read again when None). Raises ServerNotFound.
    """
    values = {UPDATABLE[k]: v for k, v in changes.items() if k in UPDATABLE}
    if "access_ip_v6" in values:
        values["access_ip_v6"] = access_ip_v6_normalized(values["access_ip_v6"])
    if server is None:
        server_get(context=context, uuid=uuid)  # existence and visibility
    with transaction.atomic(using=API_ALIAS):
        build = BuildRequest.objects.select_for_update().filter(instance_uuid=uuid).first()
        if build is not None:
            instance = instance_load(build.instance)
            instance.update(values)
            build.instance = instance_dump(instance)
            build.save(update_fields=["instance"])
            return
    mapping = instance_mapping_read(uuid)
    if mapping is None or mapping.cell is None:
        # The build request was deleted (the server cancelled) since it was read.
        raise ServerNotFound(uuid)
    with target_cell(mapping.cell) as alias, transaction.atomic(using=alias):
        updated = Instance.objects.live().filter(uuid=uuid).update(**values, updated_at=timezone.now())
    if not updated:
        raise ServerNotFound(uuid)


def _group_remove_member(instance_uuid: str) -> None:
    group_services.servergroup_members_remove(instance_uuids=[instance_uuid])


_CANCEL_BUILD_SQL = 'DELETE FROM "build_requests" WHERE "instance_uuid" = %s'
_QUEUE_FOR_DELETE_SQL = 'UPDATE "instance_mappings" SET "queued_for_delete" = %s WHERE "instance_uuid" = %s'


def server_delete(*, context, uuid: str, server=None) -> None:
    """Delete a server: cancel a build request, or soft-delete the instance in its cell.

    Either way the instance mapping is queued for delete (it goes at archive time), in the API
    transaction of the cancel, or in one that commits right after the cell's. A failure before the
    commits (a database unreachable, a statement refused) leaves the server as it was, for the
    client's retry; only the API database failing at its very commit could leave a deleted server
    counted until the archive. ``server``: what server_get just returned for this caller (read again
    when None). Raises ServerNotFound or ServerLocked (a locked server, unless the caller is an admin).
    """
    if server is None:
        server = server_get(context=context, uuid=uuid)
    if server.get("locked") and not context.is_admin:
        raise ServerLocked(uuid)
    with transaction.atomic(using=API_ALIAS):
        with sql.cursor(API_ALIAS) as cursor:
            # Two plain statements (no signals or relations hang on these rows): the common delete of
            # a server still building spends its time here, not in the database.
            cursor.execute(_CANCEL_BUILD_SQL, (uuid,))
            cancelled = cursor.rowcount
            if cancelled:
                cursor.execute(_QUEUE_FOR_DELETE_SQL, (True, uuid))
        if cancelled:
            # Its group membership goes in the same commit (legacy groups in the cells, when any
            # are left, are looked at too; those are soft-deleted best-effort).
            _group_remove_member(uuid)
    if cancelled:
        mapping_cache_forget(uuid)
        return
    mapping = instance_mapping_read(uuid)
    if mapping is None or mapping.cell is None:
        raise ServerNotFound(uuid)
    now = timezone.now()
    with transaction.atomic(using=API_ALIAS):
        with sql.cursor(API_ALIAS) as cursor:
            cursor.execute(_QUEUE_FOR_DELETE_SQL, (True, uuid))
        with target_cell(mapping.cell) as alias, transaction.atomic(using=alias):
            instance = Instance.objects.live().select_for_update().filter(uuid=uuid).first()
            if instance is None:
                raise ServerNotFound(uuid)
            claimed_disk = scheduler.claimed_disk_gb(instance)  # before its system metadata goes
            Instance.objects.filter(pk=instance.pk).update(
                vm_state="deleted",
                task_state=None,
                power_state=0,
                terminated_at=now,
                deleted_at=now,
                deleted=instance.pk,
            )
            # Nova's instance_destroy: dependent rows soft-deleted with the instance, tags hard-deleted.
            for model in (InstanceExtra, InstanceMetadata, InstanceSystemMetadata, InstanceFault, BlockDeviceMapping):
                model.objects.live().filter(instance=instance).soft_delete()
            Tag.objects.filter(resource_id=uuid).delete()
            instance_action_record_delete(
                instance_uuid=uuid, user_id=context.user_id, project_id=context.project_id, host=instance.host
            )
            scheduler.release(
                host=instance.host,
                node=instance.node,
                vcpus=instance.vcpus or 0,
                memory_mb=instance.memory_mb or 0,
                disk_gb=claimed_disk,
            )
    mapping_cache_forget(uuid)
    # Console tokens go with their instance, whichever token backend holds them. The server is
    # deleted by now: a failure here is logged, not answered (a token left expires with its TTL).
    try:
        console_auth_token_delete_for_instance(instance_uuid=uuid, cell=mapping.cell)
    except Exception as exc:
        logger.warning("Server %s deleted; its console tokens were not: %s: %s", uuid, type(exc).__name__, exc)
