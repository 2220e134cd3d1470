"""Server actions and metadata writes in the instance's cell, under Nova's state rules.

Nova's API checks the lock and the states (nova/compute/api.py: check_instance_lock,
check_instance_host, check_instance_state), sets a task_state and casts to the compute host,
whose driver does the work and writes the final states. There is no hypervisor here, so the
compute side's transition is applied at once, in the same cell transaction as the checks and
under the instance's row lock: a concurrent action sees the result and gets Nova's 409, and no
task_state can be left behind half-way. The action is recorded (instance_actions) in that same
transaction, with the event Nova's compute host (or, for lock / unlock, its API) records. The
power states are those a libvirt host reports (pause: PAUSED, suspend: SHUTDOWN); Nova's fake
driver leaves RUNNING for both.

An action on a server that is still a build request is a conflict: Nova's checks answer where
they apply (a stop is "not ready", a reboot is refused in vm_state building), and the others
(lock, unlock) are refused in vm_state building too. Deleting one is not an action
(servers.services.lifecycle.server_delete).
"""

from collections.abc import Callable
from dataclasses import dataclass, field

from django.db import transaction
from django.utils import timezone

from cellsv2.context import target_cell
from cellsv2.quotas import quota_limit
from instance_actions.services import CONDUCTOR_HOST, instance_action_event_record, instance_action_start
from keypairs.exceptions import KeypairNotFound
from keypairs.selectors import keypair_get
from keypairs.serialization import keypair_list_json
from mappings.selectors import instance_mapping_read
from servers.exceptions import (
    ConsoleOutputUnavailable,
    InstanceInvalidState,
    InstanceNotReady,
    InvalidKeyName,
    MetadataItemNotFound,
    MetadataLimitExceeded,
    ServerLocked,
    ServerNotFound,
)
from servers.models import Instance, InstanceExtra, InstanceMetadata, InstanceSystemMetadata
from servers.selectors.show import build_request_read
from servers.serialization import instance_load
from servers.services.lifecycle import server_delete

# nova/compute/power_state.py
NOSTATE, RUNNING, PAUSED, SHUTDOWN = 0, 1, 3, 4
# nova/compute/vm_states.py
ALLOW_SOFT_REBOOT = frozenset({"active"})
ALLOW_HARD_REBOOT = ALLOW_SOFT_REBOOT | {"stopped", "paused", "suspended", "error"}
# nova/compute/task_states.py ALLOW_REBOOT: a hard reboot may interrupt these.
ALLOW_REBOOT = frozenset(
    {
        None,
        "rebooting",
        "reboot_pending",
        "reboot_started",
        "resuming",
        "rebooting_hard",
        "unpausing",
        "pausing",
        "suspending",
    }
)
METADATA_VM_STATES = frozenset({"active", "paused", "suspended", "stopped"})
NO_TASK = frozenset({None})
LOCKED_REASON = "locked_reason"


@dataclass(frozen=True)
class StateRule:
    """What an action needs of an instance, checked in Nova's order: lock, host, vm_state,
    task_state, launched. ``name`` is the action as Nova's conflict messages spell it;
    None for ``vm_states`` / ``task_states`` means any."""

    name: str
    vm_states: frozenset | None = None
    task_states: frozenset | None = NO_TASK
    must_have_launched: bool = True
    needs_host: bool = False
    check_lock: bool = True
    # The event Nova records for the action (its compute host's, or its API's for lock and
    # unlock); None: Nova records no instance action for it.
    event: str | None = None

    def check(self, context, instance: dict) -> None:
        """Raise ServerLocked, InstanceNotReady or InstanceInvalidState (all 409) as Nova does."""
        uuid = instance.get("uuid")
        if self.check_lock and instance.get("locked") and not context.is_admin:
            raise ServerLocked(uuid)
        if self.needs_host and not instance.get("host"):
            raise InstanceNotReady(uuid)
        if self.vm_states is not None and instance.get("vm_state") not in self.vm_states:
            raise InstanceInvalidState(uuid, self.name, "vm_state", instance.get("vm_state"))
        if self.task_states is not None and instance.get("task_state") not in self.task_states:
            raise InstanceInvalidState(uuid, self.name, "task_state", instance.get("task_state"))
        if self.must_have_launched and not instance.get("launched_at"):
            raise InstanceInvalidState(uuid, self.name, "launched_at", None)


REBOOT_SOFT = StateRule("reboot", ALLOW_SOFT_REBOOT, event="compute_reboot_instance")
REBOOT_HARD = StateRule("reboot", ALLOW_HARD_REBOOT, ALLOW_REBOOT, event="compute_reboot_instance")
STOP = StateRule("stop", frozenset({"active", "error"}), needs_host=True, event="compute_stop_instance")
START = StateRule("start", frozenset({"stopped"}), needs_host=True, event="compute_start_instance")
PAUSE = StateRule("pause", frozenset({"active"}), event="compute_pause_instance")
UNPAUSE = StateRule("unpause", frozenset({"paused"}), event="compute_unpause_instance")
SUSPEND = StateRule("suspend", frozenset({"active"}), event="compute_suspend_instance")
RESUME = StateRule("resume", frozenset({"suspended"}), event="compute_resume_instance")
REBUILD = StateRule("rebuild", frozenset({"active", "stopped", "error"}), event="compute_rebuild_instance")
# Nova's lock and unlock check nothing of the instance.
LOCK = StateRule("lock", task_states=None, must_have_launched=False, check_lock=False, event="api_lock")
UNLOCK = StateRule("unlock", task_states=None, must_have_launched=False, check_lock=False, event="api_unlock")
# Nova's restore wants a soft-deleted server; force delete any with no task in progress.
RESTORE = StateRule("restore", frozenset({"soft-delete"}))
FORCE_DELETE = StateRule("forceDelete", must_have_launched=False)
CONSOLE_OUTPUT = StateRule(
    "os-getConsoleOutput", task_states=None, must_have_launched=False, needs_host=True, check_lock=False
)
UPDATE_METADATA = StateRule("update metadata", METADATA_VM_STATES, task_states=None)
DELETE_METADATA = StateRule("delete metadata", METADATA_VM_STATES, task_states=None)

# The compute side's result of each power action: (vm_state, power_state).
POWER_RESULTS = {
    "reboot": ("active", RUNNING),
    "stop": ("stopped", SHUTDOWN),
    "start": ("active", RUNNING),
    "pause": ("paused", PAUSED),
    "unpause": ("active", RUNNING),
    "suspend": ("suspended", SHUTDOWN),
    "resume": ("active", RUNNING),
}
POWER_RULES = {
    "stop": STOP,
    "start": START,
    "pause": PAUSE,
    "unpause": UNPAUSE,
    "suspend": SUSPEND,
    "resume": RESUME,
}


def _fields(instance: Instance) -> dict:
    return {f.attname: getattr(instance, f.attname) for f in Instance._meta.concrete_fields}


def server_change_in_cell(*, context, server, rule: StateRule, change: Callable[[Instance], dict | None]):
    """Check ``rule`` and apply ``change(instance)`` in the server's cell, in one transaction under
    the instance's row lock; ``change`` returns the Instance columns to set (or None).

    A server that is still a build request is refused (409) without writing anything. Raises
    ServerNotFound when it went away meanwhile. Returns what ``change`` returned.
    """
    if server.source == "build_request":
        build = build_request_read(server.uuid)
        if build is not None:
            instance = instance_load(build.instance)
            instance.setdefault("uuid", server.uuid)
            rule.check(context, instance)
            raise InstanceInvalidState(server.uuid, rule.name, "vm_state", instance.get("vm_state"))
    mapping = instance_mapping_read(server.uuid)
    if mapping is None or mapping.cell is None:
        raise ServerNotFound(server.uuid)
    with target_cell(mapping.cell) as alias, transaction.atomic(using=alias):
        instance = Instance.objects.live().select_for_update().filter(uuid=server.uuid).first()
        if instance is None:
            raise ServerNotFound(server.uuid)
        rule.check(context, _fields(instance))
        values = change(instance)
        if values:
            Instance.objects.filter(pk=instance.pk).update(**values, updated_at=timezone.now())
        if rule.event and values is not None:
            # Nova's _record_action_start and the event of the side that did the work, committed
            # with the change (a lock the owner already holds changes nothing: no record).
            action = instance_action_start(
                instance_uuid=instance.uuid, action=rule.name, user_id=context.user_id, project_id=context.project_id
            )
            host = instance.host if rule.event.startswith("compute_") else CONDUCTOR_HOST
            instance_action_event_record(action=action, event=rule.event, host=host)
    return values


# --- power: reboot, stop / start, pause / unpause, suspend / resume ---------------------------------


def server_power_action(*, context, server, action: str) -> None:
    """stop, start, pause, unpause, suspend or resume a server (its cell database). Raises
    ServerNotFound, ServerLocked, InstanceNotReady or InstanceInvalidState."""
    vm_state, power_state = POWER_RESULTS[action]
    values = {"vm_state": vm_state, "task_state": None, "power_state": power_state}
    if action == "stop":
        values["progress"] = 0
    server_change_in_cell(context=context, server=server, rule=POWER_RULES[action], change=lambda instance: values)


def server_reboot(*, context, server, hard: bool) -> None:
    """Reboot a server (its cell database): ACTIVE and running afterwards. A hard reboot also
    brings back a stopped, paused, suspended or failed server (Nova's ALLOW_HARD_REBOOT)."""
    vm_state, power_state = POWER_RESULTS["reboot"]
    values = {"vm_state": vm_state, "task_state": None, "power_state": power_state}
    rule = REBOOT_HARD if hard else REBOOT_SOFT
    server_change_in_cell(context=context, server=server, rule=rule, change=lambda instance: values)


# --- deferred delete and console output ------------------------------------------------------------


def server_restore(*, context, server) -> None:
    """Nova's restore of a soft-deleted server. Servers are deleted at once here (Nova's
    reclaim_instance_interval = 0), so none is ever soft-deleted: Nova's 409 for every state."""
    server_change_in_cell(context=context, server=server, rule=RESTORE, change=lambda instance: None)


def server_force_delete(*, context, server) -> None:
    """Nova's forceDelete: a delete that skips the deferral (none here), refused while a task is in
    progress or, for a non-admin, while the server is locked. Writes as server_delete does."""
    FORCE_DELETE.check(context, {"uuid": server.uuid, **server.instance})
    server_delete(context=context, uuid=server.uuid, server=server)


def server_console_output(*, context, server) -> str:
    """The guest's console log, which a hypervisor keeps: a server without a host is not ready
    (409), and with no hypervisor there is no log to give (ConsoleOutputUnavailable, 501)."""
    CONSOLE_OUTPUT.check(context, {"uuid": server.uuid, **server.instance})
    raise ConsoleOutputUnavailable()


# --- lock / unlock -------------------------------------------------------------------------------------


def lock_expected_by(context, instance: dict) -> bool:
    """Nova's is_expected_locked_by: whether the caller is on the side that locked the server
    (the owner's project, or not); an unlocked server is expected by anyone."""
    expected = "owner" if instance.get("project_id") == context.project_id else "admin"
    locked_by = instance.get("locked_by")
    return not locked_by or locked_by == expected


def server_system_metadata_set(instance: Instance, key: str, value: str | None) -> None:
    rows = InstanceSystemMetadata.objects.live().filter(instance_id=instance.uuid, key=key)
    if value is None:
        rows.soft_delete()
    elif not rows.update(value=value, updated_at=timezone.now()):
        InstanceSystemMetadata.objects.create(instance_id=instance.uuid, key=key, value=value)


def server_lock(*, context, server, reason: str | None = None) -> None:
    """Lock a server (its cell database): ``locked_by`` is owner when the caller's project owns
    it, else admin; the reason (2.73) goes to its system metadata. The owner locking a locked
    server changes nothing (Nova returns early); an admin takes the lock over."""

    def change(instance):
        is_owner = instance.project_id == context.project_id
        if instance.locked and is_owner:
            return None
        if reason:
            server_system_metadata_set(instance, LOCKED_REASON, reason)
        return {"locked": True, "locked_by": "owner" if is_owner else "admin"}

    server_change_in_cell(context=context, server=server, rule=LOCK, change=change)


def server_unlock(*, context, server) -> None:
    """Unlock a server and forget the lock's reason (its cell database). Who may unlock whose lock
    is the view's policy check (unlock_override)."""

    def change(instance):
        server_system_metadata_set(instance, LOCKED_REASON, None)
        return {"locked": False, "locked_by": None}

    server_change_in_cell(context=context, server=server, rule=UNLOCK, change=change)


# --- metadata ------------------------------------------------------------------------------------------


def _metadata_read(instance: Instance) -> dict:
    return dict(InstanceMetadata.objects.live().filter(instance_id=instance.uuid).values_list("key", "value"))


def _metadata_check_quota(instance: Instance, metadata: dict) -> None:
    limit = quota_limit(project_id=instance.project_id, resource="metadata_items")
    if 0 <= limit < len(metadata):
        raise MetadataLimitExceeded(limit)


def _metadata_write(instance: Instance, current: dict, wanted: dict) -> None:
    """Make the live rows say ``wanted`` (Nova's instance_metadata_update with delete=True):
    removed keys are soft-deleted, changed values updated, new keys inserted."""
    gone = [key for key in current if key not in wanted]
    if gone:
        InstanceMetadata.objects.live().filter(instance_id=instance.uuid, key__in=gone).soft_delete()
    now = timezone.now()
    for key, value in wanted.items():
        if key in current and current[key] != value:
            InstanceMetadata.objects.live().filter(instance_id=instance.uuid, key=key).update(
                value=value, updated_at=now
            )
    new = [InstanceMetadata(instance_id=instance.uuid, key=k, value=v) for k, v in wanted.items() if k not in current]
    InstanceMetadata.objects.bulk_create(new)


def server_metadata_update(*, context, server, metadata: dict, replace: bool) -> dict:
    """Merge ``metadata`` into a server's (or replace it all when ``replace``); return the result.

    Writes instance_metadata in the server's cell. Raises ServerLocked, InstanceInvalidState,
    MetadataLimitExceeded (the project's metadata_items quota) or ServerNotFound.
    """
    result = {}

    def change(instance):
        current = _metadata_read(instance)
        wanted = dict(metadata) if replace else {**current, **metadata}
        _metadata_check_quota(instance, wanted)
        _metadata_write(instance, current, wanted)
        result.update(wanted)
        return

    server_change_in_cell(context=context, server=server, rule=UPDATE_METADATA, change=change)
    return result


def server_metadata_delete(*, context, server, key: str) -> None:
    """Remove one metadata item of a server (soft-deleted in its cell). Raises
    MetadataItemNotFound, ServerLocked, InstanceInvalidState or ServerNotFound."""
    if key not in server.metadata:
        raise MetadataItemNotFound()

    def change(instance):
        if not InstanceMetadata.objects.live().filter(instance_id=instance.uuid, key=key).soft_delete():
            raise MetadataItemNotFound()
        return

    server_change_in_cell(context=context, server=server, rule=DELETE_METADATA, change=change)


# --- rebuild -------------------------------------------------------------------------------------------

UNSET = object()


@dataclass
class RebuildRequest:
    """What a rebuild asks for; the Instance columns in ``changes`` (display_name, hostname, ...)."""

    image_ref: str
    changes: dict = field(default_factory=dict)
    metadata: dict | None = None
    key_name: object = UNSET  # a name, None to remove the key (2.54+), or UNSET to keep it


@dataclass(frozen=True)
class Rebuilt:
    """The states Nova's API answers a rebuild with (before its compute host finishes it)."""

    vm_state: str | None
    task_state: str
    power_state: int | None


def server_rebuild(*, context, server, request: RebuildRequest) -> Rebuilt:
    """Rebuild a server on a new image (its cell database): image, the attributes asked for and,
    when given, the metadata replaced; then, as the compute host finishes it, ACTIVE again (or
    still SHUTOFF when it was stopped) with a new launched_at.

    Raises ServerLocked, InstanceInvalidState, MetadataLimitExceeded, InvalidKeyName or
    ServerNotFound; nothing is written then.
    """
    answer = []

    def change(instance):
        # After the state checks, as Nova looks the key pair up inside rebuild().
        keypair = None
        if isinstance(request.key_name, str):
            try:
                keypair = keypair_get(user_id=context.user_id, name=request.key_name)
            except KeypairNotFound:
                raise InvalidKeyName() from None
        if request.metadata is not None:
            _metadata_check_quota(instance, request.metadata)
            _metadata_write(instance, _metadata_read(instance), request.metadata)
        values = {"image_ref": request.image_ref, **request.changes}
        if request.key_name is not UNSET:
            values["key_name"] = keypair.name if keypair else None
            values["key_data"] = keypair.public_key if keypair else None
            InstanceExtra.objects.live().filter(instance_id=instance.uuid).update(
                keypairs=keypair_list_json([keypair] if keypair else [])
            )
        # Nova's API answers with the instance as it leaves it for the compute host.
        answer.append(Rebuilt(instance.vm_state, "rebuilding", instance.power_state))
        was_stopped = instance.vm_state == "stopped"
        values.update(
            vm_state="stopped" if was_stopped else "active",
            task_state=None,
            power_state=SHUTDOWN if was_stopped else RUNNING,
            launched_at=timezone.now(),
            progress=0,
        )
        return values

    server_change_in_cell(context=context, server=server, rule=REBUILD, change=change)
    return answer[0]
