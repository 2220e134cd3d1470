from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "identity"
    verbose_name = "Identity"
    default_auto_field = "django.db.models.AutoField"

    def ready(self):
        # Imported here: the token mode reads identity's models, which exist once the apps are loaded.
        from cellsv2.api.authentication import register_auth_mode
        from identity.authentication import TokenAuthentication

        register_auth_mode("token", TokenAuthentication)
