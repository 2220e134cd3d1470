from django.apps import AppConfig


class ConsolesConfig(AppConfig):
    name = "consoles"
    verbose_name = "Console connections"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from cellsv2.api.policy import register_policy_rules
        from consoles import policies

        register_policy_rules(policies.list_rules())
