"""System checks: every model of this project declares its tier."""

from django.apps import apps
from django.core.checks import Error, register

from cellsv2.db import model_scope

PROJECT_APPS = ("cellsv2", "mappings", "servers", "keypairs", "servergroups", "consoles")


@register()
def check_model_scopes(app_configs=None, **kwargs):
    """cellsv2.E001: a concrete model of ours must inherit ApiModel or CellModel."""
    errors = []
    for model in apps.get_models():
        if model._meta.app_label in PROJECT_APPS and model_scope(model) is None:
            errors.append(
                Error(
                    f"{model._meta.label} declares no database tier",
                    hint="Inherit cellsv2.db.ApiModel or cellsv2.db.CellModel.",
                    obj=model,
                    id="cellsv2.E001",
                )
            )
    return errors
