"""The layering rules of docs/architecture.md, checked on the source (ast and tokens, nothing imported).

- ``cellsv2`` (the framework) imports no app; ``mappings`` imports only ``cellsv2``; nothing
  imports ``operators``: a lower floor learns about a higher one through ``AppConfig.ready()``.
- A function-level import of first-party code says why (a comment on the line before or at the
  end of the line); imports in ``AppConfig.ready()`` are what it is for.
- ``connections[...]`` only in ``cellsv2/db/``, ``cellsv2/cells.py`` and ``cellsv2/router.py``;
  the API alias is defined once (``cellsv2.db.API_ALIAS``).
- A test module imports no other test module and no conftest: shared helpers live in
  ``tests/support.py``, ``tests/factories.py``, ``tests/fixtures/`` or an area's ``helpers.py``.

benchmarks/ is a harness that configures Django itself and measures the database the product
uses; it is not a floor of the product and is not checked here.
"""

import ast
import io
import re
import tokenize
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

FRAMEWORK = "cellsv2"
DOMAIN = ("flavors", "identity", "keypairs", "servergroups", "servers", "consoles")
APPS = (FRAMEWORK, "mappings", *DOMAIN, "operators")
# Where a module may open a connection by alias: the raw SQL module, the cells registry (which
# adds and drops the aliases of cells registered at run time) and the router.
CONNECTIONS_ALLOWED = ("cellsv2/db/", "cellsv2/cells.py", "cellsv2/router.py")
API_ALIAS_HOME = "cellsv2/db/__init__.py"

# Known violations: test modules of servers/ and consoles/ that still import helpers from
# conftest modules or other test modules (their helpers now live in tests/support.py,
# tests/factories.py and tests/fixtures/compute.py). Each entry is (rule, path, what).
# test_each_known_violation_still_happens fails for an entry that no longer happens, so the list
# only shrinks: delete entries as they are fixed, and this block once it is empty.
KNOWN_VIOLATIONS: set[tuple[str, str, str]] = {
    # test import
    ("test import", "tests/consoles/test_api.py", "tests.conftest"),
    ("test import", "tests/consoles/test_api.py", "tests.servers.conftest"),
    ("test import", "tests/consoles/test_commands_and_admin.py", "tests.conftest"),
    ("test import", "tests/consoles/test_commands_and_admin.py", "tests.consoles.conftest"),
    ("test import", "tests/consoles/test_commands_on_a_terminal.py", "tests.conftest"),
    ("test import", "tests/consoles/test_commands_on_a_terminal.py", "tests.consoles.conftest"),
    ("test import", "tests/consoles/test_commands_on_a_terminal.py", "tests.consoles.test_commands_and_admin"),
    ("test import", "tests/consoles/test_proxy.py", "tests.conftest"),
    ("test import", "tests/consoles/test_proxy.py", "tests.consoles.conftest"),
    ("test import", "tests/consoles/test_services.py", "tests.conftest"),
    ("test import", "tests/consoles/test_services.py", "tests.consoles.conftest"),
    ("test import", "tests/consoles/test_token_queries.py", "tests.conftest"),
    ("test import", "tests/consoles/test_token_queries.py", "tests.consoles.conftest"),
    ("test import", "tests/consoles/test_token_queries.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_block_devices.py", "tests.conftest"),
    ("test import", "tests/servers/test_block_devices.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_build_request_admin.py", "tests.conftest"),
    ("test import", "tests/servers/test_build_request_admin.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_commands_on_a_terminal.py", "tests.conftest"),
    ("test import", "tests/servers/test_commands_on_a_terminal.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_compute_nodes_command.py", "tests.conftest"),
    ("test import", "tests/servers/test_conductor_command.py", "tests.conftest"),
    ("test import", "tests/servers/test_conductor_command.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_destinations.py", "tests.conftest"),
    ("test import", "tests/servers/test_destinations.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_down_cells.py", "tests.conftest"),
    ("test import", "tests/servers/test_down_cells.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_group_placement_races.py", "tests.conftest"),
    ("test import", "tests/servers/test_group_placement_races.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_listing.py", "tests.conftest"),
    ("test import", "tests/servers/test_listing.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_listing_collation.py", "tests.conftest"),
    ("test import", "tests/servers/test_listing_collation.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_listing_collation.py", "tests.servers.test_listing"),
    ("test import", "tests/servers/test_mapping_cache.py", "tests.conftest"),
    ("test import", "tests/servers/test_mapping_cache.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_metadata.py", "tests.conftest"),
    ("test import", "tests/servers/test_metadata.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_placement.py", "tests.conftest"),
    ("test import", "tests/servers/test_placement.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_races.py", "tests.conftest"),
    ("test import", "tests/servers/test_races.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_raw_reads.py", "tests.conftest"),
    ("test import", "tests/servers/test_raw_reads.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_servers_bad_input.py", "tests.conftest"),
    ("test import", "tests/servers/test_servers_bad_input.py", "tests.servers.conftest"),
    ("test import", "tests/servers/test_servers_lifecycle.py", "tests.conftest"),
    ("test import", "tests/servers/test_servers_lifecycle.py", "tests.servers.conftest"),
}


@dataclass(frozen=True)
class Import:
    path: str  # relative to the repository, e.g. "servers/conductor.py"
    line: int
    target: str  # the imported module, absolute ("servers.models", "tests.conftest")
    names: tuple[str, ...]  # for "from X import a, b": a, b
    function: str | None  # the enclosing function, None at module level
    in_class: str | None  # the enclosing class of that function
    explained: bool  # (function-level imports) a comment on the line before, or on the import's lines


class Source:
    """The Python files of a checkout, parsed once."""

    def __init__(self, root: Path):
        self.root = root
        self._imports: dict[Path, tuple[Import, ...]] = {}
        self._tokens: dict[Path, list[tokenize.TokenInfo]] = {}
        self._trees: dict[Path, ast.Module] = {}

    def tree(self, path: Path) -> ast.Module:
        if path not in self._trees:
            self._trees[path] = ast.parse(path.read_text())
        return self._trees[path]

    def files(self, *tops: str) -> list[Path]:
        return sorted(p for top in tops for p in (self.root / top).rglob("*.py") if ".venv" not in p.parts)

    def rel(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def module_name(self, path: Path) -> str:
        parts = list(path.relative_to(self.root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        return ".".join(parts)

    def tokens(self, path: Path) -> list[tokenize.TokenInfo]:
        if path not in self._tokens:
            self._tokens[path] = list(tokenize.generate_tokens(io.StringIO(path.read_text()).readline))
        return self._tokens[path]

    def imports(self, path: Path) -> tuple[Import, ...]:
        if path not in self._imports:
            self._imports[path] = tuple(self._read_imports(path))
        return self._imports[path]

    def _read_imports(self, path: Path):
        tree = self.tree(path)
        name = self.module_name(path)
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        where = self.rel(path)
        checked = app_of(where) in APPS  # whether function-level imports must say why

        @cache
        def comments() -> frozenset[int]:
            # Tokenizing is the slow part: only for app files with a function-level import.
            return frozenset(t.start[0] for t in self.tokens(path) if t.type == tokenize.COMMENT)

        # (node, enclosing function, that function's class, enclosing class)
        stack = [(tree, None, None, None)]
        while stack:
            node, function, in_class, klass = stack.pop()
            for child in ast.iter_child_nodes(node):
                if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                    stack.append((child, child.name, klass, None))
                elif isinstance(child, ast.ClassDef):
                    stack.append((child, function, in_class, child.name))
                elif isinstance(child, ast.Import | ast.ImportFrom):
                    if isinstance(child, ast.Import):
                        targets = [(alias.name, ()) for alias in child.names]
                    else:
                        base = child.module or ""
                        if child.level:
                            anchor = package.split(".")
                            anchor = anchor[: len(anchor) - (child.level - 1)]
                            base = ".".join([*anchor, base] if base else anchor)
                        targets = [(base, tuple(alias.name for alias in child.names))]
                    lines = range(child.lineno - 1, child.end_lineno + 1)
                    explained = checked and function is not None and any(line in comments() for line in lines)
                    for target, names in targets:
                        yield Import(where, child.lineno, target, names, function, in_class, explained)
                elif isinstance(child, ast.stmt | ast.ExceptHandler | ast.match_case):
                    # Imports are statements: expressions cannot hold one.
                    stack.append((child, function, in_class, klass))

    def app_imports(self):
        for path in self.files(*APPS):
            yield from self.imports(path)


def top(module: str) -> str:
    return module.partition(".")[0]


def app_of(path: str) -> str:
    return path.partition("/")[0]


# --- the rules: each returns its violations as (rule, path, what) -----------------------------


def framework_imports_an_app(src: Source) -> set:
    return {
        ("framework", i.path, i.target)
        for i in src.app_imports()
        if app_of(i.path) == FRAMEWORK and top(i.target) in APPS and top(i.target) != FRAMEWORK
    }


def mappings_imports_above_the_framework(src: Source) -> set:
    return {
        ("mappings", i.path, i.target)
        for i in src.app_imports()
        if app_of(i.path) == "mappings" and top(i.target) in APPS and top(i.target) not in ("mappings", FRAMEWORK)
    }


def something_imports_operators(src: Source) -> set:
    return {
        ("operators", i.path, i.target)
        for i in src.app_imports()
        if app_of(i.path) != "operators" and top(i.target) == "operators"
    }


def unexplained_function_level_imports(src: Source) -> set:
    return {
        ("function import", i.path, i.target)
        for i in src.app_imports()
        if i.function is not None
        and top(i.target) in APPS
        and not i.explained
        # AppConfig.ready() is where an app registers itself with the floors below.
        and not (i.function == "ready" and i.in_class is not None and i.path.endswith("apps.py"))
    }


def connections_opened_outside_the_data_layer(src: Source) -> set:
    found = set()
    for path in src.files(*APPS):
        if src.rel(path).startswith(CONNECTIONS_ALLOWED):
            continue
        for node in ast.walk(src.tree(path)):
            if isinstance(node, ast.Subscript):
                opened = node.value
                name = opened.id if isinstance(opened, ast.Name) else getattr(opened, "attr", None)
                if name == "connections":
                    found.add(("connections", src.rel(path), "connections["))
    return found


def api_alias_definitions(src: Source) -> set:
    """Module-level names bound to the literal "api" whose name says it is the API alias."""
    found = set()
    for path in src.files(*APPS):
        for node in src.tree(path).body:
            if not (isinstance(node, ast.Assign | ast.AnnAssign) and isinstance(node.value, ast.Constant)):
                continue
            for target in node.targets if isinstance(node, ast.Assign) else [node.target]:
                if (
                    isinstance(target, ast.Name)
                    and node.value.value == "api"
                    and re.fullmatch(r"API(_\w+)?", target.id)
                ):
                    found.add(("api alias", src.rel(path), target.id))
    return found


def api_alias_defined_again(src: Source) -> set:
    return api_alias_definitions(src) - {("api alias", API_ALIAS_HOME, "API_ALIAS")}


FROM_TESTS = re.compile(r"^[ \t]*from[ \t]+(tests(?:\.\w+)*)[ \t]+import[ \t]+(\([^)]*\)|[^\n]*)", re.M)
IMPORT_TESTS = re.compile(r"^[ \t]*import[ \t]+(tests(?:\.\w+)*)", re.M)


def test_module_imports_a_test_module(src: Source) -> set:
    # Read with regular expressions, not parsed: the tests are half the code and only their
    # imports of tests.* matter here.
    found = set()
    for path in src.files("tests"):
        text = path.read_text()
        modules = [m.group(1) for m in IMPORT_TESTS.finditer(text)]
        for m in FROM_TESTS.finditer(text):
            listed = re.sub(r"#[^\n]*", "", m.group(2)).strip("() \n")
            names = [part.split(" as ")[0].strip() for part in listed.split(",") if part.strip()]
            modules += [m.group(1), *(f"{m.group(1)}.{name}" for name in names)]
        for module in modules:
            last = module.rpartition(".")[2]
            if last.startswith("test_") or last == "conftest":
                found.add(("test import", src.rel(path), module))
    return found


# Not collected by pytest (a test_ name that takes an argument pytest cannot give is an error).
test_module_imports_a_test_module.__test__ = False

RULES = {
    "framework": framework_imports_an_app,
    "mappings": mappings_imports_above_the_framework,
    "operators": something_imports_operators,
    "function import": unexplained_function_level_imports,
    "connections": connections_opened_outside_the_data_layer,
    "api alias": api_alias_defined_again,
    "test import": test_module_imports_a_test_module,
}


@pytest.fixture(scope="module")
def source() -> Source:
    return Source(ROOT)


@pytest.fixture(scope="module")
def checkout(source) -> dict[str, set]:
    return {rule: check(source) for rule, check in RULES.items()}


@pytest.mark.parametrize("rule", RULES)
def test_no_violations_but_the_known_ones(checkout, rule):
    new = sorted(checkout[rule] - KNOWN_VIOLATIONS)
    assert new == [], f"{rule}: {new}"


@pytest.mark.parametrize("rule", RULES)
def test_each_known_violation_still_happens(checkout, rule):
    """A violation that is fixed leaves the allow-list, so that it cannot come back unnoticed."""
    fixed = sorted(v for v in KNOWN_VIOLATIONS if v[0] == rule and v not in checkout[rule])
    assert fixed == [], f"fixed: remove from KNOWN_VIOLATIONS: {fixed}"


def test_the_api_alias_is_defined_in_cellsv2_db(source):
    assert ("api alias", API_ALIAS_HOME, "API_ALIAS") in api_alias_definitions(source)


# --- the checker finds what it is for ----------------------------------------------------------


def test_every_rule_catches_its_violation(tmp_path):
    files = {
        "cellsv2/admin.py": "from servers.models import Instance\n",
        "mappings/services.py": "import keypairs.models\n",
        "keypairs/views.py": "from operators import services\n",
        "servers/services.py": (
            "def f():\n"
            "    from keypairs.models import KeyPair\n"
            "    # a reason\n"
            "    from flavors.models import Flavor\n"
            "    from consoles import models  # a reason\n"
        ),
        "servers/apps.py": "class C:\n    def ready(self):\n        from servers import signals\n",
        "consoles/backends.py": "connections['api']  # connections[ in a comment is not counted\n",
        "identity/services.py": 'API = "api"\n',
        "tests/keypairs/test_api.py": (
            "from tests.keypairs.test_services import f\n"
            "from tests.keypairs import (\n    helpers,\n    test_crypto as c,\n)\n"
        ),
        "tests/operators/conftest.py": "from tests.servers.conftest import api\n",
    }
    for name, text in files.items():
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_text(text)
    src = Source(tmp_path)
    assert {rule: check(src) for rule, check in RULES.items()} == {
        "framework": {("framework", "cellsv2/admin.py", "servers.models")},
        "mappings": {("mappings", "mappings/services.py", "keypairs.models")},
        "operators": {("operators", "keypairs/views.py", "operators")},
        "function import": {("function import", "servers/services.py", "keypairs.models")},
        "connections": {("connections", "consoles/backends.py", "connections[")},
        "api alias": {("api alias", "identity/services.py", "API")},
        "test import": {
            ("test import", "tests/keypairs/test_api.py", "tests.keypairs.test_services"),
            ("test import", "tests/keypairs/test_api.py", "tests.keypairs.test_crypto"),
            ("test import", "tests/operators/conftest.py", "tests.servers.conftest"),
        },
    }
