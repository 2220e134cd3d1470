"""Where each model lives: the API database or a cell database.

Every concrete model of this project inherits exactly one of ``ApiModel`` or ``CellModel``;
the router reads that declaration and nothing else. Both carry Nova's timestamps
(oslo.db ``TimestampMixin``): ``created_at`` set on insert, ``updated_at`` set on update only.
``SoftDeleteMixin`` adds Nova's integer soft delete (``deleted`` = the row's own id).
"""

import enum

from django.db import models
from django.db.models import F
from django.utils import timezone


class DbScope(enum.Enum):
    API = "api"
    CELL = "cell"


def model_scope(model) -> DbScope | None:
    """The tier a model class declares, or None for models that declare none (Django's own)."""
    return getattr(model, "db_scope", None)


class TimestampedModel(models.Model):
    """Nova's created_at/updated_at: no database defaults, updated_at stays NULL until an update."""

    created_at = models.DateTimeField(null=True, blank=True, default=timezone.now)
    updated_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    def save(self, *args, **kwargs):
        if not self._state.adding:
            self.updated_at = timezone.now()
            update_fields = kwargs.get("update_fields")
            if update_fields is not None:
                kwargs["update_fields"] = {*update_fields, "updated_at"}
        super().save(*args, **kwargs)


class ApiModel(TimestampedModel):
    """A model stored in the API database (alias ``api``)."""

    db_scope = DbScope.API

    class Meta:
        abstract = True


class CellModel(TimestampedModel):
    """A model stored in a cell database; it can only be used inside ``target_cell()``."""

    db_scope = DbScope.CELL

    class Meta:
        abstract = True


class SoftDeleteQuerySet(models.QuerySet):
    def live(self):
        """Rows that are not soft-deleted (Nova's read_deleted='no')."""
        return self.filter(deleted=0)

    def only_deleted(self):
        """Soft-deleted rows (Nova's read_deleted='only')."""
        return self.exclude(deleted=0)

    def soft_delete(self) -> int:
        """Nova's query.soft_delete(): deleted = id, deleted_at = now, updated_at untouched."""
        return self.update(deleted=F("id"), deleted_at=timezone.now())


class SoftDeleteMixin(models.Model):
    """oslo.db SoftDeleteMixin: ``deleted`` is 0 while live and the row id once deleted."""

    deleted_at = models.DateTimeField(null=True, blank=True)
    deleted = models.IntegerField(null=True, default=0)

    objects = SoftDeleteQuerySet.as_manager()

    class Meta:
        abstract = True

    @property
    def is_deleted(self) -> bool:
        return bool(self.deleted)

    def soft_delete(self) -> None:
        """Soft-delete this row in the database it was loaded from."""
        type(self).objects.using(self._state.db).filter(pk=self.pk).soft_delete()
        self.refresh_from_db(fields=["deleted", "deleted_at"])


class UUIDCharField(models.CharField):
    """Nova's VARCHAR(36) uuid column: dashes kept, identical on every backend and in Nova dumps."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("max_length", 36)
        super().__init__(*args, **kwargs)

    def deconstruct(self):
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("max_length") == 36:
            del kwargs["max_length"]
        return name, path, args, kwargs

    def get_prep_value(self, value):
        value = super().get_prep_value(value)
        return None if value is None else str(value)


class NovaIndex(models.Index):
    """An index that keeps Nova's name even past Django's portable 30-character limit."""

    # PostgreSQL's identifier limit; MySQL allows 64 and SQLite has none.
    max_name_length = 63


class CodePointOrder(models.Func):
    """A text column compared and sorted by Unicode code point on every database.

    Listings merged across the API database and the cells are sorted in Python (code point
    order) while each database returns its page in its own order: on PostgreSQL that is the
    database's collation (``en_US.UTF-8`` puts "a" before "B"), so pages of a merged listing
    could skip or repeat rows. ``COLLATE "C"`` makes PostgreSQL agree with Python; SQLite's
    default BINARY collation already does.
    """

    arity = 1
    template = "%(expressions)s"

    def as_postgresql(self, compiler, connection, **extra):
        return super().as_sql(compiler, connection, template='%(expressions)s COLLATE "C"', **extra)


# --- shadow tables ------------------------------------------------------------------------------
# Nova keeps a shadow_<table> copy of each soft-deletable cell table: the live table's columns
# (names, types, nullability) and nothing else, so archived rows of any age copy in as they are.


def _shadow_field(field: models.Field) -> models.Field:
    """The shadow copy of one live column: the same column without keys, uniqueness or relations."""
    if field.primary_key:
        # Archived rows keep their id; the live table's sequence hands out new ones.
        return models.IntegerField(primary_key=True, serialize=False)
    if field.is_relation:
        # A foreign key becomes the plain column it is stored in: the type of the column it refers to.
        if isinstance(field.target_field, models.AutoField):
            return models.IntegerField(null=field.null, blank=field.blank)
        return UUIDCharField(null=field.null, blank=field.blank)
    _, path, args, kwargs = field.deconstruct()
    for key in ("unique", "db_index", "primary_key", "db_comment"):
        kwargs.pop(key, None)
    return type(field)(*args, **kwargs)


def shadow_model(live: type[models.Model], name: str, *, indexes: tuple = ()) -> type[CellModel]:
    """The model of Nova's ``shadow_<table>`` for the cell model ``live``, defined in ``live``'s module.

    Built from the live model, so a column added to it shows up in ``makemigrations`` for its
    shadow too. Written only by the archive (operators/archive.py).
    """
    table = live._meta.db_table
    attrs = {
        "__module__": live.__module__,
        "__doc__": f"Archived rows of {table} (Nova's shadow_{table}); written only by the archive.",
        "__str__": lambda self: f"shadow_{table} {self.pk}",
        "Meta": type("Meta", (), {"db_table": f"shadow_{table}", "indexes": list(indexes)}),
    }
    inherited = {f.name for f in CellModel._meta.fields}
    for field in live._meta.concrete_fields:
        if field.name in inherited:
            continue
        # A foreign key's shadow is its plain column (instance_uuid, action_id), named after the column.
        attrs[field.column if field.is_relation else field.name] = _shadow_field(field)
    return type(name, (CellModel,), attrs)
