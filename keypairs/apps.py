from django.apps import AppConfig


class KeypairsConfig(AppConfig):
    name = "keypairs"
    verbose_name = "Key pairs"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        from keypairs import selectors  # noqa: F401  (registers the key_pairs quota counter)
