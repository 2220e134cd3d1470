"""Fixtures of the admin tests: a seeded three-cell deployment and a logged-in operator."""

import pytest

from tests.admin.helpers import Deployment, make_superuser, seed_deployment


@pytest.fixture
def deployment(cells) -> Deployment:
    return seed_deployment(cells)


@pytest.fixture
def operator(client):
    """A client logged in as a superuser."""
    client.force_login(make_superuser())
    return client
