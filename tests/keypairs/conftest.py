"""Fixtures of the key pair tests."""

import uuid

import pytest
from django.db.backends.base.base import BaseDatabaseWrapper

from cellsv2.cells import RUNTIME_ALIAS_PREFIX
from cellsv2.dburls import sqlite_url


@pytest.fixture
def down_cell(cells, tmp_path, monkeypatch, django_db_blocker):
    """A cell mapping whose database (a SQLite file in a missing directory) cannot be opened."""
    from mappings.models import CellMapping

    # Django's test cases refuse connections to aliases registered at run time; let this one
    # really try (and fail) to connect.
    guarded = BaseDatabaseWrapper.ensure_connection
    real = django_db_blocker._real_ensure_connection

    def ensure_connection(self, *args, **kwargs):
        if self.alias.startswith(RUNTIME_ALIAS_PREFIX):
            return real(self, *args, **kwargs)
        return guarded(self, *args, **kwargs)

    monkeypatch.setattr(BaseDatabaseWrapper, "ensure_connection", ensure_connection)
    return CellMapping.objects.create(
        uuid=str(uuid.uuid4()),
        name="down",
        transport_url="none:///",
        database_connection=sqlite_url(tmp_path / "missing-directory" / "cell.sqlite3"),
    )
