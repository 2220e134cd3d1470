from django.apps import AppConfig


class ConsolesConfig(AppConfig):
    name = "consoles"
    verbose_name = "Console connections"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        # Imported here, not at module level: ready() runs once the app registry is loaded, and
        # these modules import models.
        from cellsv2.api.faults import register_faults
        from cellsv2.api.policy import register_policy_rules
        from consoles import policies
        from consoles.api.views import FAULTS, register_server_actions

        register_faults(FAULTS)
        register_policy_rules(policies.list_rules())
        register_server_actions()
