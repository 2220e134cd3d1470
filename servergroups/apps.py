from django.apps import AppConfig


class ServergroupsConfig(AppConfig):
    name = "servergroups"
    verbose_name = "Server groups"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        # Imported here, not at module level: ready() runs once the app registry is loaded, and
        # these modules import models.
        from cellsv2.api.faults import register_faults
        from cellsv2.api.policy import register_policy_rules
        from cellsv2.online_migrations import register_online_migration
        from cellsv2.quotas import quota_counter
        from servergroups import policies
        from servergroups.api.views import FAULTS
        from servergroups.online_migrations import migrate_instance_groups_to_api_db
        from servergroups.selectors import servergroup_count, servergroup_member_count

        register_online_migration(migrate_instance_groups_to_api_db, added_in="0.1")
        register_faults(FAULTS)
        register_policy_rules(policies.list_rules())
        quota_counter("server_groups")(servergroup_count)
        quota_counter("server_group_members")(servergroup_member_count)
