from django.apps import AppConfig


class OperatorsConfig(AppConfig):
    """The operators' workflows across apps: ``cell_v2``, ``db``, the cells dashboard, the mapping admin.

    The top floor: it imports any app, and no app imports it.
    """

    name = "operators"
    verbose_name = "Operators"
    default_auto_field = "django.db.models.AutoField"
