"""The conductor: places build requests into cells (Nova's schedule_and_build_instances).

For each build request, one statement first checks that it still waits and that no other
conductor holds it (else it is skipped at once); then a placement attempt row is committed
(``cellsv2_placement_attempts``), then, in one API-database transaction that holds the build
request's row lock (``SELECT ... FOR UPDATE SKIP LOCKED`` on PostgreSQL, so several conductors
never take the same one; SQLite serialises writers anyway):

1. when an earlier attempt's row is still there, that attempt may have written the instance into
   a cell (a crash between the cell commit and the API commit): every cell is asked, and a copy
   found is adopted. Every cell must answer that question: while one cannot, the build request
   waits (``deferred``) rather than risk a second copy in another cell. A first attempt asks no
   cell (only an attempt writes into a cell, after committing its row); otherwise
2. for a member of a server group, lock the group's row (members are placed one at a time, each
   seeing where the previous ones went), then pick a host (servers.scheduler; the hosts are read
   once per batch, see BatchHostStates), claim its capacity and write the instance, its
   ``instance_extra`` (flavor and the embedded key pair list), metadata and
   ``block_device_mapping`` rows into that cell; with no valid host, write it (mappings
   included) into **cell0** in ERROR with Nova's fault;
3. point the instance mapping at the cell;
4. delete the build request and the attempt row. If the build request is already gone the user
   deleted the server meanwhile: the cell row is rolled back (Nova's cancellation race).

An attempt row whose build request is gone (its user deleted the server after an attempt
crashed) is reaped: once every cell has answered, what a cell holds of that instance is rolled
back and the row deleted.

Without a hypervisor to boot on, a placed instance is ACTIVE and running at once.
"""

import json
import logging
import time
import uuid as uuid_lib
from contextvars import ContextVar

from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.models import Exists, OuterRef
from django.utils import timezone

from cellsv2.cells import CELL0_UUID, cell_mappings, is_cell_failure, scatter_gather_cells
from cellsv2.context import target_cell
from cellsv2.db import API_ALIAS, sql
from cellsv2.observability.metrics import placement_observed
from instance_actions.services import instance_action_record_create, instance_actions_forget
from mappings.models import CellMapping, InstanceMapping
from mappings.selectors import mapping_cache_forget
from servergroups.models import InstanceGroup
from servergroups.selectors import servergroup_member_hosts
from servers import block_devices, scheduler
from servers.models import (
    BlockDeviceMapping,
    BuildRequest,
    Instance,
    InstanceExtra,
    InstanceFault,
    InstanceMetadata,
    InstanceSystemMetadata,
    PlacementAttempt,
    RequestSpec,
    Tag,
)
from servers.serialization import (
    INSTANCE_FIELDS,
    UnsupportedFormat,
    block_device_mappings_load,
    instance_load,
    request_spec_load,
)

logger = logging.getLogger(__name__)

POWER_RUNNING = 1
POWER_NOSTATE = 0


class CellsDidNotAnswer(Exception):
    """Some cell could not say whether it holds the instance."""


def _find_existing(uuid: str, *, every_cell_must_answer: bool = False):
    """(cell, instance) if a cell already holds an instance with this uuid (adopt, never duplicate).

    Asks every cell, cell0 included, in parallel. A cell that does not answer counts as not
    holding it, unless ``every_cell_must_answer`` (an earlier attempt may have written there):
    then CellsDidNotAnswer is raised when no answering cell holds it.
    """

    def lookup(cell):
        return Instance.objects.filter(uuid=uuid).first()

    silent = []
    for cell_uuid, result in scatter_gather_cells(cell_mappings(), lookup).items():
        if is_cell_failure(result):
            silent.append(cell_uuid)
        elif result is not None:
            return CellMapping.objects.get(uuid=cell_uuid), result
    if silent and every_cell_must_answer:
        raise CellsDidNotAnswer(", ".join(silent))
    return None


_ATTEMPT_BEGIN_SQL = (
    f"INSERT INTO {PlacementAttempt._meta.db_table} (instance_uuid, created_at) VALUES (%s, %s) "
    "ON CONFLICT (instance_uuid) DO NOTHING"
)


def _attempt_begin(instance_uuid: str) -> bool:
    """Commit the placement attempt row of a build request (API database, before any cell write).

    Returns whether a row was there already: an earlier attempt began and did not finish, so a
    cell may hold the instance. One statement, committed on its own (outside any transaction).
    """
    now = sql.connection(API_ALIAS).ops.adapt_datetimefield_value(timezone.now())
    return sql.execute(API_ALIAS, _ATTEMPT_BEGIN_SQL, [instance_uuid, now]) == 0


def _build_request_free(instance_uuid: str) -> bool:
    """Whether the build request is still waiting and no other conductor is placing it now.

    One statement on the API database, in autocommit: on PostgreSQL a ``FOR UPDATE SKIP LOCKED``
    whose lock, if taken, ends with the statement. Conductors walk the same oldest-first list, so
    most of what one passes over is being placed, or was just placed, by another: this answers
    that in one round trip, before an attempt row is written and a transaction opened for it.
    """
    table = BuildRequest._meta.db_table
    lock = " FOR UPDATE SKIP LOCKED" if sql.is_postgresql(API_ALIAS) else ""
    return (
        sql.fetch_value(API_ALIAS, f"SELECT 1 FROM {table} WHERE instance_uuid = %s{lock}", [instance_uuid])
        is not None
    )


def _attempt_end(instance_uuid: str) -> None:
    """Delete the attempt row, in the API transaction that finishes the build request."""
    PlacementAttempt.objects.filter(instance_uuid=instance_uuid).delete()


def _group_for(spec: dict) -> dict | None:
    """The request's server group with the hosts of its other members, its API row locked.

    The lock (``SELECT ... FOR NO KEY UPDATE`` on ``instance_groups``, held until the caller's API
    transaction ends) makes conductors placing members of the same group take turns: the next
    one reads the member hosts only after the previous member's cell row is committed, so two
    members of an anti-affinity group never land on one host because they were placed at the
    same moment. Reads the API database and every cell.
    """
    group = spec.get("instance_group")
    if not group:
        return None
    list(InstanceGroup.objects.select_for_update(no_key=True).filter(uuid=group["uuid"]).values_list("id", flat=True))
    hosts = servergroup_member_hosts(group_uuid=group["uuid"], exclude=[spec["instance_uuid"]])
    return {**group, "hosts": hosts}


def _write_block_device_mappings(created: Instance, mappings: list[dict], flavor: dict) -> None:
    """The instance's block_device_mapping rows, from its build request's mappings (Nova's
    conductor _create_block_device_mapping: sized again from the flavor, each with its own uuid)."""
    rows = []
    for bdm in mappings:
        values = {name: bdm[name] for name in block_devices.FIELDS if name in bdm}
        values["volume_size"] = block_devices.volume_size(flavor, bdm)
        rows.append(BlockDeviceMapping(instance=created, uuid=str(uuid_lib.uuid4()), **values))
    BlockDeviceMapping.objects.bulk_create(rows)


def _write_instance(
    cell,
    instance: dict,
    spec: dict,
    *,
    host=None,
    node=None,
    fault: str | None = None,
    block_device_mappings: list[dict] = (),
) -> None:
    """Create the instance, its extra row, metadata, block device mappings and fault in ``cell``
    (inside target_cell)."""
    now = timezone.now()
    values = {key: instance.get(key) for key in INSTANCE_FIELDS if key != "created_at"}
    values.update(
        created_at=instance.get("created_at") or now,
        host=host,
        node=node,
        launched_on=host,
        launched_at=now if fault is None else None,
        vm_state="active" if fault is None else "error",
        task_state=None,
        power_state=POWER_RUNNING if fault is None else POWER_NOSTATE,
        progress=0,
        availability_zone=instance.get("availability_zone")
        or (settings.CELLSV2_DEFAULT_AVAILABILITY_ZONE if fault is None else None),
    )
    created = Instance.objects.create(**values)
    flavor = spec.get("flavor") or {}
    InstanceExtra.objects.create(
        instance=created,
        flavor=json.dumps({"cur": flavor, "old": None, "new": None}),
        keypairs=instance.get("keypairs") or None,
    )
    system = {"security_groups": json.dumps(instance.get("security_groups") or [])}
    if host is not None:
        resources = scheduler.requested_resources(flavor, is_bfv=bool(spec.get("is_bfv")))
        system[scheduler.CLAIMED_DISK_KEY] = str(scheduler.flavor_disk_gb(resources))
    if instance.get("locked_reason"):
        system["locked_reason"] = instance["locked_reason"]
    system.update(instance.get("image_system_metadata") or {})
    InstanceSystemMetadata.objects.bulk_create(
        [InstanceSystemMetadata(instance=created, key=k, value=v) for k, v in system.items()]
    )
    Tag.objects.bulk_create([Tag(resource_id=created.uuid, tag=t) for t in instance.get("tags") or []])
    InstanceMetadata.objects.bulk_create(
        [InstanceMetadata(instance=created, key=k, value=v) for k, v in (instance.get("metadata") or {}).items()]
    )
    _write_block_device_mappings(created, block_device_mappings, flavor)
    if fault is not None:
        InstanceFault.objects.create(instance=created, code=500, message=fault[:255], details=fault)
    instance_action_record_create(
        instance_uuid=created.uuid, user_id=created.user_id, project_id=created.project_id, host=host, failure=fault
    )


class BatchHostStates:
    """The candidate hosts read once for a batch of placements (Nova's scheduler host state cache).

    Only for the common request (no availability zone but the default, no requested destination);
    each placement then costs no read of every cell. What this conductor places is consumed from
    the states; what others claim meanwhile is not seen, but every placement is still a
    conditional claim on the node row, so a stale state can only make a claim fail (that node is
    then dropped for the batch) and before a server is buried in cell0 the hosts are read again.
    Disabled or down hosts are seen at the next batch.
    """

    def __init__(self):
        self._states: list | None = None

    @staticmethod
    def cacheable(spec: dict) -> bool:
        zone = spec.get("availability_zone")
        return not spec.get("requested_destination") and zone in (None, settings.CELLSV2_DEFAULT_AVAILABILITY_ZONE)

    def states(self) -> list:
        if self._states is None:
            self._states = scheduler.host_states()
        return self._states

    def forget(self) -> None:
        self._states = None


# The host states of the batch being placed by conductor_run_once in this thread (None outside one).
_BATCH_HOSTS: ContextVar[BatchHostStates | None] = ContextVar("cellsv2_batch_hosts", default=None)


def _claim_and_write(states: list, flavor: dict, group, instance: dict, spec: dict, mappings: list):
    """Claim the best host of ``states`` and write the instance into its cell; the cell, or None
    when no host of ``states`` could be claimed (NoValidHost when none fits the request)."""
    while states:
        state = scheduler.select_host(states, flavor, group)
        with target_cell(state.cell) as alias, transaction.atomic(using=alias):
            if scheduler.claim(state, flavor):
                _write_instance(
                    state.cell, instance, spec, host=state.host, node=state.node, block_device_mappings=mappings
                )
                state.consume(flavor)  # for the next placement of the batch, when the states are shared
                return state.cell
        # Someone else took the last capacity of that node: try the next best.
        states.remove(state)
    return None


def _place_on_a_host(hosts, spec: dict, flavor: dict, group, instance: dict, mappings: list):
    """The cell the instance was written into, on a claimed host; NoValidHost when none can take it.

    With ``hosts`` (a BatchHostStates) and a cacheable request, the batch's states are tried
    first; if none can take the server, the hosts are read again before giving up.
    """
    if hosts is not None and hosts.cacheable(spec):
        try:
            cell = _claim_and_write(hosts.states(), flavor, group, instance, spec, mappings)
        except scheduler.NoValidHost:
            cell = None
        if cell is not None:
            return cell
        hosts.forget()
        cell = _claim_and_write(hosts.states(), flavor, group, instance, spec, mappings)
    else:
        states = scheduler.host_states(
            availability_zone=spec.get("availability_zone"), destination=spec.get("requested_destination")
        )
        cell = _claim_and_write(states, flavor, group, instance, spec, mappings)
    if cell is None:
        raise scheduler.NoValidHost()
    return cell


@placement_observed  # counts outcomes and failures; its log lines carry the instance uuid
def build_request_place(instance_uuid: str) -> str:
    """Place one build request. Returns placed, buried (cell0), adopted, cancelled, skipped, or
    deferred (an earlier attempt may have written into a cell that does not answer now).

    Reads and writes the API database (cellsv2_placement_attempts, build_requests,
    request_specs, instance_mappings) and the chosen cell database; see the module docstring
    for the order and the races it handles.
    """
    if not _build_request_free(instance_uuid):
        return "skipped"
    retried = _attempt_begin(instance_uuid)
    with transaction.atomic(using=API_ALIAS):
        build = (
            BuildRequest.objects.select_for_update(skip_locked=True)
            .filter(instance_uuid=instance_uuid)
            .only("id", "instance", "instance_uuid", "block_device_mappings")
            .first()
        )
        if build is None:
            if not retried and not BuildRequest.objects.filter(instance_uuid=instance_uuid).exists():
                # Finished by another conductor before we began: our fresh row marks nothing.
                _attempt_end(instance_uuid)
            return "skipped"
        mapping = InstanceMapping.objects.select_related("cell").filter(instance_uuid=instance_uuid).first()
        spec_row = RequestSpec.objects.filter(instance_uuid=instance_uuid).first()
        try:
            instance = instance_load(build.instance)
            mappings = block_device_mappings_load(build.block_device_mappings)
            spec = request_spec_load(spec_row.spec) if spec_row else {}
        except UnsupportedFormat:
            logger.exception("Build request %s cannot be read; leaving it for an operator", instance_uuid)
            return "skipped"
        if mapping is None:
            logger.error("Build request %s has no instance mapping; deleting it", instance_uuid)
            build.delete()
            _attempt_end(instance_uuid)
            return "cancelled"
        if mapping.cell_id is not None:
            logger.error(
                "Instance %s is already mapped to cell %s; dropping its build request",
                instance_uuid,
                mapping.cell.identity,
            )
            build.delete()
            _attempt_end(instance_uuid)
            return "skipped"

        outcome = "placed"
        existing = None
        # Only an earlier attempt can have written the instance into a cell, and every attempt
        # commits its row before any cell write: a first attempt has nothing to look for.
        if retried:
            try:
                existing = _find_existing(instance_uuid, every_cell_must_answer=True)
            except CellsDidNotAnswer as exc:
                logger.warning(
                    "Build request %s waits: an earlier attempt may have written it into a cell that does not "
                    "answer now (%s)",
                    instance_uuid,
                    exc,
                )
                return "deferred"
        if existing is not None:
            cell, _ = existing
            outcome = "adopted"
        else:
            # What the node must have: a volume-backed server's root disk is not on the node.
            flavor = scheduler.requested_resources(spec.get("flavor") or {}, is_bfv=bool(spec.get("is_bfv")))
            group = _group_for(spec)
            try:
                cell = _place_on_a_host(_BATCH_HOSTS.get(), spec, flavor, group, instance, mappings)
            except scheduler.NoValidHost as exc:
                cell = CellMapping.objects.get(uuid=CELL0_UUID)
                with target_cell(cell) as alias, transaction.atomic(using=alias):
                    # As Nova's _bury_in_cell0: the instance keeps its block device mappings.
                    _write_instance(cell, instance, spec, fault=str(exc), block_device_mappings=mappings)
                outcome = "buried"

        InstanceMapping.objects.filter(pk=mapping.pk).update(cell=cell)
        _attempt_end(instance_uuid)
        if BuildRequest.objects.filter(pk=build.pk).delete()[0] == 0:
            # The user deleted the server while we placed it: take the cell row back.
            _rollback_instance(cell, instance_uuid)
            return "cancelled"
    _invalidate_mapping_cache(instance_uuid)
    return outcome


def _rollback_instance(cell, instance_uuid: str) -> None:
    with target_cell(cell) as alias, transaction.atomic(using=alias):
        instance = Instance.objects.filter(uuid=instance_uuid).first()
        if instance is None:
            return
        scheduler.release(
            host=instance.host,
            node=instance.node,
            vcpus=instance.vcpus or 0,
            memory_mb=instance.memory_mb or 0,
            disk_gb=scheduler.claimed_disk_gb(instance),
        )
        InstanceMetadata.objects.filter(instance=instance).delete()
        InstanceSystemMetadata.objects.filter(instance=instance).delete()
        Tag.objects.filter(resource_id=instance_uuid).delete()
        InstanceFault.objects.filter(instance=instance).delete()
        InstanceExtra.objects.filter(instance=instance).delete()
        BlockDeviceMapping.objects.filter(instance=instance).delete()
        instance_actions_forget(instance_uuid=instance_uuid)
        instance.delete()


def _invalidate_mapping_cache(instance_uuid: str) -> None:
    mapping_cache_forget(instance_uuid)


def pending_build_requests(limit: int) -> list[str]:
    """Uuids of build requests waiting to be placed, oldest first, those with an unfinished
    earlier attempt last (they may wait for a cell: they never hold up new ones). API database.
    """
    attempted = Exists(PlacementAttempt.objects.filter(instance_uuid=OuterRef("instance_uuid")))
    return list(
        BuildRequest.objects.exclude(instance_uuid=None)
        .annotate(attempted=attempted)
        .order_by("attempted", "id")
        .values_list("instance_uuid", flat=True)[:limit]
    )


def placement_attempts_reap(*, limit: int = 50) -> int:
    """Finish the attempt rows whose build request is gone; returns how many cell copies were removed.

    A build request deleted by its user after an attempt crashed may have left the instance in a
    cell, where nothing points at it. Unless its mapping shows it was placed, every cell is asked
    (all must answer, or the row waits for the next run); a copy found is rolled back, capacity
    released. Reads the API database and every cell; writes the cell holding a copy.
    """
    orphans = PlacementAttempt.objects.filter(
        ~Exists(BuildRequest.objects.filter(instance_uuid=OuterRef("instance_uuid")))
    ).values_list("instance_uuid", flat=True)[:limit]
    removed = 0
    for instance_uuid in list(orphans):
        placed = InstanceMapping.objects.filter(instance_uuid=instance_uuid, cell__isnull=False).exists()
        if not placed:
            try:
                existing = _find_existing(instance_uuid, every_cell_must_answer=True)
            except CellsDidNotAnswer as exc:
                logger.warning("Cancelled build %s may be in a cell that does not answer (%s)", instance_uuid, exc)
                continue
            if existing is not None:
                cell, _ = existing
                logger.warning("Removing cancelled build %s left in cell %s by a crash", instance_uuid, cell.identity)
                _rollback_instance(cell, instance_uuid)
                removed += 1
        _attempt_end(instance_uuid)
    return removed


# Outcomes that mean the conductor got something done (anything else: do not retry at once).
PROGRESS = ("placed", "buried", "adopted", "cancelled", "reaped")


def conductor_run_once(*, limit: int = 50) -> dict[str, int]:
    """Reap cancelled attempts, then place up to ``limit`` waiting build requests; returns a count per outcome."""
    counts: dict[str, int] = {}
    reaped = placement_attempts_reap(limit=limit)
    if reaped:
        counts["reaped"] = reaped
    batch = _BATCH_HOSTS.set(BatchHostStates())
    try:
        for uuid in pending_build_requests(limit):
            try:
                outcome = build_request_place(uuid)
            except DatabaseError:
                logger.exception("Placing %s failed; it stays queued", uuid)
                outcome = "failed"
            counts[outcome] = counts.get(outcome, 0) + 1
    finally:
        _BATCH_HOSTS.reset(batch)
    return counts


def conductor_loop(*, interval: float = 1.0, batch: int = 50, stop=None, on_batch=None) -> None:
    """Place build requests until ``stop()`` is true, sleeping ``interval`` when idle (manage.py conductor)."""
    while stop is None or not stop():
        counts = conductor_run_once(limit=batch)
        if on_batch is not None and counts:
            on_batch(counts)
        if not any(counts.get(outcome) for outcome in PROGRESS):
            # Idle, or only build requests that wait for a cell or keep failing: no busy loop.
            time.sleep(interval)
        # Long-lived worker: let Django recycle connections that went stale or too old.
        for connection in connections.all(initialized_only=True):
            connection.close_if_unusable_or_obsolete()


def schedule_after_commit(instance_uuids: list[str]) -> None:
    """In inline mode, place the new servers as soon as the API transaction commits."""
    if settings.CELLSV2_CONDUCTOR_MODE != "inline":
        return

    def place():
        for uuid in instance_uuids:
            try:
                build_request_place(uuid)
            except Exception:
                # The build request stays; `manage.py conductor` (or the next inline run) retries.
                logger.exception("Inline placement of %s failed", uuid)

    transaction.on_commit(place, using=API_ALIAS)
