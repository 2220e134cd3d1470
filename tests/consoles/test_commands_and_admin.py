"""``manage.py console_tokens clean_expired`` and the read-only token admin per cell."""

import hashlib

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from cellsv2.context import target_cell
from consoles.models import ConsoleAuthToken, ConsoleSerialPort
from tests.consoles.helpers import authorize, count, make_instance
from tests.support import ALL_DATABASES, run_command

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES)


class TestCleanExpired:
    def test_removes_expired_rows_per_cell_and_reports_them(self, cells, frozen_clock):
        one, two = make_instance(cells, "cell1"), make_instance(cells, "cell2", host="compute2")
        for _ in range(2):
            authorize(cells, "cell1", one, expires=frozen_clock.now - 5)
        authorize(cells, "cell2", two, host="compute2", expires=frozen_clock.now - 5)
        authorize(cells, "cell1", one)  # still valid
        with target_cell("cell1"):
            ConsoleSerialPort.objects.create(host="compute1", port=10000, instance_uuid=one, assigned_until=1)
        result = run_command("console_tokens", "clean_expired")
        assert result.code == 0, result.err
        rows = {
            columns[0]: columns[1:]
            for columns in ([c.strip() for c in line.strip("|").split("|")] for line in result.out.splitlines())
            if len(columns) == 3 and "cell" in columns[0]
        }
        assert rows[cells["cell1"].identity] == ["2", "1"]
        assert rows[cells["cell2"].identity] == ["1", "0"]
        assert rows[cells["cell0"].identity] == ["0", "0"]
        assert "Removed 3 expired console token(s)." in result.out
        assert (count("cell1"), count("cell2")) == (1, 0)
        with target_cell("cell1"):
            assert not ConsoleSerialPort.objects.exists()

    def test_host_and_cell_filters(self, cells, frozen_clock):
        one = make_instance(cells, "cell1")
        authorize(cells, "cell1", one, host="compute1", expires=frozen_clock.now - 5)
        authorize(cells, "cell1", one, host="compute9", expires=frozen_clock.now - 5)
        result = run_command("console_tokens", "clean_expired", "--host", "compute9", "--cell", "cell1")
        assert result.code == 0 and "Removed 1 expired console token(s) of host compute9." in result.out
        assert count("cell1") == 1
        assert run_command("console_tokens", "clean_expired", "--cell", "nope").code == 1

    def test_with_the_cache_backend_there_is_nothing_to_clean(self, cells, settings):
        settings.CONSOLE_TOKENS_BACKEND = "cache"
        result = run_command("console_tokens", "clean_expired")
        assert result.code == 0 and "expires them by itself" in result.out


class TestAdmin:
    @pytest.fixture
    def operator(self, client):
        user = get_user_model().objects.create_superuser("operator", "op@example.com", "secret")
        client.force_login(user)
        return client

    def test_tokens_are_listed_per_cell_with_a_hash_prefix_only(self, operator, cells):
        uuid = make_instance(cells, "cell2", host="compute2")
        console = authorize(cells, "cell2", uuid, host="compute2")
        digest = hashlib.sha256(console.token.encode()).hexdigest()
        url = reverse("celladmin:consoles_consoleauthtoken_changelist")
        page = operator.get(url, {"cell": "cell2"}, follow=True).content.decode()
        assert uuid in page and digest[:8] in page and "compute2" in page
        assert digest not in page and console.token not in page
        with target_cell("cell2"):
            row = ConsoleAuthToken.objects.get()
        change = operator.get(reverse("celladmin:consoles_consoleauthtoken_change", args=[row.pk]))
        assert change.status_code == 200
        assert digest not in change.content.decode() and console.token not in change.content.decode()
        assert operator.get(reverse("celladmin:consoles_consoleauthtoken_add")).status_code == 403
        response = operator.post(reverse("celladmin:consoles_consoleauthtoken_delete", args=[row.pk]), {"post": "yes"})
        assert response.status_code == 403
        assert count("cell2") == 1
