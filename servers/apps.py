from django.apps import AppConfig


class ServersConfig(AppConfig):
    name = "servers"
    verbose_name = "Servers and build requests"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from cellsv2.api.policy import register_policy_rules
        from servers import policies

        register_policy_rules(policies.list_rules())
