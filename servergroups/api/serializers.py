"""Server group response bodies per microversion (Nova's ServerGroupController._format_server_group)."""

from servergroups.selectors import ServerGroup

PROJECT_AND_USER_VERSION = "2.13"
POLICY_OBJECT_VERSION = "2.64"


def server_groups(request, groups: list[ServerGroup], live_members) -> list[dict]:
    """The groups as the API shows them at the request's microversion (see ``server_group``).

    The microversion is compared once for the whole list, not once per group.
    """
    policy_object = request.api_version >= POLICY_OBJECT_VERSION
    project_and_user = request.api_version >= PROJECT_AND_USER_VERSION
    return [_body(group, live_members, policy_object, project_and_user) for group in groups]


def server_group(request, group: ServerGroup, live_members) -> dict:
    """One group as the API shows it at the request's microversion.

    ``live_members`` holds the uuids of the members whose servers still exist (a dict or set);
    the others are left out, the rest keep the group's order.

    - 2.1: id, name, policies (``[policy]``), members, metadata (always ``{}``);
    - 2.13: + project_id, user_id;
    - 2.64: policy and rules (``max_server_per_host`` an integer) instead of policies and
      metadata.
    """
    return server_groups(request, [group], live_members)[0]


def _body(group: ServerGroup, live_members, policy_object: bool, project_and_user: bool) -> dict:
    body = {"id": group.uuid, "name": group.name}
    if policy_object:
        body["policy"] = group.policy
        body["rules"] = dict(group.rules)
    else:
        # Nova shows at most the one policy it keeps, even for legacy groups that had several.
        body["policies"] = [group.policy] if group.policy else []
        body["metadata"] = {}
    body["members"] = [uuid for uuid in dict.fromkeys(group.members) if uuid in live_members]
    if project_and_user:
        body["project_id"] = group.project_id
        body["user_id"] = group.user_id
    return body
