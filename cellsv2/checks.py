"""System checks: every model of this project declares its tier; the configured authentication mode
exists; the configured policy file exists and parses."""

from django.apps import apps
from django.conf import settings
from django.core.checks import Error, Warning, register

from cellsv2.api.authentication import auth_modes, unregistered_auth_mode_message
from cellsv2.api.policy import policy_file_problem
from cellsv2.db import model_scope

PROJECT_APPS = ("cellsv2", "mappings", "identity", "servers", "keypairs", "servergroups", "consoles")


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


@register()
def check_shared_tables(app_configs=None, **kwargs):
    """cellsv2.E002: two models may share a table name only if one is API and the other cell."""
    by_table: dict[str, list] = {}
    for model in apps.get_models():
        if model._meta.app_label in PROJECT_APPS:
            by_table.setdefault(model._meta.db_table, []).append(model)
    errors = []
    for table, models in by_table.items():
        scopes = [model_scope(m) for m in models]
        if len(models) > 1 and len(set(scopes)) != len(scopes):
            errors.append(
                Error(
                    f"Table {table} is used by {', '.join(m._meta.label for m in models)} in the same tier",
                    hint="A table name may appear once in the API database and once in the cells.",
                    id="cellsv2.E002",
                )
            )
    return errors


@register()
def check_auth_mode(app_configs=None, **kwargs):
    """cellsv2.E003: CELLSV2_AUTH names an authentication mode an installed app registered."""
    if settings.CELLSV2_AUTH in auth_modes():
        return []
    return [
        Error(
            unregistered_auth_mode_message(settings.CELLSV2_AUTH),
            hint="Add the app that registers it with register_auth_mode() to INSTALLED_APPS.",
            id="cellsv2.E003",
        )
    ]


@register()
def check_policy_file(app_configs=None, **kwargs):
    """cellsv2.E004: CELLSV2_POLICY_FILE, when set, names a file that exists and is a policy file."""
    problem = policy_file_problem()
    if problem is None:
        return []
    return [
        Error(
            problem,
            hint="Fix the path, or leave CELLSV2_POLICY_FILE unset for Nova's defaults "
            "(`manage.py policy sample` prints them as a starting point).",
            id="cellsv2.E004",
        )
    ]


@register(deploy=True)
def check_static_files_collected(app_configs=None, **kwargs):
    """cellsv2.W003 (check --deploy): with hashed static names, collectstatic must have run.

    Without it every admin page fails. Only a deployment check: migrate and collectstatic run
    before it in every deployment, and must not warn about each other.
    """
    from django.contrib.staticfiles.storage import ManifestFilesMixin, staticfiles_storage

    if not isinstance(staticfiles_storage, ManifestFilesMixin):
        return []
    if staticfiles_storage.exists(staticfiles_storage.manifest_name):
        return []
    return [
        Warning(
            f"Static files have not been collected into {settings.STATIC_ROOT}",
            hint="Run `manage.py collectstatic --noinput` (part of every deployment).",
            id="cellsv2.W003",
        )
    ]
