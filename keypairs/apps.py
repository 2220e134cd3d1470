from django.apps import AppConfig


class KeypairsConfig(AppConfig):
    name = "keypairs"
    verbose_name = "Key pairs"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        # Imported here, not at module level: ready() runs once the app registry is loaded, and
        # these modules import models.
        from cellsv2.api.faults import register_faults
        from cellsv2.api.policy import register_policy_rules
        from cellsv2.online_migrations import register_online_migration
        from cellsv2.quotas import quota_counter
        from keypairs import policies
        from keypairs.api.views import FAULTS
        from keypairs.online_migrations import migrate_keypairs_to_api_db, populate_instance_keypairs
        from keypairs.selectors import keypair_count

        # Key pairs move only once every instance embeds its key: populate first.
        register_online_migration(populate_instance_keypairs, added_in="0.1")
        register_online_migration(migrate_keypairs_to_api_db, added_in="0.1")
        register_faults(FAULTS)
        register_policy_rules(policies.list_rules())
        quota_counter("key_pairs")(keypair_count)
