from django.apps import AppConfig


class InstanceActionsConfig(AppConfig):
    name = "instance_actions"
    verbose_name = "Instance actions"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from cellsv2.api.faults import register_faults
        from cellsv2.api.policy import register_policy_rules
        from instance_actions import policies
        from instance_actions.api.views import FAULTS

        register_faults(FAULTS)
        register_policy_rules(policies.list_rules())
