"""Server tags (Nova's os-server-tags, 2.26) and the server password (os-server-password),
written in the instance's cell under Nova's state rules (servers.services.actions.server_change_in_cell).

Nova's server_tags controller allows a tag change in vm_state active, paused, suspended or
stopped (409 otherwise, a build request's "building" included); it checks no lock and no task.
The password is the one a guest posts to the metadata service, kept in the instance's system
metadata as four 255-character chunks password_0..3 (nova/api/metadata/password.py).
"""

from servers.exceptions import InstanceTagNotFound, TooManyTags
from servers.models import Tag
from servers.services.actions import StateRule, server_change_in_cell, server_system_metadata_set

# nova/objects/instance.py MAX_TAG_COUNT
MAX_TAG_COUNT = 50
TAG_VM_STATES = frozenset({"active", "paused", "suspended", "stopped"})
PASSWORD_CHUNKS = 4
PASSWORD_CHUNK_SIZE = 255


def _tag_rule(name: str) -> StateRule:
    return StateRule(name, TAG_VM_STATES, task_states=None, must_have_launched=False, check_lock=False)


UPDATE_TAG = _tag_rule("update tag")
UPDATE_TAGS = _tag_rule("update tags")
DELETE_TAG = _tag_rule("delete tag")
DELETE_TAGS = _tag_rule("delete tags")


def _tags(instance) -> list[str]:
    return list(Tag.objects.filter(resource_id=instance.uuid).order_by("id").values_list("tag", flat=True))


def server_tag_add(*, context, server, tag: str) -> bool:
    """Add one tag to a server (tags table of its cell); False when it already had it. Raises
    InstanceInvalidState, TooManyTags (it has 50 already) or ServerNotFound."""

    added = []

    def change(instance):
        tags = _tags(instance)
        if len(tags) >= MAX_TAG_COUNT:
            raise TooManyTags(MAX_TAG_COUNT)
        if tag not in tags:
            Tag.objects.create(resource_id=instance.uuid, tag=tag)
            added.append(tag)

    server_change_in_cell(context=context, server=server, rule=UPDATE_TAG, change=change)
    return bool(added)


def server_tags_replace(*, context, server, tags: list[str]) -> list[str]:
    """Make a server's tags exactly ``tags`` (duplicates once); return them. Its cell's tags table."""
    wanted = list(dict.fromkeys(tags))

    def change(instance):
        current = set(_tags(instance))
        Tag.objects.filter(resource_id=instance.uuid).exclude(tag__in=wanted).delete()
        Tag.objects.bulk_create([Tag(resource_id=instance.uuid, tag=t) for t in wanted if t not in current])
        return

    server_change_in_cell(context=context, server=server, rule=UPDATE_TAGS, change=change)
    return wanted


def server_tag_delete(*, context, server, tag: str) -> None:
    """Remove one tag of a server (its cell). Raises InstanceTagNotFound, InstanceInvalidState or
    ServerNotFound."""

    def change(instance):
        deleted, _ = Tag.objects.filter(resource_id=instance.uuid, tag=tag).delete()
        if not deleted:
            raise InstanceTagNotFound(instance.uuid, tag)

    server_change_in_cell(context=context, server=server, rule=DELETE_TAG, change=change)


def server_tags_clear(*, context, server) -> None:
    """Remove every tag of a server (its cell)."""

    def change(instance):
        Tag.objects.filter(resource_id=instance.uuid).delete()

    server_change_in_cell(context=context, server=server, rule=DELETE_TAGS, change=change)


# --- the password a guest posted ---------------------------------------------------------------------


def server_password(server) -> str:
    """The encrypted password of a server as its guest posted it, "" when none (Nova's
    extract_password over the system metadata the server view carries)."""
    chunks = [server.system_metadata.get(f"password_{i}") for i in range(PASSWORD_CHUNKS)]
    return "".join(chunk for chunk in chunks if chunk)


# Nova clears it whatever the instance's state: no rule but the server's existence.
CLEAR_PASSWORD = StateRule("clear password", task_states=None, must_have_launched=False, check_lock=False)


def server_password_clear(*, context, server) -> None:
    """Forget the password (password_0..3 set to "" in the system metadata of the server's cell,
    as Nova's convert_password(None)); the guest's own password does not change. A server still
    being built has none to clear (409 as for any write to a build request)."""

    def change(instance):
        for i in range(PASSWORD_CHUNKS):
            server_system_metadata_set(instance, f"password_{i}", "")

    server_change_in_cell(context=context, server=server, rule=CLEAR_PASSWORD, change=change)
