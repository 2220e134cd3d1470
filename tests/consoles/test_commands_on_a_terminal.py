"""``console_tokens clean_expired`` and ``consoleproxy`` as operators run them, on a pseudo-terminal."""

import re

import pytest

from consoles import clock
from tests.consoles.helpers import authorize, count, make_instance
from tests.support import ALL_DATABASES

pytestmark = pytest.mark.django_db(databases=ALL_DATABASES, transaction=True)


def test_clean_expired_prints_its_table_and_what_it_removed(manage_py, cells):
    instance = make_instance(cells, "cell1")
    authorize(cells, "cell1", instance, expires=clock.utcnow_ts() - 5)
    authorize(cells, "cell1", instance)  # still valid

    result = manage_py.terminal("console_tokens", "clean_expired")

    assert result.code == 0, result.raw
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in result.lines if line.startswith("|")]
    assert rows[0] == ["Cell", "Expired tokens removed", "Serial port assignments freed"]
    assert sorted(rows[1:]) == sorted(
        [[cell.identity, "1" if name == "cell1" else "0", "0"] for name, cell in cells.items()]
    )
    assert result.lines[-1] == "Removed 1 expired console token(s)."
    assert count("cell1") == 1


def test_the_console_proxy_says_where_it_listens_and_stops_on_ctrl_c(manage_py):
    result = manage_py.terminal(
        "consoleproxy", "--flavour", "serial", "--listen", "127.0.0.1:0", interrupt_when="listening on"
    )

    assert result.code == 0, result.raw
    assert re.fullmatch(r"Console proxy \(serial\) listening on 127\.0\.0\.1:\d+", result.lines[0]), result.raw
