from django.apps import AppConfig


class KeypairsConfig(AppConfig):
    name = "keypairs"
    verbose_name = "Key pairs"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from cellsv2.api.faults import register_faults
        from cellsv2.api.policy import register_policy_rules
        from cellsv2.online_migrations import register_online_migration
        from keypairs import (
            policies,
            selectors,  # noqa: F401  (registers the key_pairs quota counter)
        )
        from keypairs.api.views import FAULTS
        from keypairs.online_migrations import migrate_keypairs_to_api_db, populate_instance_keypairs

        # Key pairs move only once every instance embeds its key: populate first.
        register_online_migration(populate_instance_keypairs, added_in="0.1")
        register_online_migration(migrate_keypairs_to_api_db, added_in="0.1")
        register_faults(FAULTS)
        register_policy_rules(policies.list_rules())
