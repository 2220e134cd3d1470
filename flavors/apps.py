from django.apps import AppConfig


class FlavorsConfig(AppConfig):
    name = "flavors"
    verbose_name = "Flavors"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from cellsv2.api.policy import register_policy_rules
        from flavors import policies

        register_policy_rules(policies.list_rules())
