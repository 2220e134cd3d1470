from django.apps import AppConfig


class ServergroupsConfig(AppConfig):
    name = "servergroups"
    verbose_name = "Server groups"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from cellsv2.api.faults import register_faults
        from cellsv2.api.policy import register_policy_rules
        from cellsv2.online_migrations import register_online_migration
        from servergroups import (
            policies,
            selectors,  # noqa: F401  (registers the server group quota counters)
        )
        from servergroups.api.views import FAULTS
        from servergroups.online_migrations import migrate_instance_groups_to_api_db

        register_online_migration(migrate_instance_groups_to_api_db, added_in="0.1")
        register_faults(FAULTS)
        register_policy_rules(policies.list_rules())
