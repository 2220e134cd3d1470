"""Bodies of limits, quota sets and quota class sets per microversion (Nova's views/limits.py and
the controllers' _format_quota_set). Nothing here queries."""

from quotas.api.schemas import ALL_RESOURCES, hidden_resources

# Nova's views/limits.py: the quota resource behind each absolute limit.
ABSOLUTE_LIMITS = {
    "ram": ("maxTotalRAMSize",),
    "instances": ("maxTotalInstances",),
    "cores": ("maxTotalCores",),
    "key_pairs": ("maxTotalKeypairs",),
    "floating_ips": ("maxTotalFloatingIps",),
    "metadata_items": ("maxServerMeta", "maxImageMeta"),
    "injected_files": ("maxPersonality",),
    "injected_file_content_bytes": ("maxPersonalitySize",),
    "security_groups": ("maxSecurityGroups",),
    "security_group_rules": ("maxSecurityGroupRules",),
    "server_groups": ("maxServerGroups",),
    "server_group_members": ("maxServerGroupMembers",),
}
USED_LIMITS = {
    "totalRAMUsed": "ram",
    "totalCoresUsed": "cores",
    "totalInstancesUsed": "instances",
    "totalFloatingIpsUsed": "floating_ips",
    "totalSecurityGroupsUsed": "security_groups",
    "totalServerGroupsUsed": "server_groups",
}
# /limits hides the same resources as quota sets, less injected_file_path_bytes (it has no limit name).
SERVER_GROUP_RESOURCES = ("server_groups", "server_group_members")


def _resources(hidden) -> list[str]:
    return [name for name in ALL_RESOURCES if name not in hidden]


class QuotaSetSerializer:
    """Quota sets as the API shows them at one microversion."""

    def __init__(self, version):
        self.version = version
        self.hidden = hidden_resources(version)

    def limits(self, quota_set, *, with_id: bool = True) -> dict:
        """Limits only (show, defaults, update: update has no ``id``, as Nova's)."""
        body = {"id": quota_set.project_id} if with_id else {}
        body.update({name: quota_set.limits[name] for name in _resources(self.hidden) if name in quota_set.limits})
        return body

    def detail(self, quota_set) -> dict:
        """Limits with ``in_use`` and ``reserved`` (always 0: counted quotas reserve nothing)."""
        body = {"id": quota_set.project_id}
        for name in _resources(self.hidden):
            if name in quota_set.limits:
                body[name] = {"limit": quota_set.limits[name], "in_use": quota_set.usages.get(name, 0), "reserved": 0}
        return body


class QuotaClassSetSerializer:
    """Quota class sets: no server group resources before 2.50, nova-network's dropped from 2.50."""

    def __init__(self, version):
        self.hidden = hidden_resources(version, nova_network_until="2.50")
        if version < "2.50":
            self.hidden += SERVER_GROUP_RESOURCES

    def limits(self, quota_set, *, with_id: bool = True) -> dict:
        body = {"id": quota_set.project_id} if with_id else {}
        body.update({name: quota_set.limits[name] for name in _resources(self.hidden) if name in quota_set.limits})
        return body


class LimitsSerializer:
    """``/limits``: absolute limits and usage; ``rate`` is always empty (Nova has no rate limits)."""

    def __init__(self, version):
        self.hidden = tuple(name for name in hidden_resources(version) if name != "fixed_ips")
        self.max_image_meta = version < "2.39"

    def limits(self, quota_set) -> dict:
        absolute = {}
        for resource, names in ABSOLUTE_LIMITS.items():
            if resource in self.hidden or resource not in quota_set.limits:
                continue
            for name in names:
                if name != "maxImageMeta" or self.max_image_meta:
                    absolute[name] = quota_set.limits[resource]
        for name, resource in USED_LIMITS.items():
            if resource not in self.hidden:
                absolute[name] = quota_set.usages.get(resource, 0)
        return {"limits": {"rate": [], "absolute": absolute}}
