from django.apps import AppConfig


class QuotasConfig(AppConfig):
    name = "quotas"
    verbose_name = "Quotas and limits"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from cellsv2.api.faults import register_faults
        from cellsv2.api.policy import register_policy_rules
        from quotas import policies
        from quotas.api.views import FAULTS

        register_faults(FAULTS)
        register_policy_rules(policies.list_rules())
