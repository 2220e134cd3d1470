from django.apps import AppConfig


class ServersConfig(AppConfig):
    name = "servers"
    verbose_name = "Servers and build requests"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        # Imported here, not at module level: ready() runs once the app registry is loaded, and
        # these modules import models.
        from cellsv2.api.faults import register_faults
        from cellsv2.api.policy import register_policy_rules
        from cellsv2.quotas import quota_counter
        from servers import policies
        from servers.api.action_views import register_server_actions
        from servers.api.views import FAULTS
        from servers.services.create import count_cores, count_instances, count_ram

        register_faults(FAULTS)
        register_policy_rules(policies.list_rules())
        register_server_actions()
        # A create reserves instances through the registry and checks cores and RAM itself, from
        # one read of the request specs (servers.services.create._allowed_count); cores and RAM
        # are registered for what /limits and os-quota-sets report as used.
        quota_counter("instances")(count_instances)
        quota_counter("cores")(count_cores)
        quota_counter("ram")(count_ram)
