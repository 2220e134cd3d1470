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
        from servers.api.views import FAULTS
        from servers.services.create import count_instances

        register_faults(FAULTS)
        register_policy_rules(policies.list_rules())
        # Only instances are counted through the registry: a create checks cores and RAM itself,
        # from one read of the project's request specs (servers.services.create._allowed_count).
        quota_counter("instances")(count_instances)
