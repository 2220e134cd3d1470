"""``POST /servers/{id}/action``: reboot, os-stop / os-start, pause / unpause, suspend / resume,
lock / unlock and rebuild through the API, with Nova's state rules (vm_state, task_state,
power_state in the instance's cell), conflicts, lock rules, policies and faults; cell0 and two
cells, build requests and a down cell."""

from datetime import UTC, datetime

import pytest

from cellsv2.context import target_cell
from cellsv2.quotas import quota_set
from instance_actions.models import InstanceAction
from keypairs.services import keypair_create
from mappings.models import InstanceMapping
from servers.models import Instance
from tests.factories import IMAGE, new_uuid
from tests.fixtures.compute import (
    ADMIN,
    HOST,
    MEMBER_SAME_PROJECT,
    OTHER,
    cells_holding,
    fault,
    instance_in,
    metadata_of,
    place_all,
    seed_instance,
    system_metadata_of,
)
from tests.keypairs.keys import KNOWN_RSA_2048
from tests.servers.helpers import SERVER_KEYS_2_1
from tests.support import ALL_DATABASES

pytestmark = [pytest.mark.django_db(databases=ALL_DATABASES), pytest.mark.usefixtures("worker_mode")]

IMAGE2 = "a2459075-d96c-40d5-893e-577ff92e721c"
LAUNCHED = datetime(2024, 1, 1, tzinfo=UTC)
# Nova's power_state values (nova/compute/power_state.py).
RUNNING, PAUSED, SHUTDOWN = 1, 3, 4


def placed(api, **server) -> tuple[str, str]:
    """A server created through the API and placed by the conductor: (uuid, its cell's alias)."""
    uuid = api.create_uuid(**server)
    place_all()
    [alias] = cells_holding(uuid)
    return uuid, alias


def act(api, uuid, action, value=None, **kwargs):
    return api("post", f"/servers/{uuid}/action", body={action: value}, **kwargs)


def accepted(response):
    assert response.status_code == 202, response.content
    assert response.content == b""


def conflict(response, message):
    assert response.status_code == 409, response.content
    assert fault(response) == ("conflictingRequest", 409, message)


def states(alias, uuid) -> tuple:
    instance = instance_in(alias, uuid)
    return instance.vm_state, instance.task_state, instance.power_state


def shown(api, uuid, **kwargs) -> dict:
    return api.show(uuid, **kwargs).json()["server"]


def set_instance(alias, uuid, **fields):
    with target_cell(alias):
        Instance.objects.filter(uuid=uuid).update(**fields)


class TestPowerActions:
    def test_stop_then_start(self, api, topology):
        uuid, alias = placed(api)
        accepted(act(api, uuid, "os-stop"))
        assert states(alias, uuid) == ("stopped", None, SHUTDOWN)
        server = shown(api, uuid)
        assert (server["status"], server["OS-EXT-STS:power_state"]) == ("SHUTOFF", SHUTDOWN)
        assert server["OS-EXT-STS:task_state"] is None
        conflict(act(api, uuid, "os-stop"), f"Cannot 'stop' instance {uuid} while it is in vm_state stopped")

        accepted(act(api, uuid, "os-start"))
        assert states(alias, uuid) == ("active", None, RUNNING)
        assert shown(api, uuid)["status"] == "ACTIVE"
        conflict(act(api, uuid, "os-start"), f"Cannot 'start' instance {uuid} while it is in vm_state active")

    @pytest.mark.parametrize(
        "action,inverse,vm_state,status,power_state",
        [("pause", "unpause", "paused", "PAUSED", PAUSED), ("suspend", "resume", "suspended", "SUSPENDED", SHUTDOWN)],
    )
    def test_pause_or_suspend_then_back(self, api, topology, action, inverse, vm_state, status, power_state):
        uuid, alias = placed(api)
        conflict(act(api, uuid, inverse), f"Cannot '{inverse}' instance {uuid} while it is in vm_state active")
        accepted(act(api, uuid, action))
        assert states(alias, uuid) == (vm_state, None, power_state)
        assert shown(api, uuid)["status"] == status
        conflict(act(api, uuid, action), f"Cannot '{action}' instance {uuid} while it is in vm_state {vm_state}")
        accepted(act(api, uuid, inverse))
        assert states(alias, uuid) == ("active", None, RUNNING)

    @pytest.mark.parametrize("kind", ["SOFT", "soft", "Soft"])
    def test_soft_reboot_of_an_active_server(self, api, topology, kind):
        uuid, alias = placed(api)
        accepted(act(api, uuid, "reboot", {"type": kind}))
        assert states(alias, uuid) == ("active", None, RUNNING)

    def test_soft_reboot_needs_an_active_server(self, api, topology):
        uuid, alias = placed(api)
        act(api, uuid, "os-stop")
        conflict(
            act(api, uuid, "reboot", {"type": "SOFT"}),
            f"Cannot 'reboot' instance {uuid} while it is in vm_state stopped",
        )

    @pytest.mark.parametrize("before", ["os-stop", "pause", "suspend", None])
    def test_hard_reboot_brings_the_server_back_to_active(self, api, topology, before):
        uuid, alias = placed(api)
        if before:
            accepted(act(api, uuid, before))
        accepted(act(api, uuid, "reboot", {"type": "HARD"}))
        assert states(alias, uuid) == ("active", None, RUNNING)
        assert shown(api, uuid)["status"] == "ACTIVE"

    def test_hard_reboot_of_a_server_in_error(self, api, topology):
        uuid, alias = placed(api)
        set_instance(alias, uuid, vm_state="error", power_state=0)
        accepted(act(api, uuid, "reboot", {"type": "HARD"}))
        assert states(alias, uuid) == ("active", None, RUNNING)

    def test_stop_of_a_server_in_error(self, api, topology):
        uuid, alias = placed(api)
        set_instance(alias, uuid, vm_state="error")
        accepted(act(api, uuid, "os-stop"))
        assert states(alias, uuid) == ("stopped", None, SHUTDOWN)

    def test_a_task_in_progress_is_a_conflict(self, api, topology):
        uuid, alias = placed(api)
        set_instance(alias, uuid, task_state="rebuilding")
        for action, value, name in (
            ("os-stop", None, "stop"),
            ("pause", None, "pause"),
            ("suspend", None, "suspend"),
            ("reboot", {"type": "SOFT"}, "reboot"),
            ("reboot", {"type": "HARD"}, "reboot"),
            ("rebuild", {"imageRef": IMAGE}, "rebuild"),
        ):
            conflict(
                act(api, uuid, action, value),
                f"Cannot '{name}' instance {uuid} while it is in task_state rebuilding",
            )
        assert states(alias, uuid) == ("active", "rebuilding", RUNNING)

    def test_a_hard_reboot_may_interrupt_a_soft_one(self, api, topology):
        uuid, alias = placed(api)
        set_instance(alias, uuid, task_state="rebooting")
        accepted(act(api, uuid, "reboot", {"type": "HARD"}))
        assert states(alias, uuid) == ("active", None, RUNNING)

    def test_servers_in_both_cells(self, api, cells, topology):
        for alias in ("cell1", "cell2"):
            instance = seed_instance(cells[alias], host=f"compute{alias[-1]}", launched_at=LAUNCHED)
            accepted(act(api, instance.uuid, "os-stop"))
            assert states(alias, instance.uuid) == ("stopped", None, SHUTDOWN)
            accepted(act(api, instance.uuid, "os-start"))
            assert states(alias, instance.uuid) == ("active", None, RUNNING)

    def test_a_server_never_launched_cannot_be_rebooted(self, api, cells, topology):
        instance = seed_instance(cells["cell1"], host="compute1", launched_at=None)
        conflict(
            act(api, instance.uuid, "reboot", {"type": "SOFT"}),
            f"Instance {instance.uuid} is in an invalid state for 'reboot'",
        )

    def test_an_error_server_in_cell0(self, api, cells, topology):
        instance = seed_instance(cells["cell0"], vm_state="error", power_state=0)
        # No host: stop and start are "not ready"; the others check the states first.
        conflict(act(api, instance.uuid, "os-stop"), f"Instance {instance.uuid} is not ready")
        conflict(act(api, instance.uuid, "os-start"), f"Instance {instance.uuid} is not ready")
        conflict(
            act(api, instance.uuid, "pause"),
            f"Cannot 'pause' instance {instance.uuid} while it is in vm_state error",
        )
        conflict(
            act(api, instance.uuid, "reboot", {"type": "HARD"}),
            f"Instance {instance.uuid} is in an invalid state for 'reboot'",
        )
        conflict(
            act(api, instance.uuid, "rebuild", {"imageRef": IMAGE}),
            f"Instance {instance.uuid} is in an invalid state for 'rebuild'",
        )
        assert states("cell0", instance.uuid) == ("error", None, 0)


class TestBadRequests:
    @pytest.mark.parametrize(
        "body",
        [
            {"reboot": {}},
            {"reboot": {"type": "WARM"}},
            {"reboot": {"type": "SOFT", "force": True}},
            {"reboot": None},
            {"rebuild": {}},
            {"rebuild": {"imageRef": "not-an-image"}},
            {"rebuild": {"imageRef": IMAGE, "name": ""}},
            {"rebuild": {"imageRef": IMAGE, "metadata": {"": "v"}}},
            {"rebuild": {"imageRef": IMAGE, "accessIPv6": "not-an-ip"}},
            {"rebuild": {"imageRef": IMAGE, "bogus": 1}},
            {"rebuild": None},
        ],
    )
    def test_bad_bodies_are_400_and_change_nothing(self, api, topology, body):
        uuid, alias = placed(api, name="keep")
        response = api("post", f"/servers/{uuid}/action", body=body)
        assert response.status_code == 400, response.content
        assert fault(response)[:2] == ("badRequest", 400)
        assert states(alias, uuid) == ("active", None, RUNNING)
        assert instance_in(alias, uuid).display_name == "keep"

    def test_an_unknown_action_is_still_400(self, api, topology):
        uuid, _ = placed(api)
        response = act(api, uuid, "fly")
        assert fault(response) == ("badRequest", 400, "There is no such action: fly")

    @pytest.mark.parametrize("server_id", ["not-a-uuid", new_uuid()])
    @pytest.mark.parametrize(
        "action,value",
        [("os-stop", None), ("reboot", {"type": "HARD"}), ("lock", None), ("rebuild", {"imageRef": IMAGE})],
    )
    def test_unknown_server_is_404(self, api, topology, server_id, action, value):
        response = act(api, server_id, action, value)
        assert response.status_code == 404
        assert fault(response) == ("itemNotFound", 404, f"Instance {server_id} could not be found.")

    def test_another_projects_server_is_404_for_a_member_and_an_admin_may_act(self, api, topology):
        uuid, alias = placed(api, token=OTHER)
        assert act(api, uuid, "os-stop").status_code == 404
        assert states(alias, uuid) == ("active", None, RUNNING)
        accepted(act(api, uuid, "os-stop", token=ADMIN))
        assert states(alias, uuid) == ("stopped", None, SHUTDOWN)


class TestBuildRequestsAndDownCells:
    def test_every_action_on_a_build_request_is_409_and_delete_still_works(self, api, topology):
        uuid = api.create_uuid()
        for action, value, message in (
            ("os-stop", None, f"Instance {uuid} is not ready"),
            ("os-start", None, f"Instance {uuid} is not ready"),
            ("reboot", {"type": "SOFT"}, f"Cannot 'reboot' instance {uuid} while it is in vm_state building"),
            ("reboot", {"type": "HARD"}, f"Cannot 'reboot' instance {uuid} while it is in vm_state building"),
            ("pause", None, f"Cannot 'pause' instance {uuid} while it is in vm_state building"),
            ("unpause", None, f"Cannot 'unpause' instance {uuid} while it is in vm_state building"),
            ("suspend", None, f"Cannot 'suspend' instance {uuid} while it is in vm_state building"),
            ("resume", None, f"Cannot 'resume' instance {uuid} while it is in vm_state building"),
            ("lock", None, f"Cannot 'lock' instance {uuid} while it is in vm_state building"),
            ("unlock", None, f"Cannot 'unlock' instance {uuid} while it is in vm_state building"),
            ("rebuild", {"imageRef": IMAGE}, f"Cannot 'rebuild' instance {uuid} while it is in vm_state building"),
        ):
            conflict(act(api, uuid, action, value), message)
        server = shown(api, uuid)
        assert (server["status"], server["OS-EXT-STS:task_state"]) == ("BUILD", "scheduling")
        assert api("delete", f"/servers/{uuid}").status_code == 204
        assert api.show(uuid).status_code == 404

    def test_an_action_on_a_server_in_a_down_cell_is_503(self, api, topology, down_cell):
        uuid = new_uuid()
        InstanceMapping.objects.create(instance_uuid=uuid, cell=down_cell, project_id="proj1", user_id="alice")
        for version in ("2.1", "2.69", "2.102"):
            for action, value in (("os-stop", None), ("lock", None), ("rebuild", {"imageRef": IMAGE})):
                response = act(api, uuid, action, value, version=version)
                assert response.status_code == 503, (version, action)
                assert fault(response) == (
                    "serviceUnavailable",
                    503,
                    f"The cell holding server {uuid} is unreachable; try again later.",
                )


class TestLock:
    def test_owner_locks_then_cannot_act_an_admin_can_the_owner_unlocks(self, api, topology):
        uuid, alias = placed(api)
        accepted(act(api, uuid, "lock"))
        instance = instance_in(alias, uuid)
        assert (instance.locked, instance.locked_by) == (True, "owner")
        server = shown(api, uuid, version="2.73")
        assert (server["locked"], server["locked_reason"], server["status"]) == (True, None, "ACTIVE")
        assert "locked" not in shown(api, uuid, version="2.8")

        for action, value in (
            ("os-stop", None),
            ("pause", None),
            ("suspend", None),
            ("reboot", {"type": "HARD"}),
            ("rebuild", {"imageRef": IMAGE}),
        ):
            conflict(act(api, uuid, action, value), f"Instance {uuid} is locked")
        conflict(act(api, uuid, "os-stop", token=MEMBER_SAME_PROJECT), f"Instance {uuid} is locked")
        conflict(api("delete", f"/servers/{uuid}"), f"Instance {uuid} is locked")
        assert states(alias, uuid) == ("active", None, RUNNING)

        accepted(act(api, uuid, "os-stop", token=ADMIN))  # admins are not held by a lock
        accepted(act(api, uuid, "unlock"))
        instance = instance_in(alias, uuid)
        assert (instance.locked, instance.locked_by) == (False, None)
        accepted(act(api, uuid, "os-start"))
        assert states(alias, uuid) == ("active", None, RUNNING)

    def test_locked_reason_from_2_73(self, api, topology):
        uuid, alias = placed(api)
        accepted(act(api, uuid, "lock", {"locked_reason": "maintenance"}, version="2.73"))
        assert system_metadata_of(alias, uuid)["locked_reason"] == "maintenance"
        assert shown(api, uuid, version="2.73")["locked_reason"] == "maintenance"
        listed = api("get", "/servers/detail", version="2.73").json()["servers"]
        assert [(s["locked"], s["locked_reason"]) for s in listed] == [(True, "maintenance")]
        # A second lock by the owner changes nothing (Nova returns early).
        accepted(act(api, uuid, "lock", {"locked_reason": "other"}, version="2.73"))
        assert shown(api, uuid, version="2.73")["locked_reason"] == "maintenance"
        accepted(act(api, uuid, "unlock", version="2.73"))
        assert "locked_reason" not in system_metadata_of(alias, uuid)
        server = shown(api, uuid, version="2.73")
        assert (server["locked"], server["locked_reason"]) == (False, None)

    def test_before_2_73_a_reason_is_ignored(self, api, topology):
        uuid, alias = placed(api)
        accepted(act(api, uuid, "lock", {"locked_reason": "ignored"}, version="2.72"))
        assert "locked_reason" not in system_metadata_of(alias, uuid)
        assert shown(api, uuid, version="2.73")["locked"] is True

    @pytest.mark.parametrize(
        "value", [{"locked_reason": ""}, {"locked_reason": "x" * 256}, {"reason": "x"}, {"locked_reason": 1}, "x"]
    )
    def test_bad_lock_bodies_from_2_73(self, api, topology, value):
        uuid, alias = placed(api)
        response = act(api, uuid, "lock", value, version="2.73")
        assert response.status_code == 400
        assert instance_in(alias, uuid).locked is False

    def test_an_admin_lock_is_the_admins_to_undo(self, api, topology):
        uuid, alias = placed(api)
        accepted(act(api, uuid, "lock", {"locked_reason": "by ops"}, token=ADMIN, version="2.73"))
        assert instance_in(alias, uuid).locked_by == "admin"
        # The owner locking again does not take the lock over.
        accepted(act(api, uuid, "lock"))
        assert instance_in(alias, uuid).locked_by == "admin"
        response = act(api, uuid, "unlock")
        assert response.status_code == 403
        assert fault(response) == (
            "forbidden",
            403,
            "Policy doesn't allow os_compute_api:os-lock-server:unlock:unlock_override to be performed.",
        )
        assert instance_in(alias, uuid).locked is True
        accepted(act(api, uuid, "unlock", token=ADMIN))
        assert instance_in(alias, uuid).locked is False

    def test_an_admin_locking_an_owner_locked_server_takes_it_over(self, api, topology):
        uuid, alias = placed(api)
        accepted(act(api, uuid, "lock"))
        accepted(act(api, uuid, "lock", token=ADMIN))
        assert instance_in(alias, uuid).locked_by == "admin"

    def test_lock_and_metadata_of_a_server_in_cell0(self, api, cells, topology):
        instance = seed_instance(cells["cell0"], vm_state="error")
        accepted(act(api, instance.uuid, "lock"))
        assert instance_in("cell0", instance.uuid).locked is True
        conflict(api("delete", f"/servers/{instance.uuid}"), f"Instance {instance.uuid} is locked")


class TestRebuild:
    def body(self, **fields):
        return {"imageRef": IMAGE2, **fields}

    def test_rebuild_replaces_image_name_metadata_and_answers_the_server(self, api, topology):
        uuid, alias = placed(api, name="old", metadata={"old": "1"})
        before = instance_in(alias, uuid)
        response = act(
            api,
            uuid,
            "rebuild",
            self.body(name="new", metadata={"rebuild": "server"}, adminPass="rebuildPassw0rd"),
            version="2.98",
        )
        assert response.status_code == 202
        assert response["Location"] == f"{HOST}/v2.1/servers/{uuid}"
        server = response.json()["server"]
        assert server["id"] == uuid
        assert server["name"] == "new"
        assert server["image"]["id"] == IMAGE2
        assert server["image"]["properties"] == {}
        assert server["metadata"] == {"rebuild": "server"}
        assert server["adminPass"] == "rebuildPassw0rd"
        # The answer shows the server as Nova's API does, while its compute side rebuilds it.
        assert (server["status"], server["OS-EXT-STS:task_state"]) == ("REBUILD", "rebuilding")
        assert server["flavor"]["original_name"] == "m1.tiny"

        after = instance_in(alias, uuid)
        assert (after.image_ref, after.display_name) == (IMAGE2, "new")
        assert states(alias, uuid) == ("active", None, RUNNING)
        assert after.launched_at > before.launched_at
        assert metadata_of(alias, uuid) == {"rebuild": "server"}
        server = shown(api, uuid)
        assert (server["status"], server["image"]["id"], server["name"]) == ("ACTIVE", IMAGE2, "new")

    def test_rebuild_without_metadata_keeps_it_and_generates_a_password(self, api, topology):
        uuid, alias = placed(api, metadata={"keep": "1"})
        server = act(api, uuid, "rebuild", self.body()).json()["server"]
        assert len(server["adminPass"]) == 12
        assert metadata_of(alias, uuid) == {"keep": "1"}

    def test_no_password_when_instance_passwords_are_disabled(self, api, topology, settings):
        uuid, _ = placed(api)
        settings.CELLSV2_ENABLE_INSTANCE_PASSWORD = False
        assert "adminPass" not in act(api, uuid, "rebuild", self.body()).json()["server"]

    def test_the_image_is_a_uuid_not_an_href(self, api, topology):
        # Nova's rebuild schema: imageRef is a uuid (create also takes an href).
        uuid, alias = placed(api)
        response = act(api, uuid, "rebuild", self.body(imageRef=f"http://glance/v2/images/{IMAGE2}"))
        assert response.status_code == 400
        assert instance_in(alias, uuid).image_ref == IMAGE

    def test_a_stopped_server_stays_stopped(self, api, topology):
        uuid, alias = placed(api)
        accepted(act(api, uuid, "os-stop"))
        server = act(api, uuid, "rebuild", self.body()).json()["server"]
        assert server["status"] == "REBUILD"
        assert states(alias, uuid) == ("stopped", None, SHUTDOWN)
        assert shown(api, uuid)["status"] == "SHUTOFF"

    def test_a_server_in_error_is_rebuilt_to_active(self, api, topology):
        uuid, alias = placed(api)
        set_instance(alias, uuid, vm_state="error")
        assert act(api, uuid, "rebuild", self.body()).status_code == 202
        assert states(alias, uuid) == ("active", None, RUNNING)

    @pytest.mark.parametrize("state", ["pause", "suspend"])
    def test_paused_or_suspended_is_409(self, api, topology, state):
        uuid, _ = placed(api)
        accepted(act(api, uuid, state))
        vm_state = {"pause": "paused", "suspend": "suspended"}[state]
        conflict(
            act(api, uuid, "rebuild", self.body()),
            f"Cannot 'rebuild' instance {uuid} while it is in vm_state {vm_state}",
        )

    def test_the_answer_before_2_75_leaves_out_what_show_adds(self, api, topology):
        uuid, _ = placed(api)
        old = act(api, uuid, "rebuild", self.body(), version="2.74").json()["server"]
        new = act(api, uuid, "rebuild", self.body(), version="2.75").json()["server"]
        for key in ("OS-EXT-STS:vm_state", "OS-EXT-AZ:availability_zone", "security_groups", "config_drive"):
            assert key not in old
            assert key in new
        # key_name from 2.54 (show_keypair).
        assert "key_name" in old
        assert "key_name" not in act(api, uuid, "rebuild", self.body(), version="2.53").json()["server"]
        assert "locked_reason" in old and "tags" in old and "progress" in old
        assert "user_data" in old  # from 2.57

    def test_the_answer_keys_at_2_1(self, api, topology):
        uuid, _ = placed(api)
        server = act(api, uuid, "rebuild", self.body(), version="2.1").json()["server"]
        assert set(server) == {*SERVER_KEYS_2_1, "adminPass"}

    def test_description_key_name_user_data_and_hostname(self, api, topology):
        keypair_create(user_id="alice", project_id="proj1", name="k1", public_key=KNOWN_RSA_2048)
        uuid, alias = placed(api)
        body = self.body(
            description="rebuilt",
            key_name="k1",
            user_data="aGVsbG8=",
            hostname="new-host",
            accessIPv4="10.1.1.1",
            accessIPv6="0000:0000:0000:0000:0000:babe:220.12.22.2",
        )
        server = act(api, uuid, "rebuild", body, version="2.90").json()["server"]
        assert (server["description"], server["key_name"], server["user_data"]) == ("rebuilt", "k1", "aGVsbG8=")
        assert (server["accessIPv4"], server["accessIPv6"]) == ("10.1.1.1", "::babe:dc0c:1602")
        instance = instance_in(alias, uuid)
        assert (instance.key_name, instance.hostname, instance.user_data) == ("k1", "new-host", "aGVsbG8=")
        assert instance.key_data == KNOWN_RSA_2048
        # key_name null removes the key (2.54+).
        act(api, uuid, "rebuild", self.body(key_name=None), version="2.54")
        assert (instance_in(alias, uuid).key_name, instance_in(alias, uuid).key_data) == (None, None)

    def test_fields_of_later_microversions_are_refused_earlier(self, api, topology):
        uuid, _ = placed(api)
        for version, field, value in (
            ("2.18", "description", "x"),
            ("2.53", "key_name", None),
            ("2.56", "user_data", "aGVsbG8="),
            ("2.89", "hostname", "h"),
        ):
            response = act(api, uuid, "rebuild", self.body(**{field: value}), version=version)
            assert response.status_code == 400, (version, field)

    def test_an_unknown_key_name_is_400(self, api, topology):
        uuid, _ = placed(api)
        response = act(api, uuid, "rebuild", self.body(key_name="nope"), version="2.54")
        assert fault(response) == ("badRequest", 400, "Invalid key_name provided.")

    def test_metadata_over_the_limit_is_403(self, api, topology):
        uuid, alias = placed(api, metadata={"a": "1"})
        quota_set(project_id="proj1", resource="metadata_items", hard_limit=1)
        response = act(api, uuid, "rebuild", self.body(metadata={"x": "1", "y": "2"}))
        assert fault(response) == ("forbidden", 403, "Maximum number of metadata items exceeds 1")
        assert metadata_of(alias, uuid) == {"a": "1"}
        assert instance_in(alias, uuid).image_ref == IMAGE


class TestDeferredDeleteAndConsoleOutput:
    """Nova's restore, forceDelete and os-getConsoleOutput, in a cloud that deletes at once and has
    no hypervisor to keep a console log."""

    def test_force_delete_deletes_and_respects_the_lock(self, api, topology):
        uuid, alias = placed(api)
        accepted(act(api, uuid, "lock"))
        conflict(act(api, uuid, "forceDelete"), f"Instance {uuid} is locked")
        accepted(act(api, uuid, "unlock"))
        accepted(act(api, uuid, "forceDelete"))
        assert api.show(uuid).status_code == 404
        assert instance_in(alias, uuid) is None

    def test_force_delete_waits_for_a_task_and_a_build_request_is_scheduling(self, api, topology):
        uuid, alias = placed(api)
        set_instance(alias, uuid, task_state="rebooting")
        conflict(
            act(api, uuid, "forceDelete"), f"Cannot 'forceDelete' instance {uuid} while it is in task_state rebooting"
        )
        building = api.create_uuid()
        conflict(
            act(api, building, "forceDelete"),
            f"Cannot 'forceDelete' instance {building} while it is in task_state scheduling",
        )

    def test_restore_finds_nothing_soft_deleted(self, api, topology):
        uuid, _ = placed(api)
        conflict(act(api, uuid, "restore"), f"Cannot 'restore' instance {uuid} while it is in vm_state active")

    def test_console_output_is_not_there_without_a_hypervisor(self, api, topology):
        uuid, _ = placed(api)
        response = act(api, uuid, "os-getConsoleOutput", {"length": 10})
        assert response.status_code == 501
        assert fault(response) == ("notImplemented", 501, "The requested functionality is not supported.")
        assert act(api, uuid, "os-getConsoleOutput", {"length": "x"}).status_code == 400
        building = api.create_uuid()
        conflict(act(api, building, "os-getConsoleOutput", {}), f"Instance {building} is not ready")

    @pytest.mark.parametrize("action,value", [("forceDelete", None), ("restore", None), ("os-getConsoleOutput", {})])
    def test_unknown_server_is_404(self, api, topology, action, value):
        server_id = new_uuid()
        assert fault(act(api, server_id, action, value)) == (
            "itemNotFound",
            404,
            f"Instance {server_id} could not be found.",
        )


class TestPolicies:
    @pytest.mark.parametrize(
        "rule,action,value",
        [
            ("os_compute_api:servers:reboot", "reboot", {"type": "HARD"}),
            ("os_compute_api:servers:stop", "os-stop", None),
            ("os_compute_api:servers:rebuild", "rebuild", {"imageRef": IMAGE}),
            ("os_compute_api:os-pause-server:pause", "pause", None),
            ("os_compute_api:os-suspend-server:suspend", "suspend", None),
            ("os_compute_api:os-lock-server:lock", "lock", None),
            ("os_compute_api:os-deferred-delete:force", "forceDelete", None),
        ],
    )
    def test_nova_rule_names(self, api, topology, policy_file, rule, action, value):
        uuid, alias = placed(api)
        policy_file({rule: "role:admin"})
        response = act(api, uuid, action, value)
        assert response.status_code == 403
        assert fault(response) == ("forbidden", 403, f"Policy doesn't allow {rule} to be performed.")
        assert states(alias, uuid) == ("active", None, RUNNING)
        assert act(api, uuid, action, value, token=ADMIN).status_code == 202

    def test_the_inverse_actions_have_their_own_rules(self, api, topology, policy_file):
        uuid, _ = placed(api)
        for action, inverse, rule in (
            ("os-stop", "os-start", "os_compute_api:servers:start"),
            ("pause", "unpause", "os_compute_api:os-pause-server:unpause"),
            ("suspend", "resume", "os_compute_api:os-suspend-server:resume"),
            ("lock", "unlock", "os_compute_api:os-lock-server:unlock"),
        ):
            policy_file({rule: "role:admin"})
            accepted(act(api, uuid, action))
            response = act(api, uuid, inverse)
            assert fault(response) == ("forbidden", 403, f"Policy doesn't allow {rule} to be performed.")
            accepted(act(api, uuid, inverse, token=ADMIN))

    def test_a_reader_cannot_act(self, api, topology, settings):
        uuid, alias = placed(api)
        settings.CELLSV2_AUTH = "headers"
        reader = {"HTTP_X_USER_ID": "alice", "HTTP_X_PROJECT_ID": "proj1", "HTTP_X_ROLES": "reader"}
        response = act(api, uuid, "os-stop", token=None, headers=reader)
        assert fault(response) == (
            "forbidden",
            403,
            "Policy doesn't allow os_compute_api:servers:stop to be performed.",
        )
        assert states(alias, uuid) == ("active", None, RUNNING)


class TestAccessIPv6:
    LONG = "0000:0000:0000:0000:0000:babe:220.12.22.2"

    def test_create_update_and_rebuild_answer_the_compressed_form(self, api, topology):
        uuid = api.create_uuid(accessIPv6=self.LONG)
        assert shown(api, uuid)["accessIPv6"] == "::babe:dc0c:1602"
        place_all()
        [alias] = cells_holding(uuid)
        assert instance_in(alias, uuid).access_ip_v6 == "::babe:dc0c:1602"
        assert shown(api, uuid)["accessIPv6"] == "::babe:dc0c:1602"
        response = api("put", f"/servers/{uuid}", body={"server": {"accessIPv6": "2001:DB8:0:0:0:0:0:1"}})
        assert response.json()["server"]["accessIPv6"] == "2001:db8::1"
        assert instance_in(alias, uuid).access_ip_v6 == "2001:db8::1"
        response = api("put", f"/servers/{uuid}", body={"server": {"accessIPv6": "::babe:202:202"}})
        assert response.json()["server"]["accessIPv6"] == "::babe:202:202"

    def test_a_row_written_in_the_long_form_is_shown_compressed(self, api, cells, topology):
        instance = seed_instance(cells["cell1"], access_ip_v6="2001:0db8:0000:0000:0000:0000:0000:0001")
        assert shown(api, instance.uuid)["accessIPv6"] == "2001:db8::1"


class TestInstanceActionsRecorded:
    """Each action is recorded as Nova records it (nova/compute/instance_actions.py names, the
    event of the compute host or, for lock / unlock, of the API), read back through
    ``GET /servers/{id}/os-instance-actions``; a refused action records nothing."""

    SEQUENCE = (
        ("os-stop", None, "stop", "compute_stop_instance"),
        ("os-start", None, "start", "compute_start_instance"),
        ("pause", None, "pause", "compute_pause_instance"),
        ("unpause", None, "unpause", "compute_unpause_instance"),
        ("suspend", None, "suspend", "compute_suspend_instance"),
        ("resume", None, "resume", "compute_resume_instance"),
        ("reboot", {"type": "HARD"}, "reboot", "compute_reboot_instance"),
        ("reboot", {"type": "SOFT"}, "reboot", "compute_reboot_instance"),
        ("lock", None, "lock", "api_lock"),
        ("unlock", None, "unlock", "api_unlock"),
        ("rebuild", {"imageRef": IMAGE2}, "rebuild", "compute_rebuild_instance"),
    )

    def actions(self, api, uuid, **kwargs):
        response = api("get", f"/servers/{uuid}/os-instance-actions", **kwargs)
        assert response.status_code == 200, response.content
        return response.json()["instanceActions"]

    def test_every_action_is_listed_with_its_request_id_and_event(self, api, topology):
        uuid, alias = placed(api)
        host = instance_in(alias, uuid).host
        request_ids = []
        for action, value, _, _ in self.SEQUENCE:
            response = act(api, uuid, action, value)
            assert response.status_code in (200, 202), (action, response.content)
            request_ids.append(response["x-openstack-request-id"])

        listed = self.actions(api, uuid)
        assert [a["action"] for a in listed] == [name for _, _, name, _ in reversed(self.SEQUENCE)] + ["create"]
        assert [a["request_id"] for a in listed[:-1]] == list(reversed(request_ids))
        assert {(a["user_id"], a["project_id"], a["message"]) for a in listed[:-1]} == {("alice", "proj1", None)}

        for (_, _, name, event), request_id in zip(self.SEQUENCE, request_ids, strict=True):
            response = api("get", f"/servers/{uuid}/os-instance-actions/{request_id}", token=ADMIN, version="2.62")
            assert response.status_code == 200, response.content
            shown_action = response.json()["instanceAction"]
            assert shown_action["action"] == name
            [recorded] = shown_action["events"]
            assert (recorded["event"], recorded["result"]) == (event, "Success")
            if event.startswith("compute_"):
                assert recorded["host"] == host

    def test_refused_and_no_op_actions_record_nothing(self, api, topology):
        uuid, alias = placed(api)
        conflict(act(api, uuid, "os-start"), f"Cannot 'start' instance {uuid} while it is in vm_state active")
        accepted(act(api, uuid, "lock"))
        accepted(act(api, uuid, "lock"))  # the owner's lock again: Nova returns before recording
        conflict(act(api, uuid, "pause"), f"Instance {uuid} is locked")
        assert [a["action"] for a in self.actions(api, uuid)] == ["lock", "create"]

    def test_actions_in_both_cells_are_recorded_in_each(self, api, cells, topology):
        for alias in ("cell1", "cell2"):
            instance = seed_instance(cells[alias], host=f"compute{alias[-1]}", launched_at=LAUNCHED)
            accepted(act(api, instance.uuid, "pause"))
            assert [a["action"] for a in self.actions(api, instance.uuid)] == ["pause"]
            with target_cell(alias):
                assert InstanceAction.objects.filter(instance_uuid=instance.uuid).count() == 1
