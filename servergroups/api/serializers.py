"""Server group response bodies per microversion (Nova's ServerGroupController._format_server_group)."""

from servergroups.selectors import ServerGroup

PROJECT_AND_USER_VERSION = "2.13"
POLICY_OBJECT_VERSION = "2.64"


class ServerGroupSerializer:
    """Groups as the API shows them at one microversion (compared once, not once per group).

    - 2.1: id, name, policies (``[policy]``), members, metadata (always ``{}``);
    - 2.13: + project_id, user_id;
    - 2.64: policy and rules (``max_server_per_host`` an integer) instead of policies and
      metadata.

    ``live_members`` holds the uuids of the members whose servers still exist (a dict or set);
    the others are left out, the rest keep the group's order. Nothing here queries.
    """

    def __init__(self, version):
        self.policy_object = version >= POLICY_OBJECT_VERSION
        self.project_and_user = version >= PROJECT_AND_USER_VERSION

    def many(self, groups: list[ServerGroup], live_members) -> list[dict]:
        return [self.one(group, live_members) for group in groups]

    def one(self, group: ServerGroup, live_members) -> dict:
        body = {"id": group.uuid, "name": group.name}
        if self.policy_object:
            body["policy"] = group.policy
            body["rules"] = dict(group.rules)
        else:
            # Nova shows at most the one policy it keeps, even for legacy groups that had several.
            body["policies"] = [group.policy] if group.policy else []
            body["metadata"] = {}
        body["members"] = [uuid for uuid in dict.fromkeys(group.members) if uuid in live_members]
        if self.project_and_user:
            body["project_id"] = group.project_id
            body["user_id"] = group.user_id
        return body
