"""The flavor models' content types follow them from the servers app (API database only).

A database that ran the servers app's migrations has content types ``servers.flavor``,
``servers.flavorextraspec`` and ``servers.flavorproject``: renamed in place to ``flavors.*``, so
every permission granted on them (``servers.change_flavor`` becomes ``flavors.change_flavor``)
and the admin's history keep pointing at the same rows. A fresh database has none yet (Django
creates content types after the last migration): nothing to do. Unapplying renames them back.

If both labels exist (Django created the ``flavors`` ones before this migration ran, e.g. after
``migrate flavors 0001``), the ``flavors`` content type is kept and takes over the servers one's
permission grants (users and groups) and admin history; the servers one is deleted.
"""

from django.conf import settings
from django.db import migrations

FLAVOR_MODELS = ("flavor", "flavorextraspec", "flavorproject")


def _move_content_types(apps, schema_editor, *, source: str, target: str) -> None:
    alias = schema_editor.connection.alias
    content_types = apps.get_model("contenttypes", "ContentType").objects.using(alias)
    permissions = apps.get_model("auth", "Permission").objects.using(alias)
    log_entries = apps.get_model("admin", "LogEntry").objects.using(alias)
    for model in FLAVOR_MODELS:
        old = content_types.filter(app_label=source, model=model).first()
        if old is None:
            continue
        new = content_types.filter(app_label=target, model=model).first()
        if new is None:
            old.app_label = target
            old.save(update_fields=["app_label"])
            continue
        for permission in permissions.filter(content_type=old):
            kept = permissions.filter(content_type=new, codename=permission.codename).first()
            if kept is None:
                permission.content_type = new
                permission.save(update_fields=["content_type"])
                continue
            kept.user_set.add(*permission.user_set.all())
            kept.group_set.add(*permission.group_set.all())
            permission.delete()
        log_entries.filter(content_type=old).update(content_type=new)
        old.delete()


def content_types_to_flavors(apps, schema_editor):
    _move_content_types(apps, schema_editor, source="servers", target="flavors")


def content_types_to_servers(apps, schema_editor):
    _move_content_types(apps, schema_editor, source="flavors", target="servers")


class Migration(migrations.Migration):
    dependencies = [
        ("flavors", "0001_initial"),
        ("contenttypes", "0002_remove_content_type_name"),
        ("auth", "0012_alter_user_first_name_max_length"),
        ("admin", "0003_logentry_add_action_flag_choices"),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        # Django's content types, permissions and admin log live in the API database only.
        migrations.RunPython(content_types_to_flavors, content_types_to_servers, hints={"scope": "api"}),
    ]
