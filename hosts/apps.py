from django.apps import AppConfig


class HostsConfig(AppConfig):
    """Services, hypervisors and availability zones: the hosts of every cell as operators see them."""

    name = "hosts"
    verbose_name = "Hosts: services and hypervisors"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from django.db.models.signals import post_save

        from cellsv2.api.faults import register_faults
        from cellsv2.api.policy import register_policy_rules
        from hosts import policies, services
        from hosts.api.views import FAULTS
        from servers.models import ComputeNode

        # A compute node registered by any path (compute_nodes add, scripts/run's development
        # node, a test) gets its host's compute service in the same cell transaction.
        post_save.connect(services.compute_node_registered, sender=ComputeNode, dispatch_uid="hosts-compute-service")
        register_faults(FAULTS)
        register_policy_rules(policies.list_rules())
